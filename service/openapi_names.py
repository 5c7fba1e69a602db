"""The served OpenAPI schema names the index's own retrievers and modes (they are the index's data)."""
from __future__ import annotations

from typing import Any


def restrict_names(schema: dict[str, Any], modes: list[str], retrievers: list[str]) -> dict[str, Any]:
    """Replace the free-form name fields with enums of this index's names, in place; returns ``schema``."""
    models = schema.get("components", {}).get("schemas", {})
    for name in ("SearchRequest", "BatchSearchRequest"):
        mode = models.get(name, {}).get("properties", {}).get("mode")
        if mode is not None:
            _enum(mode, modes)
    fusion = models.get("FusionOverride", {}).get("properties", {})
    if "retrievers" in fusion:
        _enum(fusion["retrievers"], retrievers, items=True)
    if "weights" in fusion:
        for option in fusion["weights"].get("anyOf", [fusion["weights"]]):
            if option.get("type") == "object":
                option["propertyNames"] = {"enum": list(retrievers)}
    return schema


def _enum(field: dict[str, Any], names: list[str], items: bool = False) -> None:
    for option in field.get("anyOf", [field]):
        if items and option.get("type") == "array":
            option["items"] = {"type": "string", "enum": list(names)}
        elif not items and option.get("type") == "string":
            option.clear()
            option.update({"type": "string", "enum": list(names)})
