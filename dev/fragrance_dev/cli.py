"""``fragrance-dev``: the project's own tooling (never in an image): the CRDs generated from
the models, the local control plane and the demo."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the demo modules are imported when a demo runs, not for every command
    from fragrance_dev.demo.client import Client
    from fragrance_dev.demo.follow import Outcome


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Development tools of the fragrance operator."""


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("crds"),
    show_default=True,
    help="Directory the CRD manifests are written to.",
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/api-reference.md"),
    show_default=True,
    help="The generated API reference.",
)
@click.option(
    "--settings",
    "settings_doc",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/operator-settings.md"),
    show_default=True,
    help="The generated table of the operator's settings.",
)
@click.option("--check", is_flag=True, help="Only report whether the files are up to date.")
def crds(out_dir: Path, reference: Path, settings_doc: Path, check: bool) -> None:
    """Generate the CRDs and the API reference from the API models, and the operator's
    settings table from its settings model."""
    from fragrance_api.generation import generate
    from fragrance_operator.settings import table

    files = {**generate.generated(out_dir, reference), settings_doc: table()}
    # The chart ships the same CRDs (Helm installs a chart's crds/ on its first install).
    chart = Path("charts/fragrance-operator/crds")
    files |= {chart / p.name: text for p, text in files.items() if p.parent == out_dir}
    if check:
        stale = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
        for path in stale:
            click.echo(f"out of date: {path} (run `make crds`)", err=True)
        sys.exit(1 if stale else 0)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}")


@main.group()
def cluster() -> None:
    """The local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)."""


@cluster.command("build")
def cluster_build() -> None:
    """Build the missing control-plane binaries from their pinned Go modules."""
    from fragrance_dev.cluster import Layout
    from fragrance_dev.cluster.toolchain import ensure_tools

    for name, path in ensure_tools(Layout.default(), progress=_say).items():
        click.echo(f"{name}: {path}")


@cluster.command("up")
def cluster_up() -> None:
    """Start the control plane in the background, or reuse the running one."""
    from fragrance_dev.cluster import LocalCluster

    cluster = LocalCluster(progress=_say)
    info = cluster.up()
    click.echo(f"export KUBECONFIG={info.kubeconfig}")
    click.echo(f"export PATH={info.bin_dir}:$PATH")
    if cluster.real_node:
        click.echo(f"# the Gateway (Traefik): http://127.0.0.1:{info.ports['gateway']}")


@cluster.command("down")
def cluster_down() -> None:
    """Stop every process of the control plane and remove its state."""
    from fragrance_dev.cluster import LocalCluster

    LocalCluster(progress=_say).down()


@cluster.command("status")
def cluster_status() -> None:
    """Print the running control plane's details as JSON (exit 1 when it is not running)."""
    from dataclasses import asdict

    from fragrance_dev.cluster import LocalCluster

    info = LocalCluster(progress=_say).running()
    if info is None:
        click.echo("the local control plane is not running", err=True)
        sys.exit(1)
    click.echo(json.dumps(asdict(info), indent=2))


@cluster.command("kubeconfig")
@click.option("--namespace", "-n", required=True, help="Namespace of the ServiceAccount.")
@click.option("--service-account", required=True, help="ServiceAccount to act as.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--duration", default="24h", show_default=True, help="Token lifetime.")
def cluster_kubeconfig(namespace: str, service_account: str, out: Path, duration: str) -> None:
    """Write a kubeconfig that acts as a ServiceAccount (to prove RBAC by running under it)."""
    from fragrance_dev.cluster import LocalCluster

    path = LocalCluster(progress=_say).mint_kubeconfig(namespace, service_account, out, duration)
    click.echo(f"wrote {path}")


@main.command()
@click.option("--target", "targets", multiple=True, type=click.Choice(["operator", "serving"]),
              help="Build only this target (repeatable; default: both).")  # fmt: skip
def images(targets: tuple[str, ...]) -> None:
    """Build the Dockerfile's targets with buildah (cached) and load them into the real node."""
    from fragrance_dev.cluster import LocalCluster
    from fragrance_dev.images import build_images, load_images
    from fragrance_dev.images.build import TARGETS

    local = LocalCluster(progress=_say)
    built = build_images(local.layout.root, _say, targets or TARGETS)
    node = local.node()
    if node.running():
        load_images(node.ctr(), built, _say)
    else:
        _say("the real node is not running: run `make images` again once it is to load them")
    for image in built:
        click.echo(f"{image.image}  {image.size_mib:,.0f} MiB  {image.archive}")


@main.command()
@click.option(
    "--models", type=click.Path(file_okay=False, path_type=Path), default=Path("models"),
    show_default=True, help="Trained weights (make models).",
)  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"))
@click.option("--fast", is_flag=True, help="Two shorter steps (the e2e test's pace).")
def demo(models: Path, out: Path, fast: bool) -> None:
    """The local demo: v1 stable, v2 evaluated, shadowed and promoted through the gate, a
    TuningPolicy edit canaried on v2 and promoted, a faulty v3 rolled back, a prompt-blind
    v4 rolled back by its evaluation before any traffic."""
    from dataclasses import replace

    from fragrance_dev.demo.scenario import PLANNED_LOCAL, DemoConfig, run

    if not (models / "creative.pt").exists():
        raise click.ClickException(f"no trained models in {models}: run `make models` first")

    def stop(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM: the same clean stop as Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    config = DemoConfig(models_dir=models, evaluation=True, shadow=50)
    if fast:
        config = replace(config, steps=(50, 100), step_interval="8s", analysis_interval="8s")
    try:
        outcomes, client = run(config, out, say=_say)
    except KeyboardInterrupt:
        _say("stopped; every process it started is gone")
        sys.exit(130)
    _require_planned(outcomes, client, out, PLANNED_LOCAL)


@main.command("demo-cluster")
@click.option(
    "--models", type=click.Path(file_okay=False, path_type=Path), default=Path("models"),
    show_default=True, help="Trained weights (make models), mounted into the serving pods.",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-cluster-out")
)
def demo_cluster(models: Path, out: Path) -> None:
    """The product as a cluster runs it: the chart's operator pods, serving pods from the
    project's image on the real node, a client through the Gateway; v2 promoted, v3 rolled
    back."""
    from fragrance_dev.cluster.layout import project_root
    from fragrance_dev.demo import on_cluster
    from fragrance_dev.demo.scenario import DemoConfig

    if not (models / "creative.pt").exists():
        raise click.ClickException(f"no trained models in {models}: run `make models` first")

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        outcomes, client = on_cluster.run(
            DemoConfig(models_dir=models), project_root(), out, say=_say
        )
    except KeyboardInterrupt:
        _say("stopped; the demo's namespace stays for inspection (the cluster keeps running)")
        sys.exit(130)
    _require_planned(outcomes, client, out)


def _require_planned(
    outcomes: list[Outcome], client: Client, out: Path, planned: dict[str, str] | None = None
) -> None:
    """Exit non-zero, saying what happened, unless the demo went as planned."""
    from fragrance_dev.demo.report import as_planned
    from fragrance_dev.demo.scenario import PLANNED

    planned = planned or PLANNED
    if not as_planned(outcomes, planned, client):
        phases = {o.version: o.phase for o in outcomes}
        raise click.ClickException(
            f"the demo did not go as planned: {phases}, {client.counts.lost} requests lost "
            f"(planned: {planned}, none lost); see {out / 'summary.json'}"
        )


def _say(message: str) -> None:
    click.echo(message, err=True)


if __name__ == "__main__":
    main()
