"""``kubectl fragrance``: status and manual control of FragranceReleases.

Installed as the ``kubectl-fragrance`` command, which kubectl finds on PATH as a plugin.
Actions are the ``fragrance.ai/action`` annotation the operator consumes.
"""

from __future__ import annotations

import json
from typing import Any

import click

from fragrance_api.crd import ACTION_ANNOTATION, API_VERSION
from fragrance_operator.plugin import views

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


_output = click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")


@main.command()
@click.argument("name")
@_namespace
@_output
@click.option("-w", "--watch", is_flag=True, help="Redraw on every change, until interrupted.")
@click.option(
    "--timeout", type=float, default=0, help="With --watch: stop after these seconds (0: never)."
)
def status(name: str, namespace: str, output: str, watch: bool, timeout: float) -> None:
    """Where a rollout stands: phase, step, weight, the last gate and the history."""
    kube = _kube()
    release = _release(namespace, name, kube)
    if output == "json":
        click.echo(json.dumps(release.get("status") or {}, indent=2))
        return
    if not watch:
        click.echo("\n".join(views.status_lines(release)))
        return
    from fragrance_operator.plugin.watch import follow

    follow(kube, release, timeout)


@main.command()
@click.argument("name")
@_namespace
@_output
@click.option("--version", help="Only this version's rollouts.")
def history(name: str, namespace: str, output: str, version: str | None) -> None:
    """Every gate decision of the release's last rollouts, with the numbers behind it."""
    from fragrance_operator.builders.records import decision_log_name, read_decision_log

    kube = _kube()
    _release(namespace, name, kube)
    log = read_decision_log(kube.get("v1", "ConfigMap", namespace, decision_log_name(name)))
    if output == "json":
        click.echo(json.dumps(log, indent=2))
        return
    click.echo("\n".join(views.history_lines(log, version)))


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
