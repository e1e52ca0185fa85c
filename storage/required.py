"""Field options on writes, as Parse Server applies them (RestWrite.setRequiredFieldsIfNeeded).

A value counts as missing when it is absent, null, the empty string or a `Delete` op. On create a missing field
gets its default if it was absent or deleted (not if null or ""), and a required field that is still missing is
refused with 142 `<field> is required`. On update only the fields the write names are checked: setting a required
field to null, "" or deleting it is refused; defaults are not applied.
"""
from __future__ import annotations

from typing import Any

from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema


def is_delete(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__op") == "Delete"


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or is_delete(value)


def _required(name: str) -> ParseError:
    return ParseError(ErrorCode.VALIDATION_ERROR, f"{name} is required")


def with_defaults(schema: ClassSchema | None, body: dict[str, Any]) -> dict[str, Any] | None:
    """The body of a create with defaults filled in, or None if it needs none; 142 for a missing required field.

    Costs nothing for a class without options."""
    if schema is None or not schema.options:
        return None
    filled: dict[str, Any] | None = None
    for name, options in schema.options.items():
        value = body.get(name)
        if not _is_missing(value):
            continue
        if options.default_value is not None and (name not in body or is_delete(value)):
            filled = filled if filled is not None else dict(body)
            filled[name] = options.default_value
        elif options.required:
            raise _required(name)
    return filled


def check_kept(schema: ClassSchema | None, body: dict[str, Any]) -> None:
    """142 if an update would unset a required field."""
    if schema is None or not schema.options:
        return
    for name, value in body.items():
        options = schema.options.get(name)
        if options is not None and options.required and _is_missing(value):
            raise _required(name)
