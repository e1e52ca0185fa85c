"""Class schemas: names, field types, class-level permissions and indexes, and how a write is checked against them."""
from __future__ import annotations

import re
from typing import Any, Mapping

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.values import FIELD_TYPES, FieldType, normalize, type_of

_CLASS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_JOIN_CLASS = re.compile(r"^_Join:[A-Za-z0-9_]+:[A-Za-z0-9_]+$")

SYSTEM_CLASSES = frozenset({"_User", "_Role", "_Session", "_Installation", "_Product", "_Audience",
                            "_Idempotency", "_PushStatus", "_JobStatus", "_JobSchedule", "_Hooks",
                            "_GlobalConfig"})
INVALID_FIELD_NAMES = frozenset({"length", "className"})

BASE_FIELDS: dict[str, FieldType] = {
    "objectId": FieldType("String"),
    "createdAt": FieldType("Date"),
    "updatedAt": FieldType("Date"),
    "ACL": FieldType("ACL"),
}

SYSTEM_FIELDS: dict[str, dict[str, FieldType]] = {
    "_User": {"username": FieldType("String"), "password": FieldType("String"), "email": FieldType("String"),
              "emailVerified": FieldType("Boolean"), "authData": FieldType("Object")},
    "_Role": {"name": FieldType("String"), "users": FieldType("Relation", "_User"),
              "roles": FieldType("Relation", "_Role")},
    "_Session": {"sessionToken": FieldType("String"), "user": FieldType("Pointer", "_User"),
                 "createdWith": FieldType("Object"), "installationId": FieldType("String"),
                 "expiresAt": FieldType("Date"), "restricted": FieldType("Boolean")},
    "_Installation": {"installationId": FieldType("String"), "deviceToken": FieldType("String"),
                      "channels": FieldType("Array"), "deviceType": FieldType("String"),
                      "pushType": FieldType("String"), "GCMSenderId": FieldType("String"),
                      "timeZone": FieldType("String"), "localeIdentifier": FieldType("String"),
                      "badge": FieldType("Number"), "appVersion": FieldType("String"),
                      "appName": FieldType("String"), "appIdentifier": FieldType("String"),
                      "parseVersion": FieldType("String")},
}

OPEN_CLP: dict[str, Any] = {
    "find": {"*": True}, "count": {"*": True}, "get": {"*": True}, "create": {"*": True},
    "update": {"*": True}, "delete": {"*": True}, "addField": {"*": True}, "protectedFields": {"*": []},
}


class FieldOptions(msgspec.Struct, frozen=True, omit_defaults=True):
    """Parse's per-field options: a create without a required field is refused (142); a missing value gets the
    default. `required` is None when never given (`/schemas` then shows no `required`, as Parse Server);
    `default_value` is stored in REST form, None meaning no default (Parse ignores a null default)."""

    required: bool | None = None
    default_value: Any = None

    def is_empty(self) -> bool:
        return self.required is None and self.default_value is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.required is not None:
            out["required"] = self.required
        if self.default_value is not None:
            out["defaultValue"] = self.default_value
        return out


class ClassSchema(msgspec.Struct, frozen=True):
    class_name: str
    fields: dict[str, FieldType]
    clp: dict[str, Any] = msgspec.field(default_factory=lambda: dict(OPEN_CLP))
    indexes: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    options: dict[str, FieldOptions] = msgspec.field(default_factory=dict)  # only fields that have some

    def field_type(self, name: str) -> FieldType | None:
        return self.fields.get(name)

    def field_json(self, name: str) -> dict[str, Any]:
        """A field as `/schemas` shows it: `{"type", "targetClass"?, "required"?, "defaultValue"?}`."""
        options = self.options.get(name)
        kind = self.fields[name].to_json()
        return {**kind, **options.to_json()} if options is not None else kind

    def to_json(self) -> dict[str, Any]:
        """The shape `/schemas` answers with."""
        indexes = {"_id_": {"_id": 1}, **self.indexes}
        return {"className": self.class_name,
                "fields": {name: self.field_json(name) for name in self.fields},
                "classLevelPermissions": self.clp, "indexes": indexes}


def default_fields(class_name: str) -> dict[str, FieldType]:
    return {**BASE_FIELDS, **SYSTEM_FIELDS.get(class_name, {})}


