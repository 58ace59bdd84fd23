"""The split written into the user's HTTPRoute, and the rules pinned by X-Fragrance-Track."""

from __future__ import annotations

from typing import Any

from fragrance_operator.builders.routes import weighted_http_route

USERS = {
    "metadata": {"name": "brief-api", "namespace": "prod"},
    "spec": {
        "parentRefs": [{"name": "edge"}],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}],
                "timeouts": {"request": "40s"},
            },
            {"backendRefs": []},
        ],
    },
}


def _targets(rule: dict[str, Any]) -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def test_at_weight_0_every_rule_goes_to_stable_alone_and_nothing_is_pinned() -> None:
    rules = weighted_http_route(USERS, "brief", 0)["spec"]["rules"]
    assert [_targets(rule) for rule in rules] == [{"brief-stable": 100}] * 2
    assert rules[0]["timeouts"] == {"request": "40s"}, "the user's fields are kept"
    assert rules[1]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_while_the_canary_takes_traffic_a_request_naming_its_track_is_pinned_to_it() -> None:
    route = weighted_http_route(USERS, "brief", 25)
    rules = route["spec"]["rules"]
    assert [_targets(rule) for rule in rules[:2]] == [{"brief-stable": 75, "brief-canary": 25}] * 2
    pins = rules[2:]
    assert [_targets(rule) for rule in pins] == [
        {"brief-stable": 1}, {"brief-stable": 1}, {"brief-canary": 1}, {"brief-canary": 1}
    ]  # fmt: skip
    canary_v1 = pins[2]["matches"][0]
    assert canary_v1["path"] == {"type": "PathPrefix", "value": "/v1"}
    assert canary_v1["headers"] == [
        {"type": "Exact", "name": "X-Fragrance-Track", "value": "canary"}
    ]
    assert pins[2]["timeouts"] == {"request": "40s"}
    # Written again over itself: the same rules (no write), at another weight the pins move.
    assert weighted_http_route(route, "brief", 25) == route
    again = weighted_http_route(route, "brief", 50)["spec"]["rules"]
    assert len(again) == 6
    assert _targets(again[0]) == {"brief-stable": 50, "brief-canary": 50}
    # Promoted or rolled back: the pins go.
    assert len(weighted_http_route(route, "brief", 0)["spec"]["rules"]) == 2


def test_no_pins_where_they_would_cross_the_routes_rule_limit() -> None:
    many = {
        "spec": {
            "rules": [
                {"matches": [{"path": {"type": "Exact", "value": f"/{i}"}}]} for i in range(6)
            ]
        }
    }
    rules = weighted_http_route(many, "brief", 5)["spec"]["rules"]
    assert len(rules) == 6
    assert all(_targets(rule) == {"brief-stable": 95, "brief-canary": 5} for rule in rules)
