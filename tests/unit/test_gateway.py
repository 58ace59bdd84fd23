"""The local Gateway's configuration, and the bounds a measured split is held to."""

from __future__ import annotations

from pathlib import Path

from fragrance_dev.cluster import gateway
from tests.e2e.gateway import binomial_interval

PORTS = {"gateway": 31080, "gateway-ping": 31081}


def test_the_gateways_listener_is_served_by_the_entry_point_on_its_port() -> None:
    config = gateway.static_config(PORTS)
    listener = gateway.manifests(PORTS["gateway"])[2]["spec"]["listeners"][0]
    # Traefik matches a listener to the entry point whose address ends in ":<port>".
    assert config["entryPoints"]["web"]["address"].endswith(f":{listener['port']}")
    assert listener["allowedRoutes"] == {"namespaces": {"from": "All"}}
    assert config["providers"]["providersThrottleDuration"] == gateway.THROTTLE
    assert gateway.parent_ref()["sectionName"] == listener["name"]


def test_traefik_keeps_the_state_directory_on_its_command_line() -> None:
    argv = gateway.command(Path("/bin/traefik"), Path("/s/kubeconfig"), Path("/s/gw/t.yaml"))
    assert argv[1] == "KUBECONFIG=/s/kubeconfig"
    assert argv[-1] == "--configFile=/s/gw/t.yaml"


def test_a_gateway_is_programmed_only_when_its_condition_is_true() -> None:
    assert not gateway.programmed({})
    assert not gateway.programmed(
        {"status": {"conditions": [{"type": "Programmed", "status": "False"}]}}
    )
    assert gateway.programmed(
        {"status": {"conditions": [{"type": "Programmed", "status": "True"}]}}
    )


def test_the_binomial_interval_is_exact_at_its_edges() -> None:
    assert binomial_interval(400, 0.1) == (25, 56)  # mean 40, sd 6
    assert binomial_interval(400, 0.0) == (0, 0)
    assert binomial_interval(400, 1.0) == (400, 400)
    low, high = binomial_interval(2000, 0.5)  # comb(2000, 1000) overflows a float
    assert low < 1000 < high
