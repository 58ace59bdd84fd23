"""A local Ray with Serve, in a process of its own, for the demo and the tests.

Why not ``ray.init`` in the caller: after ``ray.shutdown()`` a Ray background thread that
still touches the core worker makes Ray end the whole process at once with exit status 1
(Ray's QuickExit, ray-project/ray#19115). In a pytest run or the demo that silently lost the
summary and the exit status; a helper process can die that way harmlessly.

    python -m fragrance_serving.local_ray --dashboard-port 8265 --serve-port 8000
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from fragrance_operator.adapters.ray_serve import ServeError, ServeREST
from fragrance_operator.devcluster.processes import die_with_parent, terminate


class LocalRay:
    """``with LocalRay(dashboard, serve_port, log):`` a Ray whose Serve REST API answers."""

    def __init__(self, dashboard_port: int, serve_port: int, log: Path, num_cpus: int = 2) -> None:
        self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        self.log = log
        self._argv = [
            sys.executable, "-m", "fragrance_serving.local_ray",
            "--dashboard-port", str(dashboard_port), "--serve-port", str(serve_port),
            "--num-cpus", str(num_cpus),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalRay:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                self._argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        rest = ServeREST(self.dashboard_url)
        try:
            rest.wait_reachable()
        except ServeError as error:
            self.stop()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the local Ray did not start; {self.log}:\n{tail}") from error
        finally:
            rest.close()
        return self

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
    print(f"Ray up: Serve on :{args.serve_port}, REST API on :{args.dashboard_port}", flush=True)
    while not stop.wait(1.0):
        pass
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
