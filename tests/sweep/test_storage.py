"""sweep/storage.py without a server: URLs, the driver, passwords kept out of messages, the heartbeat setting."""

import importlib.util

import pytest

from digitlab.errors import ConfigError
from digitlab.sweep import storage


def test_redact_hides_the_password_only():
    assert storage.redact("postgresql://me:s3cret@db:5432/sweeps") == "postgresql://me:***@db:5432/sweeps"
    assert storage.redact("sqlite:////tmp/x/study.db") == "sqlite:////tmp/x/study.db"


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 installed: SQLAlchemy's default")
def test_plain_postgresql_urls_go_through_psycopg3():
    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(ConfigError, match="sweep-postgres"):
            storage.engine_url("postgresql://u:p@h/db")
        return
    assert storage.engine_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert storage.engine_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert storage.engine_url("postgresql+psycopg2://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"


def test_heartbeat_setting(monkeypatch):
    monkeypatch.delenv("DIGITLAB_SWEEP_HEARTBEAT", raising=False)
    assert storage.heartbeat() == (storage.HEARTBEAT_SECONDS, storage.GRACE_SECONDS)
    monkeypatch.setenv("DIGITLAB_SWEEP_HEARTBEAT", "5")
    assert storage.heartbeat() == (5, 20)
    for bad in ("0", "soon"):
        monkeypatch.setenv("DIGITLAB_SWEEP_HEARTBEAT", bad)
        with pytest.raises(ConfigError, match="DIGITLAB_SWEEP_HEARTBEAT"):
            storage.heartbeat()


def test_an_unreachable_server_is_one_line_without_the_password():
    pytest.importorskip("psycopg")
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError) as info:  # port 9 on loopback: nothing listens, refused at once
        storage.open_storage("postgresql://me:s3cret@127.0.0.1:9/sweeps")
    text = str(info.value)
    assert "\n" not in text and "s3cret" not in text and "postgresql://me:***@127.0.0.1:9/sweeps" in text


def test_lock_keys_differ_per_study_and_fit_64_bits():
    a, b = storage.lock_key("lr-study"), storage.lock_key("other")
    assert a != b and -(2**63) <= a < 2**63 and storage.lock_key("lr-study") == a
