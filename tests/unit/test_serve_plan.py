"""The rayServe provider's plan, pure: which applications each tick writes.

``Serve`` stands for a Ray Serve that takes time: an application written with new code is
not RUNNING until ``start()``, and the router's new routes are not in effect until
``apply()``; a live setting (user_config) changes a running application in place. Each
tick writes the weight, then the plan, as the driver does. What must hold: a promotion is
one write that swaps the roles (nothing rebuilt), and the router in effect only ever sends
a request to an application that is deployed and RUNNING.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fragrance_api import serve_app
from fragrance_operator.builders.serve_plan import (
    App,
    digest,
    image,
    in_effect,
    live_policy,
    plan,
    roles,
    same,
    weighted,
)
from fragrance_operator.canary.machine import (
    Action,
    Gate,
    Observation,
    Plan,
    Rollout,
    advance,
    weight_set,
)

RELEASE, ROUTER, UPSTREAM = "r", "router", "http://127.0.0.1:8000"
OTHER = {"name": "other-app", "args": {"image": "x"}, "deployments": []}


def build_for(version: str, policy: dict[str, Any] | None = None) -> Any:
    def build(name: str, track: str) -> App:
        args = {"release": RELEASE, "version": version, "image": f"img:{version}", "models": []}
        return serve_app.application(name, f"/{name}", args, policy or {}, {}, track)

    return build


def _code(app: App) -> tuple[Any, ...]:
    return app.get("import_path"), app.get("route_prefix"), app.get("args")


@dataclass
class Serve:
    deployed: dict[str, App] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    in_effect: dict[str, Any] = field(default_factory=dict)  # the router's routes now

    def write(self, apps: dict[str, App]) -> None:
        for name in set(self.deployed) | set(apps):
            old, new = self.deployed.get(name), apps.get(name)
            if new is None or old is None or _code(old) != _code(new):
                self.running.discard(name)  # removed, or (re)built: starting
        self.deployed = apps

    def start(self) -> None:
        self.running = set(self.deployed)

    def apply(self) -> None:
        self.in_effect = router(self)

    def settle(self) -> Serve:
        self.start()
        self.apply()
        return self

    def tick(self, r: Rollout, version: str, policy: dict[str, Any] | None = None) -> Serve:
        """``policy``: the TuningPolicy now, its serving settings canaried where given."""
        spec_image, settings = f"img:{version}", digest(policy)
        self.write(
            weighted(self.deployed, RELEASE, ROUTER, spec_image, r.weight, UPSTREAM, 0, settings)
        )
        settled = self.in_effect == router(self)
        apps = plan(
            self.deployed, RELEASE, ROUTER, r, spec_image, build_for(version, policy),
            policy or {}, UPSTREAM, self.running | {ROUTER}, settled,
        )  # fmt: skip
        self.write(apps)
        return self

    def ready(self, track: str, wanted: str | None) -> bool:
        slot = roles(RELEASE, self.deployed.get(ROUTER))
        name = slot.stable if track == "stable" else slot.canary
        return name in self.running and wanted is not None and image(self.app(name)) == wanted

    def app(self, name: str) -> App | None:
        return self.deployed.get(name)

    def sent_to(self) -> set[str]:
        """The applications the router in effect may send a request to."""
        routes = self.in_effect
        if not routes:
            return set()
        targets = {routes["stable"].lstrip("/")} if routes["weight"] < 100 else set()
        return targets | ({routes["canary"].lstrip("/")} if routes["weight"] > 0 else set())


def router(serve: Serve) -> dict[str, Any]:
    app = serve.deployed.get(ROUTER)
    return dict(app["deployments"][0]["user_config"]) if app else {}


def track(app: App | None) -> str:
    (ingress,) = [d for d in (app or {})["deployments"] if d["name"] == serve_app.INGRESS]
    return str(ingress["user_config"]["track"])


V1 = Rollout(phase="Succeeded", stable_version="v1", stable_image="img:v1", stable_hash="1")
V2 = replace(
    V1, phase="Progressing", canary_version="v2", canary_image="img:v2", canary_hash="2",
    step=1, weight=5,
)  # fmt: skip
PROMOTING = replace(
    V2, promoting=True, weight=100, stable_version="v2", stable_image="img:v2", stable_hash="2"
)
PROMOTED = replace(PROMOTING, phase="Succeeded", promoting=False, weight=0)


def test_first_version_goes_to_slot_a_behind_the_router() -> None:
    serve = Serve(deployed={"other-app": OTHER}).tick(V1, "v1")
    assert set(serve.deployed) == {"other-app", "r-a", ROUTER}
    assert serve.deployed["other-app"] is OTHER, "another release's application is kept"
    assert router(serve) == {"stable": "/r-a", "canary": "/r-b", "weight": 0}
    assert track(serve.app("r-a")) == "stable"


def test_a_promotion_swaps_roles_in_one_write_and_rebuilds_nothing() -> None:
    serve = Serve().tick(V1, "v1").settle().tick(V2, "v2").settle()
    assert router(serve) == {"stable": "/r-a", "canary": "/r-b", "weight": 5}
    assert (image(serve.app("r-b")), track(serve.app("r-b"))) == ("img:v2", "canary")
    canary = serve.app("r-b")

    serve.tick(PROMOTING, "v2")
    assert router(serve) == {"stable": "/r-b", "canary": "/r-a", "weight": 0}
    assert "r-b" in serve.running, "only live settings changed: Serve keeps its replicas"
    assert not same(canary or {}, serve.app("r-b") or {})
    assert track(serve.app("r-b")) == "stable"
    assert image(serve.app("r-a")) == "img:v1", "v1 stays until the router leaves it"

    # The rollout asks for 100% until it sees the new stable Ready: nothing goes to v1.
    serve.tick(PROMOTING, "v2")
    assert router(serve)["weight"] == 0
    assert serve.tick(PROMOTED, "v2").app("r-a"), "the swap is not in effect yet"
    serve.apply()
    assert set(serve.tick(PROMOTED, "v2").deployed) == {"r-b", ROUTER}


def test_the_next_canary_takes_the_free_slot() -> None:
    serve = Serve().tick(V1, "v1").settle()
    for r in (V2, PROMOTING, PROMOTED, PROMOTED):
        serve.tick(r, "v2").settle()
    v3 = replace(
        PROMOTED, phase="Progressing", canary_version="v3", canary_image="img:v3", weight=5
    )
    serve.tick(v3, "v3")
    assert (image(serve.app("r-a")), track(serve.app("r-a"))) == ("img:v3", "canary")
    assert router(serve) == {"stable": "/r-b", "canary": "/r-a", "weight": 5}


def test_a_canary_is_rebuilt_or_removed_only_once_the_router_sends_it_nothing() -> None:
    serve = Serve().tick(V1, "v1").settle().tick(V2, "v2").settle()
    v3 = replace(V2, canary_version="v3", canary_image="img:v3", weight=0)
    serve.tick(v3, "v3")
    assert image(serve.app("r-b")) == "img:v2", "5% still goes there"
    serve.apply()
    assert image(serve.tick(v3, "v3").app("r-b")) == "img:v3"

    rolled_back = replace(v3, phase="RolledBack")
    serve.settle().tick(replace(v3, weight=5), "v3").settle()
    serve.tick(rolled_back, "v3")
    assert "r-b" in serve.deployed, "the router in effect still sends it 5%"
    serve.apply()
    assert set(serve.tick(rolled_back, "v3").deployed) == {"r-a", ROUTER}


def test_a_canary_held_by_the_vram_floor_is_not_deployed() -> None:
    held = replace(V2, weight=0, phase="Paused", pause_reason="ScaleUpBlocked")
    assert held.canary_held
    serve = Serve().tick(V1, "v1").settle().tick(held, "v2")
    assert set(serve.deployed) == {"r-a", ROUTER}


def test_names_before_slots_go_on_as_the_slots() -> None:
    serve = Serve(
        deployed={
            "r-stable": build_for("v1")("r-stable", "stable"),
            "r-canary": build_for("v2")("r-canary", "canary"),
            ROUTER: serve_app.router(ROUTER, UPSTREAM, "r-stable", "r-canary", 25),
        }
    ).settle()
    serve.tick(replace(V2, weight=25), "v2")
    assert set(serve.deployed) == {"r-stable", "r-canary", ROUTER}
    assert serve.running == {"r-stable", "r-canary", ROUTER}, "nothing rebuilt"
    serve.tick(PROMOTING, "v2")
    assert router(serve) == {"stable": "/r-canary", "canary": "/r-stable", "weight": 0}
    assert set(serve.settle().tick(PROMOTED, "v2").deployed) == {"r-canary", ROUTER}


PLAN = Plan(
    version="v2", image="img:v2", spec_hash="2", steps=(5, 50, 100), step_interval=10,
    analysis_interval=10, progress_deadline=10_000,
)  # fmt: skip
SPECS = {
    "new-spec": replace(PLAN, version="v3", image="img:v3", spec_hash="3"),
    "revert-spec": replace(PLAN, version="v1", image="img:v1", spec_hash="1"),
    "v2-spec": PLAN,
}
EVENTS = st.sampled_from(
    ["tick", "GO", "NO-GO", "start", "apply", *SPECS, Action.PROMOTE, Action.ABORT, Action.RETRY]
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(EVENTS, max_size=60))
def test_the_router_in_effect_only_sends_to_running_applications(events: list[Any]) -> None:
    """Machine and plan together, whatever the order of gates, spec edits, user actions and
    Serve's own pace: no request is routed to an application that is gone or starting."""
    serve, r, spec, now = Serve().tick(V1, "v1").settle(), V1, PLAN, 0.0
    for event in events:
        if event == "start":
            serve.start()
        elif event == "apply":
            serve.apply()
        else:
            now += 11
            spec = SPECS.get(event, spec)
            gate = Gate(event, evaluated_at=now) if event in ("GO", "NO-GO") else None
            obs = Observation(
                now=now,
                canary_ready=serve.ready("canary", r.canary_image),
                stable_ready=serve.ready("stable", r.stable_image),
                gate=gate,
                action=event if isinstance(event, Action) else None,
            )
            r = advance(r, spec, obs).rollout
            serve.tick(r, spec.version)
            r = weight_set(r, now) or r
        gone = serve.sent_to() - (serve.running & set(serve.deployed))
        assert not gone, f"after {event}: the router sends requests to {gone} ({r})"
    for _ in range(4):  # Serve catches up: a promotion that began always finishes
        now += 11
        serve.settle()
        obs = Observation(
            now=now,
            canary_ready=serve.ready("canary", r.canary_image),
            stable_ready=serve.ready("stable", r.stable_image),
        )
        r = advance(r, spec, obs).rollout
        serve.tick(r, spec.version)
    assert not r.promoting, f"a promotion never finished: {r}"


