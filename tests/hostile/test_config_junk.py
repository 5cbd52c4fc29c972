"""Hostile class 4: config junk. `--config` files nested thousands deep, holding a 10 MB string, or putting a wrong type
(a table) in every key of every section; `--set` values nan, inf, 1e309, -0, huge integers, integers past int64 and
empty strings for every key: each is refused in one line before any run folder exists, or accepted as a value that
trains. Never a traceback (tomllib's RecursionError, torch's int64 overflow and set_num_threads were)."""

from __future__ import annotations

import pytest

from digitlab import config as cfgmod
from digitlab.errors import ConfigError
from digitlab.training.setup import check_config
from tests.hostile.conftest import assert_ok, assert_one_line_error, invoke, train_args

DEEP = 5000
CONFIGS = {
    "nested-arrays": "[train]\nepochs = " + "[" * DEEP + "1" + "]" * DEEP + "\n",
    "nested-inline-tables": "[train]\nepochs = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
    "nested-table-headers": "".join("[" + ".".join(["train"] * i) + "]\n" for i in range(1, 300)),
    "10MB-string": '[data]\ndata_dir = "' + "x" * (10 * 1024 * 1024) + '"\n',
    "10MB-of-comments": "# x\n" * (2_700_000),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_junk_config_files(idx_dir, tmp_path, case):
    cfg = tmp_path / "junk.toml"
    cfg.write_text(CONFIGS[case])
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(idx_dir, run, "--config", cfg)), "junk.toml")
    assert not run.exists()


def _every_key() -> list[str]:
    return cfgmod.valid_keys()


@pytest.mark.parametrize("key", _every_key())
def test_a_table_where_a_value_belongs_in_every_key(idx_dir, tmp_path, key):
    section, _, name = key.partition(".")
    cfg = tmp_path / "wrong.toml"
    cfg.write_text(f"[{section}]\n{name} = {{ nested = {{ deeper = [1, 2] }} }}\n")
    run = tmp_path / "run"
    assert_one_line_error(invoke(*train_args(idx_dir, run, "--config", cfg)), key)
    assert not run.exists()


JUNK = ["nan", "inf", "-inf", "1e309", "-0", "-0.0", "123456789012345678901234567890", "9223372036854775808",
        "-9223372036854775809", '""', "", "[]", "{}", "true", "0x7fffffffffffffff"]


@pytest.mark.parametrize("key", _every_key())
def test_set_junk_for_every_key_is_refused_or_a_valid_config(key):
    """Library level, every key x every junk value: a one-line ConfigError, or a config the checks accept (which the
    CLI cases below then train)."""
    for value in JUNK:
        try:
            config = cfgmod.validate(cfgmod.with_overrides(cfgmod.Config(), [f"{key}={value}"]))
            check_config(config)
        except ConfigError as exc:
            assert "\n" not in str(exc) and key.split(".")[1] in str(exc), (key, value, str(exc))
            continue
        for v in (getattr(getattr(config, key.split(".")[0]), key.split(".")[1]),):
            for item in v if isinstance(v, tuple) else (v,):
                if isinstance(item, int) and not isinstance(item, bool):
                    assert -(2**63) <= item < 2**63, (key, value)  # nothing past int64 reaches torch


@pytest.mark.parametrize("setting", ["loss.ignore_index=123456789012345678901234567890",
                                     "loss.ignore_index=-9223372036854775809",
                                     "train.threads=123456789012345678901234567890", "train.threads=1099511627776",
                                     "optim.lr=nan", "optim.lr=1e309", "--config-deep"])
def test_set_values_that_once_escaped_as_tracebacks(idx_dir, tmp_path, setting):
    run = tmp_path / "run"
    if setting == "--config-deep":
        result = invoke(*train_args(idx_dir, run, "--set", "train.epochs=" + "[" * DEEP + "]" * DEEP))
    else:
        result = invoke(*train_args(idx_dir, run, "--set", setting))
    assert_one_line_error(result)
    assert not run.exists()


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["train.batch_size=123456789012345678901234567890",
                                     "data.eval_batch_size=9223372036854775807", "data.augment_shift=1e300",
                                     "schedule.gamma=1e300", "train.seed=-0", "data.limit=9223372036854775807"])
def test_huge_but_valid_values_train_or_refuse_in_one_line(idx_dir, tmp_path, setting):
    run = tmp_path / "run"
    result = invoke(*train_args(idx_dir, run, "--set", setting, "--max-steps", "2"))
    if result.exit_code == 0:
        assert_ok(result)
        assert (run / "checkpoints").is_dir()
    else:
        assert_one_line_error(result)
