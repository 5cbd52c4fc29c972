"""Batching: concurrent predictions for one model gathered into one forward pass.

One thread per served model takes prepared 28x28 images from a queue. When an image arrives on an idle model it
waits at most `max_wait_s` from that image's arrival (a few milliseconds) for others, or until `max_batch` are there;
while a forward pass runs, new images queue up and go together in the next one without waiting (their wait has
already passed). Each request holds a concurrent.futures.Future, so results go back to their own request whatever
event loop or thread it came from; a request that gave up before its batch started is left out of the batch.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

Item = tuple[float, np.ndarray, concurrent.futures.Future]


class Batcher:
    """forward: (N, 28, 28) uint8 -> (N, C) probabilities; submit(image) -> a Future of that image's (C,) row."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], max_batch: int = 64,
                 max_wait_s: float = 0.002, name: str = "model") -> None:
        self.forward = forward
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self.queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.batches = 0  # forward passes run
        self.items = 0  # images answered through them
        self.largest = 0  # the largest batch so far
        self.thread = threading.Thread(target=self._loop, name=f"digitlab-batch-{name}", daemon=True)
        self.thread.start()

    def submit(self, image28: np.ndarray) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.queue.put((time.monotonic(), image28, future))
        return future

    def close(self) -> None:
        self.queue.put(None)

    def stats(self) -> dict:
        with self.lock:
            return {"batches": self.batches, "items": self.items, "largest": self.largest}

    def _gather(self, first: Item) -> tuple[list[Item], bool]:
        """The batch that starts with `first`; True when close() was asked for meanwhile."""
        batch, deadline = [first], first[0] + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self.queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _loop(self) -> None:
        closing = False
        while not closing:
            first = self.queue.get()
            if first is None:
                return
            batch, closing = self._gather(first)
            live = [(image, future) for _, image, future in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                probs = self.forward(np.stack([image for image, _ in live]))
            except BaseException as exc:  # noqa: BLE001 - handed to every request of the batch, never lost
                for _, future in live:
                    future.set_exception(exc)
                continue
            for (_, future), row in zip(live, probs):
                future.set_result(row)
            with self.lock:
                self.batches += 1
                self.items += len(live)
                self.largest = max(self.largest, len(live))
