"""What the data layer costs: installing a local copy (`data fetch --from`) and loading it, with and without digests cached.

Each trial starts from an empty data home and digest cache in a temporary XDG_CACHE_HOME, so nothing of the
user's is touched. Reports the median of --trials for: install (find + verify + copy + verify again), a cold
load (every file hashed) and a warm load (digests reused; the files are still read, decompressed and parsed).

    python bench/data_load.py --from ../shared/data/mnist [--dataset mnist] [--trials 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="from_dir", required=True, help="folder holding the dataset's files")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"install": [], "cold load": [], "warm load": []}
    with tempfile.TemporaryDirectory() as home:
        os.environ["XDG_CACHE_HOME"] = home
        os.environ.pop("DIGITLAB_DATA", None)
        from digitlab.data.install import install
        from digitlab.data.sources import load_dataset
        from digitlab.data.verify import DigestCache

        for trial in range(args.trials):
            root = os.path.join(home, f"t{trial}")
            os.environ["XDG_CACHE_HOME"] = root  # a fresh data home and digest cache per trial
            t0 = time.perf_counter()
            install(args.dataset, args.from_dir)
            t1 = time.perf_counter()
            DigestCache.load().file.unlink(missing_ok=True)  # drop the install's digests: the cold load hashes all
            ds = load_dataset(args.dataset, strict=True)
            t2 = time.perf_counter()
            warm = load_dataset(args.dataset, strict=True)
            t3 = time.perf_counter()
            assert ds.verified and warm.verified and ds.source == "cache"
            times["install"].append(t1 - t0)
            times["cold load"].append(t2 - t1)
            times["warm load"].append(t3 - t2)
    result = {k: {"median_s": round(statistics.median(v), 3), "min_s": round(min(v), 3), "max_s": round(max(v), 3)}
              for k, v in times.items()}
    if args.json:
        print(json.dumps({"dataset": args.dataset, "trials": args.trials, **result}, indent=2))
        return
    for k, v in result.items():
        print(f"{k:10s} median {v['median_s']:.3f} s (min {v['min_s']:.3f}, max {v['max_s']:.3f})")


if __name__ == "__main__":
    main()
