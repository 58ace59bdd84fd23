"""A real Prometheus (Debian's package) on a free port: for the tests and the local demo."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from fragrance_dev.cluster.layout import Layout
from fragrance_dev.cluster.processes import die_with_parent, terminate
from fragrance_dev.cluster.toolchain import binary_path


def prometheus_binary() -> str:
    """The Prometheus `make tools` builds (with ``kubernetes_sd_configs``, which Debian's
    package lacks); Debian's where it is not built yet."""
    built = binary_path(Layout.default(), "prometheus")
    if built.is_file():
        return str(built)
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError("no Prometheus: run `make tools` (or apt-get install prometheus)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pod_discovery_job(kubeconfig: Path, namespaces: list[str]) -> dict[str, Any]:
    """What a cluster's Prometheus does for pods: discover them through the apiserver
    (``kubernetes_sd_configs``, role pod), keep those annotated ``prometheus.io/scrape``, and
    label each series with the pod's release, track, namespace and name. The app's own
    ``release``/``track`` labels win (``honor_labels``): the rayServe provider swaps roles
    without a restart, and the app knows its track."""

    def copy(label: str, target: str) -> dict[str, Any]:
        return {"source_labels": [label], "target_label": target}

    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    return {
        "job_name": "kubernetes-pods",
        "honor_labels": True,
        "kubernetes_sd_configs": [
            {"role": "pod", "kubeconfig_file": str(kubeconfig), "namespaces": {"names": namespaces}}
        ],
        "relabel_configs": [
            {"source_labels": [f"{annotation}scrape"], "action": "keep", "regex": "true"},
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "action": "keep",
                "regex": "Running",
            },
            {
                "source_labels": [f"{annotation}path"],
                "target_label": "__metrics_path__",
                "regex": "(.+)",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_ip", f"{annotation}port"],
                "regex": r"(.+);(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            copy("__meta_kubernetes_pod_label_release", "release"),
            copy("__meta_kubernetes_pod_label_track", "track"),
            copy("__meta_kubernetes_namespace", "namespace"),
            copy("__meta_kubernetes_pod_name", "pod"),
        ],
    }


class PrometheusServer:
    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        scrape_interval: str = "1s",
        jobs: list[dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        """``targets`` (host:port, /metrics) form one job; ``jobs`` adds scrape configs.
        ``host``: the address it listens on (the real node's, for pods to query it);
        ``port``: a given one (a restart where clients expect it), else a free one."""
        binary = prometheus_binary()
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [
                *(
                    [{"job_name": "serving", "static_configs": [{"targets": targets}]}]
                    * bool(targets)
                ),
                *(jobs or []),
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={host}:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        self._wait_ready(30)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus was not ready within {timeout}s")

    def stop(self) -> None:
        terminate(self.process, timeout=10)
        self.log.close()


def ray_serve_jobs(
    kubeconfig: Path, namespace: str, applications: list[str], port: int = 8000
) -> list[dict[str, Any]]:
    """The Ray pods of a namespace's RayServices, discovered through the apiserver: one job
    per Serve application, scraped at ``/<application>/metrics`` on each head's Serve proxy
    (the serving app renders its own series there, labelled with its release and track)."""
    discovery = {
        "role": "pod",
        "kubeconfig_file": str(kubeconfig),
        "namespaces": {"names": [namespace]},
    }
    return [
        {
            "job_name": f"ray-serve-{application}",
            "honor_labels": True,
            "metrics_path": f"/{application}/metrics",
            "kubernetes_sd_configs": [discovery],
            "relabel_configs": [
                {
                    "source_labels": ["__meta_kubernetes_pod_label_ray_io_node_type"],
                    "action": "keep",
                    "regex": "head",
                },
                {
                    "source_labels": ["__meta_kubernetes_pod_phase"],
                    "action": "keep",
                    "regex": "Running",
                },
                {
                    "source_labels": ["__meta_kubernetes_pod_ip"],
                    "replacement": f"$1:{port}",
                    "target_label": "__address__",
                },
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            ],
        }
        for application in applications
    ]
