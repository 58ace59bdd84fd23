"""A local Ray with Serve, in a process of its own, for the demo and the tests.

Why not ``ray.init`` in the caller: after ``ray.shutdown()`` a Ray background thread that
still touches the core worker makes Ray end the whole process at once with exit status 1
(Ray's QuickExit, ray-project/ray#19115). In a pytest run or the demo that silently lost the
summary and the exit status; a helper process can die that way harmlessly.

    python -m fragrance_dev.local_ray --dashboard-port 8265 --serve-port 8000
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from tenacity import Retrying, TryAgain, retry_if_exception_type, stop_after_delay, wait_fixed

from fragrance_dev.cluster.processes import die_with_parent, terminate
from fragrance_dev.cluster.prometheus import free_port
from fragrance_operator.adapters.ray_serve import ServeError, ServeREST

#: What the helper prints once Serve is started.
READY = "Ray up:"
PORT_TAKEN = "address already in use"
START_ATTEMPTS = 3


class LocalRay:
    """``with LocalRay(log) as ray:`` a Ray whose Serve REST API answers, on ports of its own
    choosing (``ray.dashboard_url``, ``ray.serve_url``).

    It starts Ray with a token of its own (``env``, ``rest()``), so nothing depends on what
    ``~/.ray`` holds or on when Ray writes its token file there.
    """

    def __init__(self, log: Path, num_cpus: int = 2) -> None:
        self.log, self.num_cpus = log, num_cpus
        self.token = secrets.token_hex(32)
        #: What a client of this Ray (the operator) needs in its environment.
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}
        self._process: subprocess.Popen[bytes] | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.dashboard_port, self.serve_port = free_port(), free_port()
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"

    def rest(self) -> ServeREST:
        return ServeREST(self.dashboard_url, token=self.token)

    def __enter__(self) -> LocalRay:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            start = self.log.stat().st_size if self.log.exists() else 0
            try:
                self._start(start)
                return self
            except ServeError as error:
                self.stop()
                said = self._log_since(start)
                # A free port is only free until someone binds it: Ray's own processes pick
                # ports of their own while it starts. Another pair, then.
                if PORT_TAKEN in said and attempt < START_ATTEMPTS:
                    self._pick_ports()
                    continue
                raise RuntimeError(
                    f"the local Ray did not start; {self.log}:\n{said[-3000:]}"
                ) from error
        raise AssertionError("unreachable")

    def _start(self, offset: int) -> None:
        argv = [
            sys.executable, "-m", "fragrance_dev.local_ray",
            "--dashboard-port", str(self.dashboard_port), "--serve-port", str(self.serve_port),
            "--num-cpus", str(self.num_cpus),
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent, env={**os.environ, **self.env},
            )  # fmt: skip
        # The REST API answers before the helper's serve.start() is done; a deploy in
        # between makes the dashboard start a second Serve controller, which Ray refuses.
        self._wait_started(offset)
        rest = self.rest()
        try:
            rest.wait_reachable(timeout=30)
        finally:
            rest.close()

    def _log_since(self, offset: int) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _wait_started(self, offset: int, timeout: float = 120.0) -> None:
        def started() -> bool:
            return READY in self._log_since(offset)

        try:
            for attempt in Retrying(
                stop=stop_after_delay(timeout),
                wait=wait_fixed(0.2),
                retry=retry_if_exception_type(TryAgain),
                reraise=True,
            ):
                with attempt:
                    if self._process is not None and self._process.poll() is not None:
                        raise ServeError(f"the Ray helper exited ({self._process.returncode})")
                    if not started():
                        raise TryAgain
        except TryAgain as error:
            raise ServeError(f"Serve did not start within {timeout:.0f}s") from error

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: Serve and Ray shut down in the helper; SIGKILL if that hangs."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dashboard-port", type=int, required=True, help="Serve REST API port")
    parser.add_argument("--serve-port", type=int, required=True, help="Serve's HTTP proxy port")
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args(argv)

    import ray
    from ray import serve

    stop = threading.Event()
    ray.init(
        address="local",  # a Ray of its own, never one that happens to be running
        num_cpus=args.num_cpus,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=args.dashboard_port,
        log_to_driver=False,
    )
    # After ray.init: its own SIGTERM handler would exit without shutting Serve down.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve.start(http_options={"host": "127.0.0.1", "port": args.serve_port})
    print(f"{READY} Serve on :{args.serve_port}, REST API on :{args.dashboard_port}", flush=True)
    while not stop.wait(1.0):
        pass
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
