"""Load test of `digitlab serve` on loopback: N predictions from C concurrent clients, bounded in count and time.

    python bench/serve_load.py RUN_DIR [--requests 2000] [--clients 50] [--max-seconds 300] [--json]

Starts the server itself on a free 127.0.0.1 port, posts MNIST test digits (as PNG) to /api/predict over
keep-alive connections, and reports errors (must be 0), throughput and latency percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    run = Path(args.run).resolve()
    ds = load_dataset("mnist-sample")
    bodies = []
    for img in ds.test_images[:100]:
        buf = io.BytesIO()
        Image.fromarray(img).resize((140, 140)).save(buf, format="PNG")
        bodies.append(multipart(buf.getvalue()))

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", str(run), "--port", str(port),
                               "--runs", str(run.parent)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("server did not start") from None
                time.sleep(0.2)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.requests))
        stop_at = time.time() + args.max_seconds

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while time.time() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
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

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=10)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    result = {
        "requests": len(latencies), "clients": args.clients, "errors": len(errors), "seconds": round(wall, 2),
        "throughput_rps": round(len(latencies) / wall, 1), "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1), "model": json.loads((run / "summary.json").read_text()).get("model"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
        "first_errors": errors[:3],
    }
    print(json.dumps(result, indent=2) if args.json else
          f"{result['requests']} requests, {result['clients']} clients: {result['errors']} errors, "
          f"{result['throughput_rps']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")


if __name__ == "__main__":
    main()
