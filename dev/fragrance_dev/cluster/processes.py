"""Start background server processes and stop them again, leaving nothing behind.

Processes run in sessions of their own so they outlive ``make cluster``; a pid file per
process, checked against ``/proc/<pid>/cmdline``, keeps a recycled pid from being killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Managed:
    name: str
    pid: int
    marker: str  # a string in the process's command line that proves the pid is ours

    def alive(self) -> bool:
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        if self.marker.encode() not in cmdline:
            return False
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(process: Managed) -> list[str]:
    """The argv a live process was started with (to start it again the same way)."""
    return Path(f"/proc/{process.pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def start(name: str, argv: list[str], log_dir: Path, pid_dir: Path, marker: str) -> Managed:
    log_dir.mkdir(parents=True, exist_ok=True)
    pid_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (pid_dir / f"{name}.pid").write_text(f"{proc.pid}\n{marker}\n")
    return Managed(name, proc.pid, marker)


def recorded(pid_dir: Path) -> list[Managed]:
    found = []
    for pid_file in sorted(pid_dir.glob("*.pid")):
        lines = pid_file.read_text().splitlines()
        if len(lines) >= 2 and lines[0].isdigit():
            found.append(Managed(pid_file.stem, int(lines[0]), lines[1]))
    return found


def stop(process: Managed, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone."""
    if not process.alive():
        return
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.alive() and time.monotonic() < deadline:
        _reap(process.pid)
        time.sleep(0.1)
    if process.alive():
        _signal_group(process.pid, signal.SIGKILL)
        while process.alive():
            _reap(process.pid)
            time.sleep(0.05)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a child we started, SIGKILL it after ``timeout``; returns once it is reaped."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when the process that started it dies (Linux),
    so a helper started for a run (Prometheus, the demo's operator) is never orphaned."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
