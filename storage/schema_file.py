"""Schema files: the JSON schema block of Back4app's template pages, and Parse's own `GET /schemas` answer.

    {"classes": [{"className": "Event",
                  "fields": {"title": {"type": "String", "required": true},
                             "host": {"type": "Pointer", "targetClass": "User", "required": true}}}]}

`User` means `_User` (as a class and as a pointer's target). Fields Parse owns (`objectId`, `createdAt`,
`updatedAt`, `ACL`, `_User.password` and the other built-in fields of system classes) are skipped; `_User`'s
`username` and `email` may carry options. A Parse `/schemas` answer (`{"results": [...]}`) is read as well, with
its `classLevelPermissions` and `indexes`. Reading checks the whole file and reports every problem at once,
naming the class and field, so that nothing is applied from a file with a mistake in it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.schema import (
    BASE_FIELDS,
    ClassSchema,
    FieldOptions,
    default_fields,
    parse_field_options,
    parse_field_type,
    validate_class_name,
    validate_field_name,
)
from storage.values import FieldType

FILE_ALIASES = {"User": "_User"}
_EXPORT_NAMES = {name: alias for alias, name in FILE_ALIASES.items()}
# built-in fields a file may give options to; every other built-in field is Parse's and is skipped
OPTIONABLE_BUILT_INS = {"_User": ("username", "email")}
_FIELD_KEYS = frozenset({"type", "targetClass", "required", "defaultValue"})
_CLASS_KEYS = frozenset({"className", "fields", "classLevelPermissions", "indexes"})


class SchemaFileError(ParseError):
    """A schema file that cannot be imported; `problems` names each class and field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(ErrorCode.INVALID_JSON, "invalid schema file:\n  " + "\n  ".join(problems))
        self.problems = problems


class ClassSpec(msgspec.Struct, frozen=True):
    """One class as a file describes it (names already mapped: `User` is `_User`)."""

    class_name: str
    fields: dict[str, FieldType]
    options: dict[str, FieldOptions]  # for every listed field, empty when it has none
    skipped: tuple[str, ...] = ()  # built-in fields the file listed
    clp: dict[str, Any] | None = None  # unvalidated: the caller checks it with the auth rules
    indexes: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


def class_name_in_file(name: str) -> str:
    return FILE_ALIASES.get(name, name)


def read_schema_file(data: Any) -> list[ClassSpec]:
    """The classes of a parsed schema file; SchemaFileError listing every problem."""
    problems: list[str] = []
    entries = _class_entries(data, problems)
    specs: list[ClassSpec] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        spec = _read_class(entry, position, problems)
        if spec is None:
            continue
        if spec.class_name in seen:
            problems.append(f"class {spec.class_name}: listed twice")
        seen.add(spec.class_name)
        specs.append(spec)
    if problems:
        raise SchemaFileError(problems)
    return specs


def _class_entries(data: Any, problems: list[str]) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        return data["classes"]
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return data["results"]  # Parse's GET /schemas
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and "className" in data:
        return [data]  # one class, as GET /schemas/{className} answers
    problems.append('expected {"classes": [...]} (or Parse\'s {"results": [...]} from GET /schemas)')
    return []


def _read_class(entry: Any, position: int, problems: list[str]) -> ClassSpec | None:
    if not isinstance(entry, dict):
        problems.append(f"classes[{position}]: expected an object with className and fields")
        return None
    raw_name = entry.get("className")
    if not isinstance(raw_name, str):
        problems.append(f"classes[{position}]: className is missing")
        return None
    label = f"class {raw_name}"
    class_name = class_name_in_file(raw_name)
    try:
        validate_class_name(class_name)
    except ParseError as error:
        problems.append(f"{label}: {error.message.strip()}")
        return None
    for key in entry:
        if key not in _CLASS_KEYS:
            problems.append(f"{label}: unknown key {key!r} (expected one of {', '.join(sorted(_CLASS_KEYS))})")
    raw_fields = entry.get("fields", {})
    if not isinstance(raw_fields, dict):
        problems.append(f"{label}: fields must be an object")
        return None
    fields: dict[str, FieldType] = {}
    options: dict[str, FieldOptions] = {}
    skipped: list[str] = []
    built_in = default_fields(class_name)
    for name, field_spec in raw_fields.items():
        where = f"{label}, field {name}"
        read = _read_field(class_name, name, field_spec, where, problems)
        if read is None:
            continue
        kind, field_options = read
        if name in built_in and name not in OPTIONABLE_BUILT_INS.get(class_name, ()):
            skipped.append(name)
            continue
        if name in built_in and built_in[name] != kind:
            problems.append(f"{where}: is a built-in {built_in[name].describe()} field, not {kind.describe()}")
            continue
        fields[name] = kind
        # the seed format lists `required` on every field: false there means what leaving it out means
        options[name] = field_options if field_options.required else msgspec.structs.replace(field_options,
                                                                                              required=None)
    geo_points = [name for name, kind in fields.items() if kind.type == "GeoPoint"]
    if len(geo_points) > 1:
        problems.append(f"{label}: only one GeoPoint field may exist in a class ({', '.join(geo_points)})")
    clp = entry.get("classLevelPermissions")
    if clp is not None and not isinstance(clp, dict):
        problems.append(f"{label}: classLevelPermissions must be an object")
        clp = None
    indexes = _read_indexes(entry.get("indexes"), {**built_in, **fields}, label, problems)
    return ClassSpec(class_name, fields, options, tuple(skipped), clp, indexes)


