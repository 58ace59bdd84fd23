"""``kubectl fragrance``: status and manual control of FragranceReleases.

Installed as the ``kubectl-fragrance`` command, which kubectl finds on PATH as a plugin.
Actions are the ``fragrance.ai/action`` annotation the operator consumes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from fragrance_api.crd import ACTION_ANNOTATION, API_VERSION

ACTIONS = ("promote", "abort", "pause", "resume", "retry")


def _kube() -> Any:
    from fragrance_operator.adapters.kubernetes import Kube

    return Kube()


def _release(namespace: str, name: str, kube: Any = None) -> dict[str, Any]:
    found = (kube or _kube()).get(API_VERSION, "FragranceRelease", namespace, name)
    if found is None:
        raise click.ClickException(f"FragranceRelease {namespace}/{name} not found")
    return found  # type: ignore[no-any-return]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Status and manual control of FragranceReleases (canary releases of the LLM service)."""


_namespace = click.option("--namespace", "-n", default="default", show_default=True)


@main.command()
@click.argument("name")
@_namespace
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def status(name: str, namespace: str, output: str) -> None:
    """Where a rollout stands: phase, step, weight, the last gate and the history."""
    release = _release(namespace, name)
    st = release.get("status") or {}
    if output == "json":
        click.echo(json.dumps(st, indent=2))
        return
    steps = release["spec"].get("canary", {}).get("steps", [])
    click.echo(f"{namespace}/{name}: {st.get('phase', 'Pending')}")
    click.echo(f"  stable  {st.get('stableVersion') or '-'}")
    canary = st.get("canaryVersion") or "-"
    step = st.get("currentStep", 0)
    click.echo(
        f"  canary  {canary}  weight {st.get('canaryWeight', 0)}%  "
        f"step {step + 1}/{len(steps)} {steps}"
    )
    if st.get("pauseReason"):
        click.echo(f"  paused  {st['pauseReason']}")
    for condition in st.get("conditions", []):
        message = f" - {condition['message']}" if condition.get("message") else ""
        click.echo(
            f"  {condition['type']:<12}{condition['status']:<6}{condition['reason']}{message}"
        )
    evaluation = st.get("evaluation")
    if evaluation:
        took = f" in {evaluation['seconds']:.1f}s" if evaluation.get("seconds") else ""
        click.echo(
            f"  evaluation  {evaluation['decision']} of {evaluation['version']} before any "
            f"traffic{took}"
        )
        _checks(evaluation.get("checks", []))
    gate = st.get("gate")
    if gate:
        click.echo(f"  gate    {gate['decision']} at {gate.get('evaluatedAt', '?')}")
        _checks(gate.get("checks", []))
    for entry in st.get("history", [])[-5:]:
        click.echo(f"  history {entry['version']}: {entry['outcome']} ({entry.get('reason', '')})")


def _checks(checks: list[dict[str, Any]]) -> None:
    click.echo(
        f"    {'RESULT':<13}{'CHECK':<30}{'VALUE':<10}{'LIMIT':<10}{'STABLE':<10}{'N':<7}WHY"
    )
    for check in checks:
        value, limit, stable, n = (
            _number(check.get(key)) for key in ("value", "threshold", "stableValue", "sample")
        )
        click.echo(
            f"    {check['result']:<13}{check['name']:<30}{value:<10}{limit:<10}{stable:<10}"
            f"{n:<7}{check['message']}"
        )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _act(action: str) -> Any:
    @click.argument("name")
    @_namespace
    def command(name: str, namespace: str) -> None:
        kube = _kube()  # one client: each builds its API discovery
        _release(namespace, name, kube)
        kube.merge_patch(
            API_VERSION,
            "FragranceRelease",
            namespace,
            name,
            {"metadata": {"annotations": {ACTION_ANNOTATION: action}}},
        )
        click.echo(f"{action} requested for {namespace}/{name}; the operator acts on its next tick")

    command.__doc__ = {
        "promote": "Make the canary stable now, skipping the remaining steps.",
        "abort": "Roll back now.",
        "pause": "Hold the rollout where it is.",
        "resume": "Continue a paused rollout.",
        "retry": "Start a rolled-back or failed release again, same spec.",
    }[action]
    return main.command(name=action)(command)


for _action in ACTIONS:
    _act(_action)


@main.command()
@click.argument("name")
@_namespace
@click.option("--prometheus", envvar="FRAGRANCE_PROMETHEUS_URL", default="http://127.0.0.1:9090")
@click.option("--output", help="Write the JSON report here too.")
@click.pass_context
def gate(ctx: click.Context, name: str, namespace: str, prometheus: str, output: str) -> None:
    """Evaluate the gate now (exit 0 GO, 1 WARNING, 2 NO-GO, 3 INCONCLUSIVE)."""
    from fragrance_operator.cli import gate as gate_command

    ctx.invoke(gate_command, target=f"{namespace}/{name}", prometheus=prometheus, track="canary",
               output=output)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