def test_a_new_spec_during_a_promotion_lets_it_finish_then_starts_its_canary() -> None:
    serve = Serve().tick(V1, "v1").settle().tick(V2, "v2").settle()
    r = replace(PROMOTING, weight_set_at=1.0)
    v3 = SPECS["new-spec"]
    for now in (100.0, 111.0, 122.0, 133.0):
        obs = Observation(
            now=now,
            canary_ready=serve.ready("canary", r.canary_image),
            stable_ready=serve.ready("stable", r.stable_image),
        )
        r = advance(r, v3, obs).rollout
        serve.tick(r, v3.version).settle()
    assert (r.phase, r.stable_version, r.canary_version) == ("Progressing", "v2", "v3")
    assert router(serve)["stable"] == "/r-b"
    assert image(serve.app("r-a")) == "img:v3"


def test_the_router_is_in_effect_only_once_its_replica_says_so() -> None:
    deployed = serve_app.router(ROUTER, UPSTREAM, "r-b", "r-a", 0)
    live = {"weight": 0, "routes": {"stable": "/r-b", "canary": "/r-a"}}
    assert in_effect(live, deployed)
    assert not in_effect({**live, "routes": {"stable": "/r-a", "canary": "/r-b"}}, deployed)
    assert not in_effect({**live, "weight": 5}, deployed)
    assert not in_effect(None, deployed), "no answer: not known to be in effect"


