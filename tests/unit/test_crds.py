"""The generated CRDs: in sync with the models, structural, and described for kubectl explain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fragrance_api import crd
from fragrance_api.generation import crds, generate
from fragrance_operator.settings import table
from tests.helpers import ROOT

FORBIDDEN = {"$ref", "$defs", "const", "title", "anyOf", "allOf", "oneOf"}


def _walk(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        yield path, schema
        for name, sub in schema.get("properties", {}).items():
            yield from _walk(sub, f"{path}.{name}")
        if isinstance(schema.get("items"), dict):
            yield from _walk(schema["items"], f"{path}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def _root_schema(kind: crd.Kind) -> dict[str, Any]:
    manifest = crds.crd_manifest(kind)
    schema: dict[str, Any] = manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_crds_directory_is_in_sync_with_the_models() -> None:
    stale = generate.stale(ROOT / "crds", ROOT / "docs" / "api-reference.md")
    assert stale == [], "run `make crds` and commit the result"


def test_the_settings_table_is_in_sync_with_the_settings_model() -> None:
    written = (ROOT / "docs" / "operator-settings.md").read_text()
    assert written == table(), "run `make crds` and commit the result"


@pytest.mark.parametrize("kind", crd.KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind: crd.Kind) -> None:
    for path, node in _walk(_root_schema(kind)):
        assert not FORBIDDEN & node.keys(), f"{path} carries {FORBIDDEN & node.keys()}"
        assert node.get("additionalProperties") is not False, path
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(bound, True), bool), f"{path}.{bound} must be a boolean"
        if path and not node.get("x-kubernetes-int-or-string"):
            assert "type" in node, f"{path} has no type"


@pytest.mark.parametrize("kind", crd.KINDS, ids=lambda k: k.kind)
def test_every_field_is_described(kind: crd.Kind) -> None:
    root = _root_schema(kind)
    for part in ("spec", "status"):
        for path, node in _walk(root["properties"][part], part):
            assert node.get("description"), f"{kind.kind}.{path} has no description"


@pytest.mark.parametrize("kind", crd.KINDS, ids=lambda k: k.kind)
def test_crd_names_and_columns(kind: crd.Kind) -> None:
    manifest = crds.crd_manifest(kind)
    names = manifest["spec"]["names"]
    assert names["shortNames"] == [kind.short_name]
    assert names["categories"] == ["fragrance"]
    version = manifest["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    default_columns = [c for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert default_columns[-1]["name"] == "Age"
    assert version["additionalPrinterColumns"][-1]["name"] == "Message"
    assert manifest["spec"]["scope"] == "Namespaced"


def test_cross_field_rules_are_cel_validations() -> None:
    rules = [
        rule["rule"]
        for kind in crd.KINDS
        for _, node in _walk(_root_schema(kind))
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert "self.steps.isSorted()" in rules
    assert "self.final <= self.initial" in rules
    assert "self.fast + self.balanced + self.creative == 100" in rules
    assert "self.minReplicas <= self.maxReplicas" in rules
    assert "self.backend != 'openai' || has(self.endpoint)" in rules
