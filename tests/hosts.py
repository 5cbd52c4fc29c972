"""Hosts for tests: N network namespaces joined by a bridge, each with its own address and hostname.

    with Hosts(2) as net:                    # or the `hosts` fixture: hosts(2)
        net.run(0, ["ip", "addr"])           # a command "on" host 0 (ip netns exec + its own UTS namespace)
        p = net.popen(1, [...])              # in the background, in its own process group (killed at the end)
        net.addr(0)                          # '10.211.<k>.1'
        net.cable(1, up=False)               # pull host 1's cable (no FIN, no RST: like a machine losing power)

Layout: a hub namespace holds a bridge; each host namespace holds `eth0` (one end of a veth pair whose other end
is on the bridge) with an address of our own subnet and no default route, plus `lo`. Nothing is added to the
namespace the tests run in, so the hosts can reach each other and nothing else. Names carry a prefix with this
process's pid (other test sessions may run beside this one); namespaces of a prefix whose pid is gone are removed
on the next start, and `close` (the fixture's teardown, also on failure or Ctrl-C) removes everything it made.

Needs root and iproute2 (`ip`); `unavailable()` says in one line why not, for the tests to skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

PREFIX = "dlabt"  # digitlab tests
SUBNET = "10.211"  # 10.211.<k>.0/24, one /24 per Hosts of this process
_counter = itertools.count(1)


def unavailable() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns); CI runs these as root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (iproute2 / util-linux) to make test hosts"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"cannot make a network namespace here: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = (["ip", "-n", ns] if ns else ["ip"]) + list(args)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale() -> list[str]:
    """Delete the namespaces (and server folders) of earlier test sessions whose process is gone (a killed pytest
    leaves them)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    gone = []
    for name in listed:
        m = re.fullmatch(rf"{PREFIX}(\d+)-.*", name)
        if m and not _alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
            gone.append(name)
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-pg-*"):  # tests/postgres.py's server folders
        m = re.fullmatch(rf"{PREFIX}(\d+)-.*", folder.name)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
    return gone


class Hosts:
    def __init__(self, n: int) -> None:
        clean_stale()
        k = next(_counter)
        self.prefix = f"{PREFIX}{os.getpid()}-{k}"
        self.subnet = f"{SUBNET}.{k % 250}"
        self.hub = f"{self.prefix}-hub"
        self.names = [f"{self.prefix}-h{i}" for i in range(n)]
        self.hostnames = [f"host{i}" for i in range(n)]
        self.procs: list[subprocess.Popen] = []
        self.made: list[str] = []
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    def _make(self) -> None:
        for ns in [self.hub, *self.names]:
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("link", "set", "lo", "up", ns=ns)
        for i, ns in enumerate(self.names):  # `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts
            folder = Path("/etc/netns") / ns
            folder.mkdir(parents=True, exist_ok=True)
            peers = "".join(f"{self.addr(j)} {name}\n" for j, name in enumerate(self.hostnames) if j != i)
            # as Debian writes it: the machine's own name on 127.0.1.1 (what gloo binds to unless told otherwise)
            (folder / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.hostnames[i]}\n{peers}")
        _ip("link", "add", "br0", "type", "bridge", ns=self.hub)
        _ip("link", "set", "br0", "up", ns=self.hub)
        for i, ns in enumerate(self.names):
            _ip("link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns, ns=self.hub)
            _ip("link", "set", f"p{i}", "master", "br0", ns=self.hub)
            _ip("link", "set", f"p{i}", "up", ns=self.hub)
            _ip("addr", "add", f"{self.addr(i)}/24", "dev", "eth0", ns=ns)
            _ip("link", "set", "eth0", "up", ns=ns)

    def addr(self, i: int) -> str:
        return f"{self.subnet}.{i + 1}"

    def command(self, i: int, cmd: list[str]) -> list[str]:
        """cmd as run on host i: in its network namespace and a UTS namespace with its own hostname."""
        return ["ip", "netns", "exec", self.names[i], "unshare", "--uts", "sh", "-c",
                f'hostname {self.hostnames[i]} && exec "$@"', "sh", *cmd]

    def run(self, i: int, cmd: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.command(i, cmd), timeout=timeout, **kw)

    def popen(self, i: int, cmd: list[str], **kw) -> subprocess.Popen:
        """Start cmd on host i in its own process group (kill_host / close end the whole group)."""
        kw.setdefault("text", True)
        proc = subprocess.Popen(self.command(i, cmd), start_new_session=True, **kw)
        proc.host = i  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal the process group popen started (torchrun and its workers, a sweep and its trial)."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def kill_host(self, i: int) -> None:
        """SIGKILL every process on host i (torchrun starts its workers in sessions of their own)."""
        for pid in self.pids(i):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def cable(self, i: int, up: bool) -> None:
        _ip("link", "set", "eth0", "up" if up else "down", ns=self.names[i])

    def pids(self, i: int) -> list[int]:
        """Processes living in host i's network namespace."""
        done = subprocess.run(["ip", "netns", "pids", self.names[i]], capture_output=True, text=True)
        return [int(p) for p in done.stdout.split()]

    def close(self) -> None:
        for proc in self.procs:
            self.kill(proc)
        for ns in self.made:  # anything still inside (a daemon started by a test) goes too
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        deadline = time.monotonic() + 10
        for ns in reversed(self.made):
            while subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode and \
                    time.monotonic() < deadline and Path(f"/run/netns/{ns}").exists():
                time.sleep(0.1)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        self.made.clear()

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
