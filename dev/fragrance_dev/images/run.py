"""Running buildah and friends: their output kept for the error, progress every few seconds."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

Progress = Callable[[str], None]
_REPORT_EVERY = 15.0


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)}: {done.stderr.strip()}")
    return done


def run_logged(
    argv: list[str],
    label: str,
    progress: Progress,
    env: Mapping[str, str] | None = None,
    steps: str = "",
) -> None:
    """Run ``argv``; lines starting with ``steps`` are shown, and a heartbeat between them."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=40)
    last = [started]

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            if steps and line.startswith(steps):
                progress(f"  {label} [{time.monotonic() - started:4.0f}s] {line.strip()[:150]}")
                last[0] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        time.sleep(0.5)
        if time.monotonic() - last[0] >= _REPORT_EVERY:
            last[0] = time.monotonic()
            progress(f"  {label} [{last[0] - started:4.0f}s] working")
    reader.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed (exit {proc.returncode}):\n" + "\n".join(tail))
