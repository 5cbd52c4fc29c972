"""What keeps one client (or one web page) from hurting the server: Host check, bounded worker pool, safe names.

- HostCheck: an ASGI middleware that answers 403 to any Host header the server was not started for, so a web
  page on another site cannot reach this API through DNS rebinding (Jupyter's defence). Loopback names are always
  allowed; `serve --host X` adds X; `--allow-host NAME` adds more; `*` (or binding a wildcard address, as Jupyter
  does) allows any.
- WorkerPool: every piece of CPU work a request causes (decoding, preprocessing, an unbatched forward pass) runs
  in a few threads, never on the event loop, with a per-request time limit and a bound on the queue, so /healthz
  and other clients stay answered while someone uploads 40-megapixel images.
- run_name: the one check of a run name taken from a URL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException

from digitlab.paths import NAME_MAX, folder_name_problem  # noqa: F401  (NAME_MAX: this module's API too)

T = TypeVar("T")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


def shown(text: str, limit: int = 60) -> str:
    """User text quoted for a one-line message: repr (no newlines, no control characters), cut to `limit`."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return repr(cut)


def run_name(name: str) -> str:
    """A run name from a URL: one plain folder name (no separators, no '..', not hidden, not over-long)."""
    problem = folder_name_problem(name)
    if problem is None and (".." in name or name.startswith(".")):  # from a URL: nothing hidden, no '..' at all
        problem = "no path separators or '..'"
    if problem is not None:
        raise HTTPException(status_code=400, detail=f"bad run name {shown(name)}: {problem}")
    return name


_ABSOLUTE = re.compile(r"""(?<![\w.~])(?:/|[A-Za-z]:\\)(?:[^\s/\\:'"]+[/\\])*([^\s/\\:'"]*)""")


def scrub_paths(text: str, root: Path) -> str:
    """Text for a client: paths under the runs folder become run-relative, any other absolute path its last part."""
    for prefix in {str(root.resolve()), str(root.absolute())}:
        text = text.replace(prefix + os.sep, "")
    return _ABSOLUTE.sub(lambda m: m.group(1) or "<path>", text)


# ------------------------------------------------------------------------------------------------ Host check
def host_name(header: str) -> str:
    """'Example.COM:8000' -> 'example.com'; '[::1]:8000' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host names to accept for a server bound to `bind`; None means any (wildcard bind or '*')."""
    extra = [host_name(h) for h in extra]
    if bind.strip("[]") in WILDCARD_BINDS or "*" in extra:
        return None
    return LOOPBACK_HOSTS | {host_name(bind)} | set(extra)


class HostCheck:
    """ASGI middleware: 403 (one line) for a request whose Host header is not one the server was started for."""

    def __init__(self, app: Any, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket") and self.hosts is not None:
            raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(raw) not in self.hosts:
                name = shown(raw) if raw else "(none)"
                detail = (f"Host {name} is not allowed (DNS rebinding guard): start the server with "
                          f"--allow-host {host_name(raw) or 'NAME'} to serve under that name")
                body = json.dumps({"detail": detail}).encode()
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------------ worker pool
async def wait_job(future: concurrent.futures.Future, timeout_s: float,
                   on_unstarted: Callable[[], None] = lambda: None) -> Any:
    """Await a job running in another thread, within a time limit.

    Over the limit: a job that has not started is cancelled (503, busy); one that is running is left to finish in
    its thread, since Python cannot stop it, and the request gets a 504 at once. A client that goes away cancels
    its job too, when it has not started.
    """
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), max(0.0, timeout_s))
    except asyncio.TimeoutError:
        if future.cancel():
            on_unstarted()
            raise HTTPException(status_code=503, detail=f"server busy: the request waited over {timeout_s:.3g} s; "
                                                        "try again") from None
        raise HTTPException(status_code=504, detail=f"the request took over {timeout_s:.3g} s "
                                                    "(a very large image?); try a smaller one") from None
    except asyncio.CancelledError:
        if future.cancel():
            on_unstarted()
        raise


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class WorkerPool:
    """A few threads for CPU work, a time limit per job, and a bound on how many jobs may wait.

    A job that times out while still queued is dropped (503, busy); one that is already running finishes in its
    thread (Python cannot stop it) but the request gets its 504 at once. The threads are the bound: at most
    `workers` jobs ever run at the same time, whatever clients do.
    """

    def __init__(self, workers: int | None = None, timeout_s: float = 15.0, max_waiting: int = 256) -> None:
        self.workers = workers or default_workers()
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self.executor = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="digitlab-serve")
        self.lock = threading.Lock()
        self.running = 0  # jobs in a thread now
        self.waiting = 0  # jobs submitted and not yet started

    def _wrap(self, fn: Callable[..., T], args: tuple) -> Callable[[], T]:
        def job() -> T:
            with self.lock:
                self.waiting -= 1
                self.running += 1
            try:
                return fn(*args)
            finally:
                with self.lock:
                    self.running -= 1
        return job

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """fn(*args) in a worker thread; 503 when too many wait or it never started in time, 504 when it ran over."""
        with self.lock:
            if self.waiting >= self.max_waiting:
                raise HTTPException(status_code=503, detail="server busy: too many requests waiting; try again shortly")
            self.waiting += 1
        future = self.executor.submit(self._wrap(fn, args))

        def unqueued() -> None:  # a job cancelled before it started never ran its own bookkeeping
            with self.lock:
                self.waiting -= 1

        return await wait_job(future, self.timeout_s if timeout_s is None else timeout_s, unqueued)

    def stats(self) -> dict:
        with self.lock:
            return {"workers": self.workers, "running": self.running, "waiting": self.waiting}

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.executor.shutdown(wait=False, cancel_futures=True)