def _read_field(class_name: str, name: Any, spec: Any, where: str,
                problems: list[str]) -> tuple[FieldType, FieldOptions] | None:
    if not isinstance(spec, dict):
        problems.append(f'{where}: expected an object like {{"type": "String"}}')
        return None
    unknown = sorted(set(spec) - _FIELD_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key {unknown[0]!r} (expected type, targetClass, required, defaultValue)")
        return None
    if name in BASE_FIELDS:
        return BASE_FIELDS[name], FieldOptions()  # Parse's own, whatever the file says: skipped by the caller
    target = spec.get("targetClass")
    if isinstance(target, str):
        spec = {**spec, "targetClass": class_name_in_file(target)}
    try:
        validate_field_name(name)
        kind = parse_field_type(spec)
        return kind, parse_field_options(class_name, name, kind, spec)
    except ParseError as error:
        problems.append(f"{where}: {_explain(spec, error)}")
        return None


def _explain(spec: Mapping[str, Any], error: ParseError) -> str:
    if error.code == ErrorCode.INCORRECT_TYPE and error.message.startswith("invalid field type"):
        return f"unknown type {spec.get('type')!r} (one of {', '.join(_PUBLIC_TYPES)})"
    return error.message


_PUBLIC_TYPES = ("String", "Number", "Boolean", "Date", "Object", "Array", "GeoPoint", "File", "Bytes", "Polygon",
                 "Pointer", "Relation")


def _read_indexes(raw: Any, fields: Mapping[str, FieldType], label: str,
                  problems: list[str]) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{label}: indexes must be an object")
        return {}
    indexes: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        if name == "_id_":
            continue
        if not isinstance(spec, dict) or not spec:
            problems.append(f"{label}, index {name}: expected an object like {{\"field\": 1}}")
            continue
        bad = [f for f, direction in spec.items()
               if f not in fields or direction not in (1, -1) or isinstance(direction, bool)]
        if bad:
            problems.append(f"{label}, index {name}: field {bad[0]} is not a field of the class, or its order "
                            "is not 1 or -1")
            continue
        indexes[name] = dict(spec)
    return indexes


# --- writing ---------------------------------------------------------------------------------------------------

def write_schema_file(schemas: Iterable[ClassSchema]) -> dict[str, Any]:
    """The seed pages' format: every class of the app, `_User` as `User`; system classes only if extended."""
    classes = []
    for schema in schemas:
        built_in = default_fields(schema.class_name)
        own = [name for name in schema.fields if name not in built_in]
        if schema.class_name.startswith("_") and schema.class_name != "_User" and not own:
            continue
        names = ["objectId", *OPTIONABLE_BUILT_INS.get(schema.class_name, ()), *own, "createdAt", "updatedAt"]
        if schema.class_name == "_User":
            names.insert(3, "password")
        classes.append({"className": _EXPORT_NAMES.get(schema.class_name, schema.class_name),
                        "fields": {name: _field_json(schema, name) for name in names if name in schema.fields}})
    return {"classes": classes}


def _field_json(schema: ClassSchema, name: str) -> dict[str, Any]:
    kind = schema.fields[name]
    options = schema.options.get(name, FieldOptions())
    # Parse always requires a user's password (201 without one)
    required = bool(options.required) or (schema.class_name == "_User" and name == "password")
    out: dict[str, Any] = {"type": kind.type, "required": required}
    if kind.target_class:
        out["targetClass"] = _EXPORT_NAMES.get(kind.target_class, kind.target_class)
    if options.default_value is not None:
        out["defaultValue"] = options.default_value
    return out
