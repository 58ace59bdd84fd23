"""Turn pydantic's JSON Schema into a Kubernetes structural OpenAPI v3 schema.

The apiserver refuses what pydantic emits as is: ``$ref``/``$defs``, ``anyOf`` with
``null``, ``const``, numeric ``exclusiveMinimum``, ``additionalProperties: false`` and
``title``. ``jsonref`` inlines the references; the rest is rewritten here.
"""

from __future__ import annotations

from typing import Any

import jsonref
from pydantic import BaseModel

_DROPPED_KEYS = frozenset({"title", "examples", "$defs"})


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of ``model``, wire (camelCase) names, references inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    inlined = jsonref.replace_refs(raw, merge_props=True, proxies=False, lazy_load=False)
    converted: dict[str, Any] = _convert(inlined)
    return converted


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = _collapse_nullable(_collapse_single_all_of(dict(node)))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif (key == "additionalProperties" and value is False) or (
            key == "default" and value is None
        ):
            continue
        elif key == "properties":
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        else:
            out[key] = _convert(value)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("anyOf", None)  # the extension alone is the canonical int-or-string
    if "enum" in out and "type" not in out:
        out["type"] = _json_type(out["enum"][0])
    return out


def _collapse_single_all_of(node: dict[str, Any]) -> dict[str, Any]:
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node.pop("allOf")
        return {**all_of[0], **node}
    return node


def _collapse_nullable(node: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` -> X. Nulls are pruned by the apiserver for such fields."""
    any_of = node.get("anyOf")
    if not isinstance(any_of, list):
        return node
    kept = [option for option in any_of if option.get("type") != "null"]
    if len(kept) != 1:
        return node
    node.pop("anyOf")
    return {**kept[0], **node}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"
