"""Where a sweep's Optuna study lives, and the lock its workers take to start a trial.

    storage_url(spec, dir)      the --storage URL, or SQLite in the sweep folder
    open_storage(url)           Optuna's RDBStorage, with heartbeats; every failure one line (password hidden)
    StudyLock(dir, url, name)   "count the trials, start the next one" as one step: a file lock for the workers
                                of this machine, plus a PostgreSQL advisory lock for those of every machine
    heartbeat()                 (interval, grace) in seconds: DIGITLAB_SWEEP_HEARTBEAT=S gives (S, 4 S)

PostgreSQL URLs: `postgresql://USER:PASSWORD@HOST[:PORT]/DB` is run through psycopg 3 (the `sweep-postgres` extra)
when psycopg2 is not installed; `postgresql+DRIVER://` is taken as written. A server that does not answer gives up
after CONNECT_TIMEOUT seconds. The advisory lock lives in the worker's own database session: a worker that is
killed (SIGKILL, power loss) drops its connection and the server releases the lock.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import warnings
from pathlib import Path
from typing import Any

from digitlab.errors import ConfigError, DigitlabError

HEARTBEAT_SECONDS = 30  # a running trial's worker writes a heartbeat this often
GRACE_SECONDS = 120  # a RUNNING trial with no heartbeat for this long is failed (its worker is gone)
SQLITE_TIMEOUT = 60  # seconds a worker waits for another's write lock on the SQLite study
CONNECT_TIMEOUT = 10  # seconds to reach a database server before saying it cannot be reached


def heartbeat() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds; DIGITLAB_SWEEP_HEARTBEAT=S sets S and 4*S."""
    raw = os.environ.get("DIGITLAB_SWEEP_HEARTBEAT", "")
    if not raw:
        return HEARTBEAT_SECONDS, GRACE_SECONDS
    try:
        seconds = int(raw)
        if seconds < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"DIGITLAB_SWEEP_HEARTBEAT={raw!r}: give whole seconds, at least 1 (default "
                          f"{HEARTBEAT_SECONDS})") from None
    return seconds, 4 * seconds


def storage_url(spec, sweep_dir: Path) -> str:
    return spec.storage or f"sqlite:///{(Path(sweep_dir) / 'study.db').resolve()}"


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def engine_url(url: str) -> str:
    """`postgresql://` through the driver that is installed (psycopg2 first, as SQLAlchemy does, else psycopg 3)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        if importlib.util.find_spec("psycopg2") is not None:
            return url
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(f"--storage {redact(url)}: no PostgreSQL driver; pip install 'digitlab[sweep-postgres]' "
                              "(psycopg) on this machine")
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_TIMEOUT}}
    if is_postgres(url):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}
    return {}


def cannot_open(url: str, exc: BaseException) -> ConfigError:
    text = " ".join(str(exc).split())
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text)
    text = re.sub(r"\[SQL: .*", "", text).strip()
    return ConfigError(f"--storage {redact(url)}: cannot open the study database ({type(exc).__name__}: "
                       f"{redact(text)[:300]}); check that the server runs, is reachable, and the user and password")


def require_optuna():
    """Optuna is an optional dependency (the `sweep` extra): say how to get it instead of a traceback."""
    try:
        import optuna
    except ImportError:
        raise DigitlabError("digitlab sweep needs Optuna: pip install 'digitlab[sweep]' (or pip install optuna)") from None
    return optuna


def open_storage(url: str):
    optuna = require_optuna()
    interval, grace = heartbeat()
    # two machines starting at once on an empty PostgreSQL database would both create Optuna's tables (and one
    # fail on the other's half-made ones: duplicate key in pg_type, relation exists): they take turns
    guard = AdvisoryLock(url, "optuna tables") if is_postgres(url) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats are marked experimental
        try:
            if guard is not None:
                guard.acquire()
            return optuna.storages.RDBStorage(engine_url(url), engine_kwargs=_engine_kwargs(url),
                                              heartbeat_interval=interval, grace_period=grace)
        except DigitlabError:
            raise
        except ImportError as exc:  # e.g. mysql:// without its driver
            raise ConfigError(f"--storage {redact(url)}: {exc}; install the database driver it needs") from None
        except Exception as exc:  # SQLAlchemy's errors for bad URLs, unreachable servers, refused passwords
            raise cannot_open(url, exc) from None
        finally:
            if guard is not None:
                guard.close()  # the session ends: the server lets the lock go


def lock_key(study_name: str) -> int:
    """The advisory lock's number for a study: a signed 64-bit hash of its name."""
    return int.from_bytes(hashlib.sha256(f"digitlab-sweep:{study_name}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock, held on a connection of its own."""

    def __init__(self, url: str, study_name: str) -> None:
        import sqlalchemy

        self.key = lock_key(study_name)
        self.url = url
        try:
            self.engine = sqlalchemy.create_engine(engine_url(url), poolclass=sqlalchemy.pool.NullPool,
                                                   **_engine_kwargs(url))
            self.conn = self.engine.connect()
        except DigitlabError:
            raise
        except Exception as exc:
            raise cannot_open(url, exc) from None
        self.held = False

    def _call(self, fn: str) -> None:
        import sqlalchemy

        try:
            self.conn.execute(sqlalchemy.text(f"SELECT {fn}(:k)"), {"k": self.key})
            self.conn.commit()
        except Exception as exc:
            raise cannot_open(self.url, exc) from None

    def acquire(self) -> None:
        self._call("pg_advisory_lock")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._call("pg_advisory_unlock")

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.engine.dispose()


class StudyLock:
    """The file lock of this machine's workers, and for PostgreSQL the advisory lock of all machines' workers."""

    def __init__(self, sweep_dir: Path, url: str, study_name: str) -> None:
        import filelock

        self.file = filelock.FileLock(str(Path(sweep_dir) / ".trial.lock"))
        self.db = AdvisoryLock(url, study_name) if is_postgres(url) else None

    @property
    def is_locked(self) -> bool:
        return self.file.is_locked

    def acquire(self) -> None:
        self.file.acquire()
        if self.db is not None:
            try:
                self.db.acquire()
            except BaseException:
                self.file.release()
                raise

    def release(self) -> None:
        try:
            if self.db is not None:
                self.db.release()
        finally:
            self.file.release()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
