"""device.py: native-bf16 detection on the CPU and the precision a run trains in (with its reason)."""

from __future__ import annotations

import torch

from digitlab import device as dev
from digitlab.config import TrainConfig
from digitlab.recipes import load_recipe


def _fresh(monkeypatch, probes: dict[str, bool], flags: set[str], machine: str = "x86_64") -> str:
    """cpu_bf16_feature() with torch's probes and /proc/cpuinfo's flags replaced (the cache cleared around it)."""
    for attr in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        if attr in probes:
            monkeypatch.setattr(torch.cpu, attr, lambda v=probes[attr]: v, raising=False)
        else:
            monkeypatch.delattr(torch.cpu, attr, raising=False)
    monkeypatch.setattr(dev, "_cpuinfo_flags", lambda *a: set(flags))
    monkeypatch.setattr(dev.platform, "machine", lambda: machine)
    dev.cpu_bf16_feature.cache_clear()
    try:
        return dev.cpu_bf16_feature()
    finally:
        dev.cpu_bf16_feature.cache_clear()


def test_detection_trusts_torch_probes_first(monkeypatch):
    assert _fresh(monkeypatch, {"_is_avx512_bf16_supported": True, "_is_amx_tile_supported": False}, set()) \
        == "AVX512-BF16"
    assert _fresh(monkeypatch, {"_is_avx512_bf16_supported": True, "_is_amx_tile_supported": True}, set()) == "AMX-BF16"
    # on x86 a probe saying no is the answer, whatever the flags say
    assert _fresh(monkeypatch, {"_is_avx512_bf16_supported": False, "_is_amx_tile_supported": False},
                  {"avx512_bf16"}) == ""


def test_detection_falls_back_to_cpuinfo_flags(monkeypatch):
    assert _fresh(monkeypatch, {}, {"fpu", "avx512f", "avx512_bf16"}) == "AVX512-BF16"
    assert _fresh(monkeypatch, {}, {"fpu", "avx2"}) == ""
    # Arm: torch's x86 probes say no, the kernel's "bf16" feature says yes
    assert _fresh(monkeypatch, {"_is_avx512_bf16_supported": False}, {"asimd", "bf16"}, machine="aarch64") == "BF16"


def test_cpuinfo_flags_parses_x86_and_arm(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert dev._cpuinfo_flags(x86) == {"fpu", "avx512f", "avx512_bf16"}
    assert "bf16" in dev._cpuinfo_flags(arm)
    assert dev._cpuinfo_flags(tmp_path / "missing") == set()


def test_amp_off_is_float32_whatever_the_cpu():
    p = dev.precision_for(TrainConfig(amp=False), torch.device("cpu"))
    assert (p.dtype, p.bf16) == ("float32", False)
    assert p.as_dict() == {"precision": "float32", "precision_reason": "train.amp is off"}


def test_amp_on_uses_bf16_where_native(monkeypatch):
    monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: "AVX512-BF16")
    p = dev.precision_for(TrainConfig(amp=True), torch.device("cpu"))
    assert p.bf16 and p.dtype == "bfloat16"
    assert "AVX512-BF16" in p.reason


def test_cpu_without_native_bf16_trains_float32_and_says_why(monkeypatch):
    monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: "")
    assert dev.cpu_bf16_native() is False
    p = dev.precision_for(TrainConfig(amp=True), torch.device("cpu"))
    assert not p.bf16 and p.dtype == "float32"
    assert "no native bf16" in p.reason and "float32" in p.reason
    assert "\n" not in p.reason


def test_other_devices_stay_float32_with_a_reason():
    p = dev.precision_for(TrainConfig(amp=True), torch.device("mps"))
    assert p.dtype == "float32" and "mps" in p.reason


def test_recipes_amp_defaults():
    """Our own recipes ask for bf16 (used where native); the tutorial recipes reproduce float32 arithmetic."""
    for name in ("fast", "strong", "best"):
        assert load_recipe(name).config.train.amp is True, name
    for name in ("quickstart", "lenet5", "cnn-small", "pytorch-example", "mlp-sgd"):
        assert load_recipe(name).config.train.amp is False, name
