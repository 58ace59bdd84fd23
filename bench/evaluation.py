"""The evaluation before traffic on real models: its wall time and scores, with the machine.

Starts a local Ray Serve, deploys the release's stable (v1) and a canary (v2) of the project's
trained models (``make models``) as Serve applications, and runs the operator's evaluation
(the default set of 24 prompts, asked of both tracks at once) twice: a good canary, then a
prompt-blind one (``faults.promptBlind``: one fixed brief whatever it is asked). Prints each
run's wall time and every check with its value, threshold and stable's value.
Usage: python bench/evaluation.py [--models models]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_api.release import FragranceReleaseSpec  # noqa: E402
from fragrance_api.serve_app import application, deploy_config, release_args  # noqa: E402
from fragrance_dev.local_ray import LocalRay  # noqa: E402
from fragrance_operator.canary.checks import latency_budgets  # noqa: E402
from fragrance_operator.canary.eval_set import DEFAULT_SET  # noqa: E402
from fragrance_operator.reconcile.pretraffic import evaluate_set  # noqa: E402


def _spec(version: str, blind: bool = False) -> FragranceReleaseSpec:
    faults = {"faults": {"promptBlind": True}} if blind else {}
    return FragranceReleaseSpec.model_validate(
        {
            "version": version,
            "image": f"fragrance-serving:{version}",
            "models": [
                {"name": "llama", "mode": "fast", **faults},
                {"name": "mistral", "mode": "balanced", **faults},
                {"name": "qwen", "mode": "creative", **faults},
            ],
            "workload": {"replicas": 1, "gpusPerReplica": 0},
            "traffic": {"provider": "rayServe", "rayServe": {"routerApplication": "router"}},
            "canary": {"evaluation": {"enabled": True}},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-evaluation-"))
    print("machine:", json.dumps(machine()))
    with LocalRay(work / "ray.log") as ray:
        base = ray.serve_url
        rest = ray.rest()

        def deploy(canary: FragranceReleaseSpec, canary_name: str) -> None:
            # Each canary a fresh application, as a new version is: a cache of its own.
            apps = []
            for name, slot, spec in (("bench-stable", "stable", _spec("v1")),
                                     (canary_name, "canary", canary)):  # fmt: skip
                appargs = release_args("bench", name, spec, str(args.models.resolve()), str(work))
                faults = {m.name: m.faults.to_wire() if m.faults else {} for m in spec.models}
                apps.append(application(name, f"/{name}", appargs, None, faults, slot))
            rest.deploy(deploy_config(apps, "127.0.0.1", ray.serve_port))
            rest.wait_running([app["name"] for app in apps])

        runs = (("good canary", _spec("v2")), ("prompt-blind canary", _spec("v2", True)))
        for number, (label, canary) in enumerate(runs):
            deploy(canary, f"bench-canary-{number}")
            urls = {
                "canary": f"{base}/bench-canary-{number}/v1/brief",
                "stable": f"{base}/bench-stable/v1/brief",
            }
            started = time.perf_counter()
            verdict = evaluate_set(
                urls, list(DEFAULT_SET), canary.canary.evaluation, latency_budgets(canary)
            )
            took = time.perf_counter() - started
            print(
                f"{label}: {verdict.decision} in {took:.1f} s ({len(DEFAULT_SET)} prompts a track)"
            )
            for c in verdict.checks:
                value = "-" if c.value is None else f"{c.value:.3g}"
                limit = "-" if c.threshold is None else f"{c.threshold:.3g}"
                stable = "-" if c.stable_value is None else f"{c.stable_value:.3g}"
                print(f"  {c.result:<13}{c.name:<32}{value:>8} limit {limit:>6} stable {stable:>6}")
        rest.close()


if __name__ == "__main__":
    main()
