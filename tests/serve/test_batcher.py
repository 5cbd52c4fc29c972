import threading

import numpy as np
import pytest

from digitlab.serve.batcher import Batcher


class GatedForward:
    """A forward pass that holds its first batch until released, recording each batch's size."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.sizes: list[int] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.sizes.append(len(images))
        self.started.set()
        self.release.wait(10)
        return images.reshape(len(images), -1).astype(np.float32)[:, :3]  # each row comes from its own image


def image(k: int) -> np.ndarray:
    return np.full((28, 28), k, dtype=np.uint8)


def test_requests_that_arrive_during_a_forward_pass_share_the_next():
    forward = GatedForward()
    batcher = Batcher(forward, max_batch=64, max_wait_s=0.0)
    try:
        first = batcher.submit(image(0))
        assert forward.started.wait(10)
        later = [batcher.submit(image(k)) for k in range(1, 11)]
        forward.release.set()
        assert first.result(10).tolist() == [0, 0, 0]
        for k, future in enumerate(later, start=1):
            assert future.result(10).tolist() == [k, k, k]  # its own row, in its own future
        assert forward.sizes == [1, 10]
        assert batcher.stats() == {"batches": 2, "items": 11, "largest": 10}
    finally:
        forward.release.set()
        batcher.close()


def test_max_batch_is_respected():
    forward = GatedForward()
    batcher = Batcher(forward, max_batch=4, max_wait_s=0.0)
    try:
        first = batcher.submit(image(0))
        assert forward.started.wait(10)
        later = [batcher.submit(image(k)) for k in range(1, 10)]
        forward.release.set()
        assert [f.result(10)[0] for f in [first, *later]] == list(range(10))
        assert forward.sizes == [1, 4, 4, 1]
    finally:
        forward.release.set()
        batcher.close()


def test_cancelled_requests_are_left_out():
    forward = GatedForward()
    batcher = Batcher(forward, max_wait_s=0.0)
    try:
        batcher.submit(image(0))
        assert forward.started.wait(10)
        gone, kept = batcher.submit(image(1)), batcher.submit(image(2))
        assert gone.cancel()
        forward.release.set()
        assert kept.result(10)[0] == 2
        assert forward.sizes == [1, 1]
    finally:
        forward.release.set()
        batcher.close()


def test_a_failing_forward_fails_each_request_of_its_batch():
    def broken(images):
        raise RuntimeError("out of memory")

    batcher = Batcher(broken, max_wait_s=0.0)
    try:
        futures = [batcher.submit(image(k)) for k in range(3)]
        for future in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result(10)
        ok = Batcher(lambda x: np.zeros((len(x), 2)), max_wait_s=0.0)
        assert ok.submit(image(1)).result(10).tolist() == [0, 0]
        ok.close()
    finally:
        batcher.close()


def test_close_stops_the_thread():
    batcher = Batcher(lambda x: np.zeros((len(x), 2)), max_wait_s=0.0)
    batcher.close()
    batcher.thread.join(5)
    assert not batcher.thread.is_alive()
