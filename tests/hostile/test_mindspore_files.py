"""Hostile class 5: crafted MindSpore checkpoints given to `import-mindspore`. Random bytes, a valid start then junk,
a tensor whose declared shape does not match its bytes, declared lengths and shapes of gigabytes (no huge allocation),
an unknown tensor type, and a real checkpoint whose tensor data holds NaN (64 bytes overwritten by 0xff) or inf:
each is one `error:` line naming the file, and no run folder is made."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from digitlab.errors import CheckpointError
from digitlab.interop.mindspore import read_ckpt, write_ckpt
from digitlab.models import get_model
from tests.hostile.conftest import assert_ok, assert_one_line_error, invoke


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def one_tensor(dims: list[int], content: bytes, dtype: str = "Float32", tag: str = "fc1.weight") -> bytes:
    tensor = b"".join(varint(1 << 3) + varint(d) for d in dims) + field(2, dtype.encode()) + field(3, content)
    return field(1, field(1, tag.encode()) + field(2, tensor))


def real_ckpt(tmp_path, damage=None) -> bytes:
    """A MindSpore checkpoint of a LeNet-5, as mindspore.save_checkpoint lays it out; `damage(params)` edits it."""
    params = {f"network.{k}": v.numpy().copy() for k, v in get_model("lenet5").state_dict().items()}
    if damage:
        damage(params)
    return write_ckpt(tmp_path / "real.ckpt", params).read_bytes()


def giga_length() -> bytes:
    """A Value whose declared length is 4 GB, with a few bytes after it."""
    return varint(1 << 3 | 2) + varint(4 << 30) + b"\x0a\x03abc"


def _crafted(tmp_path) -> dict[str, bytes]:
    rng = np.random.default_rng(27)
    good = real_ckpt(tmp_path)
    return {
        "empty": b"",
        "random-bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "valid-start-then-junk": good[:300] + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes(),
        "truncated-in-a-tensor": good[: len(good) // 2],
        "shape-larger-than-bytes": one_tensor([120, 400], b"\x00" * 64),
        "shape-smaller-than-bytes": one_tensor([2], b"\x00" * 64),
        "declared-length-4GB": giga_length(),
        "dims-of-gigabytes": one_tensor([1 << 40, 1 << 40], b"\x00" * 16),
        "dims-overflowing-int64": one_tensor([1 << 32, 1 << 32, 1 << 32], b""),
        "unknown-dtype": one_tensor([4], b"\x00" * 16, dtype="Complex512"),
        "tag-not-utf8": field(1, field(1, b"\xff\xfe") + field(2, b"\x08\x01")),
        "wire-type-7": b"\x0f" + b"\x00" * 10,
        "varint-never-ends": b"\x0a" + b"\xff" * 20,
        "text-file": b"this is not a checkpoint\n" * 20,
    }


CASES = [  # the keys of _crafted (built per test: it needs tmp_path)
    "empty", "random-bytes", "valid-start-then-junk", "truncated-in-a-tensor", "shape-larger-than-bytes",
    "shape-smaller-than-bytes", "declared-length-4GB", "dims-of-gigabytes", "dims-overflowing-int64", "unknown-dtype",
    "tag-not-utf8", "wire-type-7", "varint-never-ends", "text-file"]


@pytest.mark.parametrize("case", CASES)
def test_crafted_checkpoint_is_one_line_and_makes_no_run(tmp_path, case):
    ckpt = tmp_path / f"{case}.ckpt"
    ckpt.write_bytes(_crafted(tmp_path)[case])
    out = tmp_path / "imported"
    assert_one_line_error(invoke("import-mindspore", ckpt, "--out", out), ckpt.name)
    assert not out.exists()


@pytest.mark.parametrize("case", ["declared-length-4GB", "dims-of-gigabytes"])
def test_gigabyte_declarations_allocate_nothing_big(tmp_path, case):
    ckpt = tmp_path / "big.ckpt"
    ckpt.write_bytes(_crafted(tmp_path)[case])
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError):
            read_ckpt(ckpt)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MB while reading a {ckpt.stat().st_size}-byte file"


def _overwrite_with_ff(tmp_path) -> bytes:
    """The issue's case: a real checkpoint with 64 bytes of one tensor's data overwritten by 0xff (NaN in float32)."""
    kept = {}
    data = bytearray(real_ckpt(tmp_path, kept.update))
    at = bytes(data).find(kept["network.fc1.weight"].tobytes()[:256])
    assert at > 0
    data[at + 1024 : at + 1088] = b"\xff" * 64
    return bytes(data)


def _with_inf(tmp_path) -> bytes:
    def damage(params):
        params["network.conv1.weight"].flat[3] = np.inf
        params["network.fc3.bias"][0] = -np.inf

    return real_ckpt(tmp_path, damage)


@pytest.mark.parametrize("case,words", [("ff-bytes", "NaN"), ("inf", "infinite")])
def test_non_finite_weights_are_refused_at_import(tmp_path, case, words):
    ckpt = tmp_path / "damaged.ckpt"
    ckpt.write_bytes(_overwrite_with_ff(tmp_path) if case == "ff-bytes" else _with_inf(tmp_path))
    out = tmp_path / "imported"
    line = assert_one_line_error(invoke("import-mindspore", ckpt, "--out", out), "damaged.ckpt", words, "nothing imported")
    assert "fc1.weight" in line or "conv1.weight" in line
    assert not out.exists()


def test_the_undamaged_checkpoint_imports(tmp_path):
    """The control: the same checkpoint before damage is a run that eval would accept."""
    ckpt = tmp_path / "good.ckpt"
    ckpt.write_bytes(real_ckpt(tmp_path))
    assert_ok(invoke("import-mindspore", ckpt, "--out", tmp_path / "imported"))
    assert (tmp_path / "imported" / "checkpoints" / "best.safetensors").is_file()
