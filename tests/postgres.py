"""A throwaway PostgreSQL server on one of the test hosts (tests/hosts.py), for sweeps on a real database.

    server = Postgres(net, host=0)    initdb in a fresh folder, start `postgres` on that host's address, make a
    server.url                        database; postgresql://digitlab:PASSWORD@ADDRESS:5432/sweeps
    server.close()                    stop it and remove its folder (Hosts.close also kills it)

Uses Debian's server binaries (/usr/lib/postgresql/*/bin; `make test` installs the `postgresql` package as root)
run as the `postgres` user (the server refuses root). Password authentication (scram) for the hosts' subnet.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

USER, DB, PORT = "digitlab", "sweeps", 5432


def server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    if server_bin() is None:
        return "needs a PostgreSQL server (Debian: apt-get install postgresql; `make test` installs it as root)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "needs the `postgres` system user (made by Debian's postgresql package)"
    if shutil.which("runuser") is None:
        return "needs `runuser` (util-linux) to start PostgreSQL as its own user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs psycopg: pip install 'digitlab[sweep-postgres]'"
    return None


class Postgres:
    def __init__(self, net, host: int = 0) -> None:
        self.net, self.host = net, host
        self.password = secrets.token_hex(8)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{net.prefix}-pg-"))
        user = pwd.getpwnam("postgres")
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.proc = None
        try:
            self._start(server_bin(), user)
        except BaseException:
            self.close()
            raise

    def _as_postgres(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.net.run(self.host, ["runuser", "-u", "postgres", "--", *cmd], timeout=timeout)

    def _start(self, bindir: Path, user) -> None:
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        done = self._as_postgres(str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.net.subnet}.0/24 scram-sha-256\n")
        self.proc = self.net.popen(self.host, [
            "runuser", "-u", "postgres", "--", str(bindir / "postgres"), "-D", str(data),
            "-c", f"listen_addresses={self.net.addr(self.host)}", "-c", f"port={PORT}",
            "-c", f"unix_socket_directories={self.folder}", "-c", "fsync=off", "-c", "max_connections=50"],
            stdout=subprocess.DEVNULL, stderr=open(self.folder / "server.log", "w"))  # noqa: SIM115
        deadline = time.monotonic() + 30
        while True:
            made = self._as_postgres(str(bindir / "createdb"), "-h", str(self.folder), "-U", USER, DB, timeout=20)
            if made.returncode == 0:
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                log = (self.folder / "server.log").read_text()[-800:]
                raise RuntimeError(f"PostgreSQL did not start: {made.stderr.strip()} {log}")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{self.password}@{self.net.addr(self.host)}:{PORT}/{DB}"

    def close(self) -> None:
        if self.proc is not None:
            self.net.kill(self.proc)
            self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)