def test_a_mirroring_router_keeps_its_mirror_and_sends_to_the_canary() -> None:
    stable = build_for("v1")("r-a", "stable")
    canary = build_for("v2")("r-b", "canary")
    deployed = {
        "r-a": stable,
        "r-b": canary,
        ROUTER: serve_app.router(ROUTER, UPSTREAM, "r-a", "r-b", 0),
    }
    mirrored = weighted(deployed, RELEASE, ROUTER, "img:v2", 0, UPSTREAM, mirror=20)
    config = mirrored[ROUTER]["deployments"][0]["user_config"]
    assert (config["weight"], config["mirror"]) == (0, 20)
    live = {"weight": 0, "routes": {"stable": "/r-a", "canary": "/r-b"}}
    assert not in_effect(live, mirrored[ROUTER]), "the replica does not mirror yet"
    assert in_effect({**live, "mirror": 20}, mirrored[ROUTER])
    shadowing = Rollout(phase="Progressing", stable_version="v1", stable_image="img:v1",
                        canary_version="v2", canary_image="img:v2", mirror=20)  # fmt: skip
    # The router mirrors to the canary: it is not idle, so nothing may remove or rebuild it.
    kept = plan(mirrored, RELEASE, ROUTER, replace(shadowing, phase="RolledBack", mirror=0),
                "img:v2", build_for("v2"), {}, UPSTREAM, {"r-a", "r-b", ROUTER})  # fmt: skip
    assert "r-b" in kept
    assert kept[ROUTER]["deployments"][0]["user_config"]["mirror"] == 20


