"""``fragrance-serve``: the serving application on a local Ray, or a serving image's entrypoint.

fragrance-serve --config deploy/serving/local.yaml --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"{path}: {error}") from error
    if not isinstance(config, dict):
        raise SystemExit(f"{path}: expected a mapping of the app's args")
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the app's args (YAML)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--name", default="brief", help="Serve application name")
    parser.add_argument("--route-prefix", default="/")
    parser.add_argument("--num-cpus", type=float, default=None, help="CPUs for a local Ray")
    parser.add_argument("--address", default="local", help="a running Ray to join (e.g. auto)")
    parser.add_argument("--dashboard-port", type=int, default=8265, help="Serve REST API port")
    args = parser.parse_args(argv)

    import ray
    from ray import serve

    from fragrance_api.serving_args import AppArgs
    from fragrance_serving.app import app

    config = load_config(args.config)
    try:
        AppArgs.model_validate(config)
    except ValueError as error:
        print(f"{args.config}: {error}", file=sys.stderr)
        return 2
    ray.init(
        address=args.address,
        num_cpus=args.num_cpus,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=args.dashboard_port,
    )
    serve.start(http_options={"host": args.host, "port": args.port})
    try:
        serve.run(app(config), name=args.name, route_prefix=args.route_prefix)
    except Exception as error:  # the app's own error, reported once: the process ends
        print(f"the application did not start: {error}", file=sys.stderr)
        ray.shutdown()
        return 1
    url = f"http://{args.host}:{args.port}{args.route_prefix}"
    print(f"serving on {url}; Serve REST API on :{args.dashboard_port} (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    serve.shutdown()  # type: ignore[no-untyped-call]
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
