"""Which Serve applications a release needs now: a pure plan over what is deployed.

A release's two versions live in two slots, ``<release>-a`` and ``<release>-b``. A version
is an image and, where a TuningPolicy's serving settings go through the canary, the digest
of the settings its ingress runs (live, in its user_config): a canary of new settings is the
stable image in the other slot with them, and stable keeps its own until the promotion. The
router's ``stable`` route says which slot is stable; the other is the canary's. A promotion
swaps the roles in one write: the router's stable route moves to the canary's slot with
weight 0, and that application's ``track`` (live, in its user_config) becomes stable. No
replica restarts and no request goes to an application that is being rebuilt; the old
version's application is removed once the router deployed before this tick sent it nothing.

The router's routes are the record of which application has which role, so an operator
upgraded from the names before slots (``<release>-stable``, ``<release>-canary``) goes on
with those two names as its slots.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from fragrance_api import serve_app
from fragrance_api.policy import TuningPolicySpec, settings_digest
from fragrance_operator.canary.machine import Rollout

App = dict[str, Any]
#: (application name, track) -> the application as the spec wants it
Build = Callable[[str, str], App]


@dataclass(frozen=True)
class Roles:
    stable: str
    canary: str


def roles(release: str, router: App | None) -> Roles:
    """The applications the router names: its stable route, and its canary route."""
    a, b = serve_app.app_name(release, "a"), serve_app.app_name(release, "b")
    config = router_config(router)
    stable = str(config.get("stable") or "").lstrip("/") or a
    canary = str(config.get("canary") or "").lstrip("/")
    return Roles(stable, canary if canary and canary != stable else b if stable == a else a)


def image(app: App | None) -> str | None:
    image: str | None = (app or {}).get("args", {}).get("image")
    return image


def live_policy(app: App | None) -> dict[str, Any] | None:
    """The TuningPolicy the application's ingress runs (its user_config)."""
    for deployment in (app or {}).get("deployments") or []:
        if deployment.get("name") == serve_app.INGRESS:
            policy: dict[str, Any] = (deployment.get("user_config") or {}).get("policy") or {}
            return policy
    return None


def digest(policy: dict[str, Any] | None) -> str | None:
    """The serving settings' digest of a policy's wire form (None: none, or not valid)."""
    if policy is None:
        return None
    try:
        return settings_digest(TuningPolicySpec.model_validate(policy))
    except ValidationError:
        return None


def runs(app: App | None, wanted_image: str | None, settings: str | None) -> bool:
    """Does the application run this version: the image, and the settings where they are
    canaried (``settings`` None: whatever it runs)?"""
    if app is None or image(app) != wanted_image:
        return False
    return settings is None or digest(live_policy(app)) == settings


def weight(router: App | None) -> int | None:
    config = router_config(router)
    return int(config.get("weight", 0)) if config else None


def weighted(
    deployed: Mapping[str, App],
    release: str,
    router_name: str,
    spec_image: str,
    wanted: int,
    upstream: str,
    mirror: int = 0,
    spec_settings: str | None = None,
) -> dict[str, App]:
    """The applications with the router sending ``wanted`` percent to the canary's slot
    (and mirroring ``mirror`` percent of stable's requests to it).

    Nothing goes there once the stable slot serves the spec (its image, and its settings
    where they are canaried): after a swap that slot holds the version being retired, and
    the rollout goes on asking for 100% until it sees the new stable Ready.
    """
    slot = roles(release, deployed.get(router_name))
    retired = runs(deployed.get(slot.stable), spec_image, spec_settings)
    split, copied = (0, 0) if retired else (wanted, mirror)
    router = serve_app.router(router_name, upstream, slot.stable, slot.canary, split, copied)
    return {**deployed, router_name: router}


