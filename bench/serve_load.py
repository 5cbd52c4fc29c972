"""Load test of `digitlab serve` on loopback: N predictions from C concurrent clients, bounded in count and time.

    python bench/serve_load.py RUN_DIR [--requests 2000] [--clients 50] [--max-seconds 300] [--modes no-batch,batch]
                                       [--rounds 1] [--serve-arg=--workers=2 ...] [--json]

For each mode (`serve --no-batch`: one forward pass per request; `serve --batch`: concurrent requests share one),
in the same run and in turn (`--rounds 2` alternates them twice), starts the server on a free 127.0.0.1 port, warms
it up, posts MNIST test digits (as PNG) to /api/predict over keep-alive connections, and reports errors (must be 0),
throughput and latency percentiles, and the batched/unbatched ratios. The clients run on the same machine.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from PIL import Image

from digitlab.data.sources import load_dataset


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(png: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def start_server(run: Path, port: int, mode: str, extra: list[str]) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", str(run), "--port", str(port),
                               "--runs", str(run.parent), f"--{mode}", *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit(f"server ({mode}) did not start") from None
            time.sleep(0.2)


def load(port: int, run: Path, bodies: list, requests: int, clients: int, max_seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    stop_at = time.time() + max_seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.time() < stop_at:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body, kind = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/api/predict?run={run.name}", body=body, headers={"Content-Type": kind})
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200 and b'"prediction"' in payload
            except (OSError, http.client.HTTPException) as exc:
                ok, payload = False, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if not ok:
                    errors.append(payload[:200].decode(errors="replace"))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {"requests": len(latencies), "clients": clients, "errors": len(errors), "seconds": round(wall, 2),
            "throughput_rps": round(len(latencies) / wall, 1), "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "first_errors": errors[:3]}


def run_mode(run: Path, mode: str, bodies: list, args: argparse.Namespace) -> dict:
    port = free_port()
    server = start_server(run, port, mode, args.serve_arg)
    try:
        load(port, run, bodies, min(200, args.requests), args.clients, 60)  # warm-up: model loaded, threads made
        result = load(port, run, bodies, args.requests, args.clients, args.max_seconds)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.loads(response.read())
        result["batches"] = health.get("batches", {}).get(run.name)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"mode": mode, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--modes", default="no-batch,batch", help="comma-separated: no-batch, batch")
    parser.add_argument("--rounds", type=int, default=1, help="run the modes in turn this many times")
    parser.add_argument("--serve-arg", action="append", default=[], help="passed to `digitlab serve` (repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    run = Path(args.run).resolve()
    ds = load_dataset("mnist-sample")
    bodies = []
    for img in ds.test_images[::50][:100]:  # every class (the sample's test split is sorted by class)
        buf = io.BytesIO()
        Image.fromarray(img).resize((140, 140)).save(buf, format="PNG")
        bodies.append(multipart(buf.getvalue()))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = [run_mode(run, mode, bodies, args) for _ in range(args.rounds) for mode in modes]
    summary = {"model": json.loads((run / "summary.json").read_text()).get("model"), "serve_args": args.serve_arg,
               "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
               "results": results}
    by_mode = {m: [r for r in results if r["mode"] == m] for m in modes}
    if by_mode.get("batch") and by_mode.get("no-batch"):
        def mean(mode: str, key: str) -> float:
            return statistics.mean(r[key] for r in by_mode[mode])
        summary["throughput_ratio"] = round(mean("batch", "throughput_rps") / mean("no-batch", "throughput_rps"), 2)
        summary["p99_ratio"] = round(mean("batch", "p99_ms") / mean("no-batch", "p99_ms"), 2)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    for r in results:
        largest = f", largest batch {r['batches']['largest']}" if r.get("batches") else ""
        print(f"{r['mode']:>8}: {r['requests']} requests, {r['clients']} clients: {r['errors']} errors, "
              f"{r['throughput_rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms{largest}")
    if "throughput_ratio" in summary:
        print(f"batch / no-batch: {summary['throughput_ratio']}x requests/s, p99 x{summary['p99_ratio']}")


if __name__ == "__main__":
    main()
