"""The ``fragrance`` command: one entry point for the operator's tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fragrance")
def main() -> None:
    """Safe canary releases of a guarded LLM ensemble on Kubernetes."""


@main.command()
@click.option("--namespace", "-n", multiple=True, help="Namespaces to watch (default: all).")
@click.option("--verbose", is_flag=True)
@click.option(
    "--liveness", default=None, help="kopf's liveness endpoint, e.g. http://0.0.0.0:8081/healthz"
)
def operator(namespace: tuple[str, ...], verbose: bool, liveness: str | None) -> None:
    """Run the operator (kopf) against the current kubeconfig or in-cluster account."""
    import logging

    import kopf
    from pydantic import ValidationError

    from . import main as handlers  # registers the handlers with kopf
    from .settings import OperatorSettings

    try:  # a bad setting stops the start, naming it (kopf would retry its startup forever)
        OperatorSettings()
    except ValidationError as error:
        raise click.ClickException(f"operator settings (FRAGRANCE_*): {error}") from None

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Serve REST call
    del handlers
    kopf.run(
        standalone=True,
        clusterwide=not namespace,
        namespaces=list(namespace),
        liveness_endpoint=liveness,
    )


EXIT_CODES = {"GO": 0, "WARNING": 1, "NO-GO": 2, "INCONCLUSIVE": 3}
_release_option = click.option(
    "--release", "target", required=True, help="NAMESPACE/NAME of a FragranceRelease."
)
_prometheus_option = click.option(
    "--prometheus",
    envvar="FRAGRANCE_PROMETHEUS_URL",
    default="http://127.0.0.1:9090",
    show_default=True,
    help="Prometheus to query.",
)


@main.command()
@_release_option
@_prometheus_option
@click.option("--track", type=click.Choice(["canary", "stable"]), default="canary")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="JSON report.")
def gate(target: str, prometheus: str, track: str, output: Path | None) -> None:
    """Evaluate a release's gate now. Exit 0 GO, 1 WARNING, 2 NO-GO, 3 INCONCLUSIVE."""
    from dataclasses import asdict

    from fragrance_api.crd import API_VERSION
    from fragrance_api.release import FragranceReleaseSpec
    from fragrance_operator.adapters.prometheus import Prometheus

    from .adapters.kubernetes import Kube
    from .reconcile.evaluate import evaluate

    namespace, _, name = target.rpartition("/")
    namespace = namespace or "default"
    found = Kube().get(API_VERSION, "FragranceRelease", namespace, name)
    if found is None:
        raise click.ClickException(f"FragranceRelease {target} not found")
    spec = FragranceReleaseSpec.model_validate(found["spec"])
    client = Prometheus(prometheus)
    try:
        result = evaluate(client, name, namespace, spec, track)
    finally:
        client.close()
    report = {
        "release": f"{namespace}/{name}",
        "track": track,
        "prometheus": prometheus,
        "seconds": round(result.seconds, 4),
        **asdict(result.verdict),
    }
    text = json.dumps(report, indent=2, default=str)
    if output:
        output.write_text(text + "\n")
    click.echo(text)
    sys.exit(EXIT_CODES[result.verdict.decision])


@main.command("tuning-check")
@click.option("--policy", "target", required=True, help="NAMESPACE/NAME of the TuningPolicy.")
@_prometheus_option
def tuning_check(target: str, prometheus: str) -> None:
    """The 48-hour tuning verdict now. Exit 0 complete, 1 not yet."""
    from fragrance_api.crd import API_VERSION
    from fragrance_api.policy import TuningPolicySpec
    from fragrance_operator.adapters.prometheus import Prometheus

    from .adapters.kubernetes import Kube
    from .reconcile.policy import measure, releases_using
    from .tuning.verdict import judge

    namespace, _, name = target.rpartition("/")
    namespace = namespace or "default"
    kube = Kube()
    found = kube.get(API_VERSION, "TuningPolicy", namespace, name)
    if found is None:
        raise click.ClickException(f"TuningPolicy {namespace}/{name} not found")
    spec = TuningPolicySpec.model_validate(found.get("spec") or {})
    releases = [r["metadata"]["name"] for r in releases_using(kube, namespace, name)]
    client = Prometheus(prometheus)
    try:
        distribution, training = measure(client, releases)
    finally:
        client.close()
    verdict = judge(spec, distribution, training)
    click.echo(f"TuningPolicy {namespace}/{name} over releases: {', '.join(releases) or 'none'}")
    click.echo(f"  distribution: {distribution}")
    click.echo(
        f"  training: step {training.step}, entropy {training.entropy_coef}, "
        f"reward {training.reward_mean}, rollbacks {training.rollbacks}"
    )
    for reason in verdict.reasons:
        click.echo(f"  {'ok' if verdict.complete else 'not yet'}: {reason}")
    click.echo("TUNING COMPLETE" if verdict.complete else "TUNING NOT COMPLETE")
    sys.exit(0 if verdict.complete else 1)


@main.command()
@_release_option
@_prometheus_option
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def preflight(target: str, prometheus: str, output: str) -> None:
    """The T-1 checks before a release. Exit 0 when every check passes, else 1."""
    from dataclasses import asdict

    from fragrance_operator.adapters.prometheus import Prometheus

    from .adapters.kubernetes import Kube
    from .drivers import preflight as checks

    namespace, _, name = target.rpartition("/")
    client = Prometheus(prometheus)
    try:
        findings = checks.run(Kube(), client, namespace or "default", name)
    finally:
        client.close()
    if output == "json":
        click.echo(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(f"{'PASS' if finding.ok else 'FAIL'}  {finding.name:<28}{finding.message}")
    sys.exit(0 if all(f.ok for f in findings) else 1)


def _say(message: str) -> None:
    click.echo(message, err=True)


if __name__ == "__main__":
    main()