def plan(
    deployed: Mapping[str, App],
    release: str,
    router_name: str,
    r: Rollout,
    spec_image: str,
    build: Build,
    policy: dict[str, Any],
    upstream: str,
    running: Collection[str] = (),
    router_settled: bool = True,
) -> dict[str, App]:
    """Every application on the cluster after this tick (others' are kept as they are).

    ``running``: the applications Serve reports RUNNING. ``router_settled``: the deployed
    router config is in effect (its replica says so) for longer than a request may take, so
    no request sent under older routes is still being answered.
    Nothing the router in effect may send a request to is removed or rebuilt; a live
    setting (policy, faults, track) is applied at once, which Serve does in place, except
    that stable keeps its own serving settings while others are canaried.
    """
    apps = dict(deployed)
    router = apps.get(router_name)
    slot = roles(release, router)

    def idle(name: str) -> bool:
        return router_settled and not _sends_to(router, name)

    # Whatever the spec says now: a promotion that began finishes (the rollout waits for it).
    swap = (
        r.stable_image is not None
        and not runs(apps.get(slot.stable), r.stable_image, r.stable_settings)
        and runs(apps.get(slot.canary), r.stable_image, r.stable_settings)
        and slot.canary in running
    )
    if swap:
        slot = Roles(stable=slot.canary, canary=slot.stable)
    stable = apps.get(slot.stable)
    if spec_image == r.stable_image and (
        stable is None or (image(stable) != r.stable_image and idle(slot.stable))
    ):
        # The first version, or one whose router sends its slot nothing.
        apps[slot.stable] = build(slot.stable, "stable")
    elif stable is not None:
        # An older version cannot be rebuilt from this spec: its config is kept as deployed.
        own = r.stable_settings in (None, digest(policy))
        kept = policy if own else live_policy(stable) or policy
        apps[slot.stable] = serve_app.with_live(stable, kept, "stable")
    canary_wanted = (
        r.canary_active
        and not r.canary_held
        and spec_image == r.canary_image
        and not runs(apps.get(slot.stable), r.canary_image, r.canary_settings)
    )
    if canary_wanted:
        current, wanted = apps.get(slot.canary), build(slot.canary, "canary")
        if current is None or _same_code(current, wanted) or idle(slot.canary):
            apps[slot.canary] = wanted
    keep = {slot.stable, slot.canary} if canary_wanted else {slot.stable}
    for name in _owned(release) - keep:
        if name in apps and r.weight == 0 and idle(name):
            del apps[name]
    deployed_weight = weight(router)
    split = 0 if swap else r.weight if deployed_weight is None else deployed_weight
    copied = 0 if swap or router is None else int(router_config(router).get("mirror", 0))
    apps[router_name] = serve_app.router(
        router_name, upstream, slot.stable, slot.canary, split, copied
    )
    return apps


def in_effect(live: Mapping[str, Any] | None, router: App | None) -> bool:
    """Does the router's replica (``live``: what it says it does) use the deployed config?

    Serve may report the router RUNNING before its replica has taken new routes; until it
    has, the old routes may still send requests anywhere they named.
    """
    config = router_config(router)
    if live is None or not config:
        return False
    routes = {"stable": config.get("stable"), "canary": config.get("canary")}
    return (
        live.get("routes") == routes
        and live.get("weight") == config.get("weight")
        and live.get("mirror", 0) == config.get("mirror", 0)
    )


def changed(before: Mapping[str, App], after: Mapping[str, App]) -> bool:
    return set(before) != set(after) or any(
        not same(before.get(name) or {}, app) for name, app in after.items()
    )


def _same_code(deployed: App, wanted: App) -> bool:
    """Serve keeps the replicas: only live settings (user_config) differ, if anything."""
    return all(deployed.get(k) == wanted.get(k) for k in ("import_path", "route_prefix", "args"))


def same(deployed: App, wanted: App) -> bool:
    """Equal in what we set (Serve adds defaults to what it reports back)."""
    if not _same_code(deployed, wanted):
        return False
    have = {d.get("name"): d.get("user_config") for d in deployed.get("deployments") or []}
    return all(have.get(d["name"]) == d["user_config"] for d in wanted["deployments"])


def _owned(release: str) -> set[str]:
    return {serve_app.app_name(release, s) for s in ("a", "b", "stable", "canary")}


def _sends_to(router: App | None, name: str) -> bool:
    """Did the deployed router route anything to ``name``?"""
    config = router_config(router)
    if config.get("stable") == f"/{name}":
        return True
    carried = int(config.get("weight", 0)) > 0 or int(config.get("mirror", 0)) > 0
    return config.get("canary") == f"/{name}" and carried


def router_config(router: App | None) -> dict[str, Any]:
    for deployment in (router or {}).get("deployments") or []:
        if deployment.get("name") == serve_app.ROUTER:
            return dict(deployment.get("user_config") or {})
    return {}
