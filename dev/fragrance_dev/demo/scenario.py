"""``make demo``: v1 serving, v2 promoted through the gate, a TuningPolicy edit canaried on
v2 and promoted, a faulty v3 rolled back, and a prompt-blind v4 rolled back by its
evaluation before any user sees it.

Everything real on one machine: the local control plane, a Prometheus, a local Ray Serve
with the project's torch models, the operator (rayServe provider), and a steady client.
Every process started here is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from fragrance_api.base import parse_duration
from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.processes import die_with_parent, terminate
from fragrance_dev.cluster.prometheus import PrometheusServer
from fragrance_dev.demo.client import Client
from fragrance_dev.demo.follow import (
    NAMESPACE,
    POLICY_EDIT,
    RELEASE,
    Outcome,
    Say,
    Timeline,
    follow,
)
from fragrance_dev.local_ray import LocalRay


@dataclass(frozen=True)
class DemoConfig:
    models_dir: Path
    # The per-mode p95 needs min_requests_per_mode requests of each mode in a window, and
    # a window short of it is INCONCLUSIVE. With `make lint` looping beside it the client
    # got about 6.5 answers/s: 20% over 10 s held about 4 per mode, and one run in two ran
    # out of its progress deadline at the first step; 25% over 15 s holds about 8.
    steps: tuple[int, ...] = (25, 50, 75, 100)
    step_interval: str = "15s"
    analysis_interval: str = "15s"
    min_requests: int = 5
    min_requests_per_mode: int = 5
    rate: float = 25.0
    evaluation: bool = False  # evaluate each canary before its first step
    shadow: int = 0  # percent of stable's requests mirrored to each canary before step 1

    @property
    def budget(self) -> float:
        """Seconds one rollout may take before the demo calls it a timeout.

        From what the gate needs, not from hope: each step may take up to four analysis
        windows on a busy 2-core machine (an INCONCLUSIVE or WARNING window repeats it),
        plus the canary application's start on Ray (up to 90 s there) and the promotion (a
        swap of the two applications' roles: seconds).
        """
        step = max(parse_duration(self.step_interval), parse_duration(self.analysis_interval))
        allowance = PROMOTION_ALLOWANCE + (EVALUATION_ALLOWANCE if self.evaluation else 0.0)
        steps = len(self.steps) + (1 if self.shadow else 0)
        return steps * step * WINDOWS_PER_STEP + allowance


WINDOWS_PER_STEP = 4
PROMOTION_ALLOWANCE = 180.0
#: The evaluation before traffic: 24 prompts asked of each track (about 20-60 s on 2 cores).
EVALUATION_ALLOWANCE = 120.0
PLANNED = {"v1": "Succeeded", "v2": "Succeeded", "v3": "RolledBack"}
#: The local demo's plan: the shared one, the policy edit, and the evaluation's catch.
PLANNED_LOCAL = {**PLANNED, POLICY_EDIT: "Succeeded", "v4": "RolledBack"}


def release_doc(
    config: DemoConfig, version: str, faulty: bool = False, blind: bool = False
) -> dict[str, Any]:
    faults = {"faults": {"errorRate": 0.5}} if faulty else {}
    if blind:
        faults = {"faults": {"promptBlind": True}}
    return {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {"name": RELEASE, "namespace": NAMESPACE},
        "spec": {
            "version": version,
            "image": f"fragrance-serving:{version}",
            "tuningPolicyRef": {"name": "default"},
            "models": [
                {"name": "llama", "mode": "fast", **faults},
                {"name": "mistral", "mode": "balanced", **faults},
                {"name": "qwen", "mode": "creative", **faults},
            ],
            "workload": {"replicas": 1, "gpusPerReplica": 0},
            "traffic": {"provider": "rayServe", "rayServe": {"routerApplication": "router"}},
            "canary": {
                "steps": list(config.steps),
                "stepInterval": config.step_interval,
                # Ray starts a canary's application in up to 90 s, and its evaluation asks
                # 48 briefs of two CPU-bound versions.
                "progressDeadline": "5m" if config.evaluation else "3m",
                "evaluation": {"enabled": config.evaluation},
                "shadow": {"percent": config.shadow, "duration": config.step_interval},
                "analysis": {
                    "interval": config.analysis_interval,
                    "minRequests": config.min_requests,
                    "minRequestsPerMode": config.min_requests_per_mode,
                    "inconclusiveLimit": 20,
                    # Warnings only: the demo's models are tiny and its caches start cold.
                    # Latency: twice the budgets of GPU serving, for CPU models on two
                    # cores that may be shared (4.85 s for creative, seen while tests ran).
                    "thresholds": {
                        "jsonFallbackRate": 0.2,
                        "cacheHitRate": 0.2,
                        "latencyP95": {"fast": 5.0, "balanced": 6.4, "creative": 9.0},
                    },
                },
            },
        },
    }


POLICY: dict[str, Any] = {
    "apiVersion": "fragrance.ai/v1alpha1",
    "kind": "TuningPolicy",
    "metadata": {"name": "default", "namespace": NAMESPACE},
    "spec": {"jsonGuard": {"backoffBase": 0.05, "jitter": 0.05}},
}
POLICY_EDITED = {**POLICY, "spec": {**POLICY["spec"], "cache": {"ttlSeconds": 300}}}


@contextmanager
def _operator(env: dict[str, str], log: Path, say: Say) -> Iterator[subprocess.Popen[bytes]]:
    say(f"starting the operator (log: {log})")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fragrance_operator.cli", "operator"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            yield process
        finally:
            terminate(process, timeout=15)


def _apply(cluster: LocalCluster, doc: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))


def run(config: DemoConfig, out: Path, say: Say = print) -> tuple[list[Outcome], Client]:
    out.mkdir(parents=True, exist_ok=True)
    timeline = Timeline()
    with ExitStack() as stack:
        cluster = LocalCluster(progress=say)
        reused = cluster.running() is not None
        say("starting the local control plane" + (" (already running)" if reused else ""))
        cluster.up()
        if not reused:
            stack.callback(cluster.down)
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(_crds()))
        cluster.wait_all("crd", "Established", expected=None)
        say(f"starting Ray (log: {out / 'ray.log'})")
        ray = stack.enter_context(LocalRay(out / "ray.log"))
        serve_port, serve_url = ray.serve_port, ray.serve_url
        say(f"Ray up: Serve on :{serve_port}, its REST API on :{ray.dashboard_port}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fragrance-demo-")))
        # The release's two slots; each application's series say which track it is now.
        jobs = [
            {
                "job_name": f"{RELEASE}-{slot}",
                "metrics_path": f"/{RELEASE}-{slot}/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{serve_port}"]}],
            }
            for slot in ("a", "b")
        ]
        prometheus = PrometheusServer(work / "prometheus", [], jobs=jobs)
        stack.callback(prometheus.stop)
        say(f"Prometheus on {prometheus.url}, scraping both slots every second")
        env = {
            **ray.env,
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "FRAGRANCE_PROMETHEUS_URL": prometheus.url,
            "FRAGRANCE_RAY_DASHBOARD_URL": ray.dashboard_url,
            "FRAGRANCE_SERVE_URL": serve_url,
            "FRAGRANCE_MODELS_DIR": str(config.models_dir.resolve()),
            "FRAGRANCE_CHECKPOINT_DIR": str(work / "checkpoints"),
            "FRAGRANCE_TICK": "1",
            "FRAGRANCE_METRICS_PORT": "0",
            "FRAGRANCE_LEASE_NAMESPACE": NAMESPACE,
        }
        stack.enter_context(_operator(env, out / "operator.log", say))
        _apply(cluster, POLICY)
        say("--- v1: the first release becomes stable")
        _apply(cluster, release_doc(config, "v1"))
        outcomes = [follow(cluster, "v1", timeline, say, config.budget)]
        client = Client(f"{serve_url}/router/v1/brief", config.rate)
        _wait_serving(client.url, config.budget)
        say(f"--- a steady client: {config.rate:.0f} requests/s through the router")
        client.start()
        stack.callback(client.stop)
        time.sleep(3)
        say("--- v2: canary through the gate")
        _apply(cluster, release_doc(config, "v2"))
        outcomes.append(follow(cluster, "v2", timeline, say, config.budget))
        say("--- a TuningPolicy edit (the cache's TTL 600 s -> 300 s): its serving settings go "
            "through v2's canary like a new version")  # fmt: skip
        _apply(cluster, POLICY_EDITED)
        outcomes.append(follow(cluster, "v2", timeline, say, config.budget, settings=True))
        say("--- v3: a faulty version (half its model calls fail); the gate must catch it")
        _apply(cluster, release_doc(config, "v3", faulty=True))
        outcomes.append(follow(cluster, "v3", timeline, say, config.budget))
        if config.evaluation:
            say("--- v4: valid, fast and prompt-blind (one brief for every prompt); its "
                "evaluation must catch it before any user sees it")  # fmt: skip
            _apply(cluster, release_doc(config, "v4", blind=True))
            outcomes.append(follow(cluster, "v4", timeline, say, config.budget))
        time.sleep(2)
        client.stop()
        planned = dict(PLANNED_LOCAL)
        if not config.evaluation:
            del planned["v4"]
        report(config, out, timeline, outcomes, client, say, planned)
        return outcomes, client
    raise AssertionError("unreachable")


def report(
    config: DemoConfig, out: Path, timeline: Timeline, outcomes: list[Outcome],
    client: Client, say: Say, planned: dict[str, str] = PLANNED,
) -> None:  # fmt: skip
    """The summary table, summary.json and the timeline picture, both demos alike."""
    from fragrance_dev.demo.report import summary, summary_json, timeline_png

    say(summary(outcomes, client))
    written = summary_json(out / "summary.json", outcomes, client, planned, config.budget)
    say(f"summary: {written}")
    picture = timeline_png(out / "timeline.png", timeline, client, outcomes, planned)
    if picture:
        say(f"timeline: {picture}")


def _wait_serving(url: str, timeout: float) -> None:
    """A brief answered end to end through the router: the proxy knows every route."""
    deadline = time.time() + timeout
    ok = 0
    while time.time() < deadline and ok < 5:
        try:
            answer = httpx.post(url, json={"prompt": "a calm citrus scent"}, timeout=30)
            ok = ok + 1 if answer.status_code == 200 else 0
        except httpx.HTTPError:
            ok = 0
        time.sleep(0.2)
    if ok < 5:
        raise RuntimeError(f"the serving did not answer at {url} within {timeout:.0f}s")


def _crds() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "crds").is_dir():
            return parent / "crds"
    raise RuntimeError("crds/ not found beside the sources")