OLD = {"jsonGuard": {"maxRetries": 3}}
NEW = {"jsonGuard": {"maxRetries": 0}}
S1 = replace(V1, stable_settings=digest(OLD))
SETTINGS = replace(
    S1, phase="Progressing", canary_version="v1", canary_image="img:v1", canary_hash="1n",
    canary_settings=digest(NEW), step=1, weight=5,
)  # fmt: skip


def _policy(serve: Serve, name: str) -> dict[str, Any] | None:
    return live_policy(serve.app(name))


def test_a_settings_canary_runs_the_stable_image_beside_stable_which_keeps_its_own() -> None:
    serve = Serve().tick(S1, "v1", OLD).settle()
    assert _policy(serve, "r-a") == OLD
    serve.tick(SETTINGS, "v1", NEW).settle()
    assert router(serve) == {"stable": "/r-a", "canary": "/r-b", "weight": 5}
    assert (image(serve.app("r-b")), track(serve.app("r-b"))) == ("img:v1", "canary")
    assert _policy(serve, "r-b") == NEW
    assert _policy(serve, "r-a") == OLD, "stable keeps its settings while the new are judged"

    promoting = replace(
        SETTINGS, promoting=True, weight=100, stable_hash="1n", stable_settings=digest(NEW)
    )
    serve.tick(promoting, "v1", NEW)
    assert router(serve) == {"stable": "/r-b", "canary": "/r-a", "weight": 0}, "one swap"
    assert track(serve.app("r-b")) == "stable"
    assert "r-b" in serve.running
    serve.tick(promoting, "v1", NEW)
    assert router(serve)["weight"] == 0, "nothing back to the old settings"
    promoted = replace(promoting, phase="Succeeded", promoting=False, weight=0)
    serve.apply()
    assert set(serve.tick(promoted, "v1", NEW).deployed) == {"r-b", ROUTER}


def test_a_settings_canary_rolled_back_leaves_stable_as_it_was() -> None:
    serve = Serve().tick(S1, "v1", OLD).settle().tick(SETTINGS, "v1", NEW).settle()
    rolled_back = replace(SETTINGS, phase="RolledBack", weight=0)
    serve.tick(rolled_back, "v1", NEW).apply()
    serve.tick(rolled_back, "v1", NEW)
    assert set(serve.deployed) == {"r-a", ROUTER}, "the canary's application removed"
    assert router(serve) == {"stable": "/r-a", "canary": "/r-b", "weight": 0}
    assert _policy(serve, "r-a") == OLD, "stable never had the settings"
