"""Class schemas in Parse Server's `_SCHEMA` collection (MongoSchemaCollection.js), both ways.

One document per class: `_id` = class name, one key per field holding Parse's type string ("string", "*Target"
for pointers, "relation<Target>", ...), and `_metadata` with `class_permissions`, `indexes` and `fields_options`
(`{field: {"required": true, "defaultValue": ...}}`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.schema import BASE_FIELDS, OPEN_CLP, ClassSchema, FieldOptions, default_fields, new_schema
from storage.values import FieldType

SCHEMA_COLLECTION = "_SCHEMA"
_NON_FIELD_KEYS = frozenset({"_id", "_metadata", "_client_permissions"})
_TYPE_NAMES = {"Number": "number", "String": "string", "Boolean": "boolean", "Date": "date", "Object": "object",
               "Array": "array", "GeoPoint": "geopoint", "File": "file", "Bytes": "bytes", "Polygon": "polygon"}
_TYPES_BY_NAME = {name: kind for kind, name in _TYPE_NAMES.items()} | {"map": "Object"}
# parse-server's emptyCLPS: a stored CLP lacking an operation grants it to nobody.
_EMPTY_CLP: dict[str, Any] = {"find": {}, "count": {}, "get": {}, "create": {}, "update": {}, "delete": {},
                              "addField": {}, "protectedFields": {}}
# This server lets everyone run an operation its CLP leaves out; written out, so Parse Server (which reads a
# missing one as `{}`) and a later read here find the same permissions.
_OPEN_OPERATIONS = {operation: entries for operation, entries in OPEN_CLP.items() if operation != "protectedFields"}


def type_string(kind: FieldType) -> str:
    if kind.type == "Pointer":
        return f"*{kind.target_class}"
    if kind.type == "Relation":
        return f"relation<{kind.target_class}>"
    return _TYPE_NAMES[kind.type]


def field_type(text: Any) -> FieldType | None:
    """A `_SCHEMA` type string as a FieldType; None for one this server does not know."""
    if not isinstance(text, str) or not text:
        return None
    if text.startswith("*"):
        return FieldType("Pointer", text[1:])
    if text.startswith("relation<") and text.endswith(">"):
        return FieldType("Relation", text[len("relation<"):-1])
    kind = _TYPES_BY_NAME.get(text)
    return FieldType(kind) if kind else None


def stored_fields(class_name: str, fields: Mapping[str, FieldType]) -> dict[str, str]:
    """The field keys of a `_SCHEMA` document (convertSchemaToAdapterSchema: no ACL, `_rperm`/`_wperm`, and
    `_hashed_password` for `_User`'s password)."""
    out: dict[str, str] = {}
    for name, kind in fields.items():
        if kind.type == "ACL":
            continue
        if class_name == "_User" and name == "password":
            out["_hashed_password"] = "string"
            continue
        out[name] = type_string(kind)
    out.setdefault("_rperm", "array")
    out.setdefault("_wperm", "array")
    return out


def stored_clp(clp: Mapping[str, Any]) -> dict[str, Any]:
    """A CLP as `_metadata.class_permissions` holds it: every operation present (see _OPEN_OPERATIONS)."""
    return {**_OPEN_OPERATIONS, **clp}


def schema_document(schema: ClassSchema) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": schema.class_name, "objectId": "string", "updatedAt": "date",
                                "createdAt": "date"}
    document.update(stored_fields(schema.class_name, {**default_fields(schema.class_name), **schema.fields}))
    metadata: dict[str, Any] = {"class_permissions": stored_clp(schema.clp)}
    if schema.indexes:
        metadata["indexes"] = schema.indexes
    if schema.options:
        metadata["fields_options"] = stored_options(schema.options)
    document["_metadata"] = metadata
    return document


def schema_from_document(document: Mapping[str, Any]) -> ClassSchema:
    class_name = str(document["_id"])
    fields: dict[str, FieldType] = dict(default_fields(class_name))
    for key, value in document.items():
        if key in _NON_FIELD_KEYS or key.startswith("_"):
            continue
        kind = field_type(value)
        if kind is not None:
            fields[key] = kind
    fields.update(BASE_FIELDS)  # whatever an old document says, these four have fixed types
    metadata = _dict(document.get("_metadata"))
    stored_clp = metadata.get("class_permissions")
    clp = {**_EMPTY_CLP, **stored_clp} if isinstance(stored_clp, dict) else new_schema(class_name).clp
    indexes = {name: dict(spec) for name, spec in _dict(metadata.get("indexes")).items()
               if name != "_id_" and isinstance(spec, dict)}
    return ClassSchema(class_name, fields, clp, indexes, _options(fields, _dict(metadata.get("fields_options"))))


def stored_options(options: Mapping[str, FieldOptions]) -> dict[str, Any]:
    return {name: value.to_json() for name, value in options.items()}


def _options(fields: Mapping[str, FieldType], stored: Mapping[str, Any]) -> dict[str, FieldOptions]:
    """`_metadata.fields_options` as Parse Server writes it; entries for unknown fields or of no effect are
    skipped, since a field deleted by Parse Server may leave its options behind."""
    options: dict[str, FieldOptions] = {}
    for name, spec in stored.items():
        if name in fields and isinstance(spec, dict):
            required = spec.get("required")
            value = FieldOptions(required if isinstance(required, bool) else None, spec.get("defaultValue"))
            if not value.is_empty():
                options[name] = value
    return options


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
