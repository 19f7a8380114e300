"""The JSON Schemas of our CloudEvents, read from the AsyncAPI document in docs/."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Final

import yaml
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

ASYNCAPI_FILE: Final = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
_COMPONENT_PREFIX: Final = "#/components/schemas/"
_DEFS_PREFIX: Final = "#/$defs/"
# RFC 3339 section 5.6 date-time: an offset is required, unlike Python's isoformat.
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)

# jsonschema checks "date-time" only when rfc3339-validator is installed; checking it
# here keeps the contract enforced without that optional dependency.
_FORMATS: Final = FormatChecker(formats=("uuid",))


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if _RFC3339.fullmatch(instance) is None:
        return False
    datetime.fromisoformat(instance.upper())  # rejects month 13, Feb 30, hour 25 ...
    return True


def load_event_schemas(path: Path | None = None) -> dict[str, Mapping[str, object]]:
    """A self-contained draft 2020-12 schema per CloudEvents `type` of each message."""
    document = yaml.safe_load((path or ASYNCAPI_FILE).read_text(encoding="utf-8"))
    components = document["components"]
    defs = _rewrite_refs(components["schemas"])
    schemas: dict[str, Mapping[str, object]] = {}
    for message in components["messages"].values():
        name = _component_name(message["payload"]["$ref"])
        kind: str = components["schemas"][name]["properties"]["type"]["const"]
        schemas[kind] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
            "$ref": _DEFS_PREFIX + name,
        }
        Draft202012Validator.check_schema(schemas[kind])
    return schemas


def validate_event(
    document: Mapping[str, object], schemas: Mapping[str, Mapping[str, object]]
) -> None:
    """Raise jsonschema.ValidationError unless `document` matches the schema of its type."""
    kind = document.get("type")
    schema = schemas.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise ValidationError(f"unknown event type {kind!r}", validator="const")
    Draft202012Validator(schema, format_checker=_FORMATS).validate(document)


def _component_name(ref: str) -> str:
    if not ref.startswith(_COMPONENT_PREFIX):
        raise ValueError(f"{ref}: only local #/components/schemas/ references resolve")
    return ref.removeprefix(_COMPONENT_PREFIX)


def _rewrite_refs(node: object) -> object:
    """A copy of `node` whose component references point into `$defs` instead."""
    if isinstance(node, dict):
        return {
            key: _DEFS_PREFIX + _component_name(value)
            if key == "$ref" and isinstance(value, str)
            else _rewrite_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node