def new_schema(class_name: str, fields: Mapping[str, FieldType] | None = None) -> ClassSchema:
    clp = dict(OPEN_CLP)
    if class_name == "_User":
        clp["protectedFields"] = {"*": ["email"]}
    return ClassSchema(class_name, {**default_fields(class_name), **(fields or {})}, clp)


def validate_class_name(class_name: Any) -> str:
    if isinstance(class_name, str) and (class_name in SYSTEM_CLASSES or _JOIN_CLASS.match(class_name)
                                        or _CLASS_NAME.match(class_name)):
        return class_name
    raise ParseError(ErrorCode.INVALID_CLASS_NAME,
                     f"Invalid classname: {class_name}, classnames can only have alphanumeric characters "
                     "and _, and must start with an alpha character ")


def validate_field_name(name: Any) -> str:
    if not isinstance(name, str) or not _FIELD_NAME.match(name) or name in INVALID_FIELD_NAMES:
        raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid field name: {name}.")
    return name


def parse_field_type(spec: Any) -> FieldType:
    """A type as the schemas API takes it: `{"type": "Pointer", "targetClass": "X"}`."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ParseError(ErrorCode.INVALID_JSON, f"invalid field type: {spec!r}")
    kind = spec["type"]
    if kind not in FIELD_TYPES or kind == "ACL":
        raise ParseError(ErrorCode.INCORRECT_TYPE, f"invalid field type: {kind}")
    target = spec.get("targetClass")
    if kind in ("Pointer", "Relation"):
        if not target:
            raise ParseError(ErrorCode.MISSING_REQUIRED_FIELD, f"type {kind} needs a class name")
        validate_class_name(target)
        return FieldType(kind, target)
    return FieldType(kind)


def parse_field_options(class_name: str, name: str, kind: FieldType, spec: Mapping[str, Any]) -> FieldOptions:
    """`required` and `defaultValue` of a field spec, checked as Parse checks them (SchemaController)."""
    required = spec.get("required")
    if required is not None and not isinstance(required, bool):
        raise ParseError(ErrorCode.INVALID_JSON, f"required of {class_name}.{name} must be true or false")
    default = spec.get("defaultValue")
    if default is not None:
        if kind.type == "Relation":
            raise ParseError(ErrorCode.INCORRECT_TYPE,
                             f"The 'default value' option is not applicable for {kind.describe()}")
        default = normalize(default)
        actual = type_of(default)
        if actual != kind:
            raise ParseError(ErrorCode.INCORRECT_TYPE,
                             f"schema mismatch for {class_name}.{name} default value; expected {kind.describe()} "
                             f"but got {actual.describe() if actual else 'null'}")
    elif required and kind.type == "Relation":
        raise ParseError(ErrorCode.INCORRECT_TYPE, f"The 'required' option is not applicable for {kind.describe()}")
    return FieldOptions(required, default)


def updated_options(schema: ClassSchema, deleted: tuple[str, ...],
                    changed: Mapping[str, FieldOptions] | None) -> dict[str, FieldOptions]:
    """The options of `schema` (already carrying its new fields) once `deleted` are gone and `changed` set."""
    options = {name: value for name, value in schema.options.items() if name not in deleted}
    for name, value in (changed or {}).items():
        if name not in schema.fields:
            raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} does not exist, cannot update.")
        if value.is_empty():
            options.pop(name, None)
        else:
            options[name] = value
    return options


def check_compatible(class_name: str, name: str, expected: FieldType, actual: FieldType) -> None:
    if expected != actual:
        raise ParseError(ErrorCode.INCORRECT_TYPE,
                         f"schema mismatch for {class_name}.{name}; expected {expected.describe()} "
                         f"but got {actual.describe()}")


def merge_fields(schema: ClassSchema, wanted: Mapping[str, FieldType]) -> dict[str, FieldType]:
    """The fields of `wanted` that `schema` lacks; raises INCORRECT_TYPE for a conflicting type."""
    missing: dict[str, FieldType] = {}
    for name, kind in wanted.items():
        known = schema.fields.get(name)
        if known is None:
            if kind.type == "GeoPoint" and any(f.type == "GeoPoint" for f in schema.fields.values()):
                raise ParseError(ErrorCode.INCORRECT_TYPE,
                                 "there can only be one geopoint field in a class")
            missing[name] = kind
        else:
            check_compatible(schema.class_name, name, known, kind)
    return missing
