"""The admin API's OpenAPI document: served as it is, and the validator of request bodies."""

from __future__ import annotations

import json
from functools import lru_cache, cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text())


class SchemaValidator:
    def __init__(self, name: str) -> None:
        doc = document()
        # the component, with the document's components beside it so $refs resolve
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        import jsonschema  # on the first admin request, not at start-up (50 ms)

        self._validator = jsonschema.Draft202012Validator(schema)
        self._best_match = jsonschema.exceptions.best_match

    def best_error(self, data: Any) -> jsonschema.ValidationError | None:
        """The most relevant error; or the combination it belongs to, where that schema has
        words of its own for it (``x-messages``): they say more than one branch's detail."""
        error = self._best_match(self._validator.iter_errors(data))
        within = error
        while within is not None:
            own = within.schema.get("x-messages", {}) if isinstance(within.schema, dict) else {}
            if within.validator in own:
                return within
            within = within.parent
        return error


def _names(schemas: list[dict[str, Any]]) -> list[str]:
    return [name for s in schemas for name in s.get("required", ())]


def message(error: jsonschema.ValidationError) -> str:
    """The validator's message, in words for the combinations the schemas use; a schema
    may name its own words for a keyword (``x-messages``, an OpenAPI extension)."""
    own = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    if isinstance(own.get(error.validator), str):
        return own[error.validator]
    schema: Any = error.validator_value
    if error.validator == "not" and isinstance(schema, dict):
        if "required" in schema:
            return " and ".join(schema["required"]) + " cannot be given together"
        if "anyOf" in schema:
            path = list(error.schema_path)
            owner = path[path.index("dependentSchemas") + 1] if "dependentSchemas" in path else "it"
            return f"{owner} cannot be given with " + ", ".join(_names(schema["anyOf"]))
    if error.validator == "oneOf" and all("required" in s for s in schema):
        return "give exactly one of " + ", ".join(dict.fromkeys(_names(schema)))
    if error.validator == "anyOf" and all("required" in s for s in schema):
        return "give at least one of " + ", ".join(_names(schema))
    return error.message


@cache
def validator(name: str) -> SchemaValidator:
    return SchemaValidator(name)
