"""`/schemas`: list, read, create, change and drop classes (master key only)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from api import permissions
from api.request import Call
from api.router import Reply, Router
from api.routes.system import require_master
from storage.errors import ErrorCode, ParseError
from storage.schema import (FieldOptions, default_fields, new_schema, parse_field_options, parse_field_type,
                            validate_class_name, validate_field_name)
from storage.values import FieldType

if TYPE_CHECKING:
    from api.services import Services


async def list_schemas(call: Call, s: Services) -> Reply:
    require_master(call)
    return Reply({"results": [schema.to_json() for schema in await s.schemas.all()]})


async def get_schema(call: Call, s: Services) -> Reply:
    require_master(call)
    class_name = validate_class_name(call.path_params["className"])
    schema = await s.store.get_schema(class_name)
    if schema is None:
        raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
    return Reply(schema.to_json())


def _new_fields(class_name: str, raw: Any) -> tuple[dict[str, FieldType], dict[str, FieldOptions]]:
    """The fields a request adds, and the `required`/`defaultValue` options of those that have some."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise ParseError(ErrorCode.INVALID_JSON, "fields must be an object")
    defaults = default_fields(class_name)
    fields: dict[str, FieldType] = {}
    options: dict[str, FieldOptions] = {}
    geo = 0
    for name, spec in raw.items():
        if name in defaults:
            raise ParseError(ErrorCode.CHANGED_IMMUTABLE_FIELD, f"field {name} cannot be added")
        validate_field_name(name)
        fields[name] = parse_field_type(spec)
        field_options = parse_field_options(class_name, name, fields[name], spec)
        if not field_options.is_empty():
            options[name] = field_options
        geo += fields[name].type == "GeoPoint"
    if geo > 1:
        raise ParseError(ErrorCode.INCORRECT_TYPE, "currently, only one GeoPoint field may exist in an object.")
    return fields, options


def _indexes(raw: Any) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    if raw is None:
        return {}, ()
    if not isinstance(raw, dict):
        raise ParseError(ErrorCode.INVALID_QUERY, "indexes must be an object")
    add, drop = {}, []
    for name, spec in raw.items():
        if isinstance(spec, dict) and spec.get("__op") == "Delete":
            drop.append(name)
        elif isinstance(spec, dict) and spec:
            add[name] = spec
        else:
            raise ParseError(ErrorCode.INVALID_QUERY, f"invalid index {name}")
    return add, tuple(drop)


async def create_schema(call: Call, s: Services) -> Reply:
    require_master(call, write=True)
    body = call.body
    from_path = call.path_params.get("className")
    class_name = body.get("className", from_path)
    if from_path and body.get("className") not in (None, from_path):
        raise ParseError(ErrorCode.INVALID_CLASS_NAME,
                         f"Class name mismatch between {body.get('className')} and {from_path}.")
    if not class_name:
        raise ParseError(ErrorCode.MISSING_REQUIRED_FIELD, "POST /schemas needs a class name.")
    class_name = validate_class_name(class_name)
    fields, options = _new_fields(class_name, body.get("fields"))
    schema = msgspec.structs.replace(new_schema(class_name, fields), options=options)
    if "classLevelPermissions" in body:
        schema = msgspec.structs.replace(schema, clp=permissions.validated_clp(body["classLevelPermissions"]))
    add_indexes, _drop = _indexes(body.get("indexes"))
    created = await s.store.create_class(schema)
    if add_indexes:
        created = await s.store.update_class(class_name, add_indexes=add_indexes)
    s.schemas.remember(created)
    return Reply(created.to_json())


async def update_schema(call: Call, s: Services) -> Reply:
    require_master(call, write=True)
    class_name = validate_class_name(call.path_params["className"])
    body = call.body
    if body.get("className") not in (None, class_name):
        raise ParseError(ErrorCode.INVALID_CLASS_NAME,
                         f"Class name mismatch between {body.get('className')} and {class_name}.")
    current = await s.store.get_schema(class_name)
    if current is None:
        raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
    raw_fields = body.get("fields") or {}
    if not isinstance(raw_fields, dict):
        raise ParseError(ErrorCode.INVALID_JSON, "fields must be an object")
    deletions = tuple(name for name, spec in raw_fields.items()
                      if isinstance(spec, dict) and spec.get("__op") == "Delete")
    for name in deletions:
        if name not in current.fields:
            raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} does not exist, cannot delete.")
        if name in default_fields(class_name):
            raise ParseError(ErrorCode.CHANGED_IMMUTABLE_FIELD, f"field {name} cannot be changed")
    additions, options = _new_fields(class_name, {k: v for k, v in raw_fields.items() if k not in deletions})
    for name in additions:
        if name in current.fields:
            raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} exists, cannot update.")
    clp = permissions.validated_clp(body["classLevelPermissions"]) if "classLevelPermissions" in body else None
    add_indexes, drop_indexes = _indexes(body.get("indexes"))
    updated = await s.store.update_class(class_name, add_fields=additions, delete_fields=deletions, clp=clp,
                                         add_indexes=add_indexes, drop_indexes=drop_indexes, field_options=options)
    s.schemas.remember(updated)
    return Reply(updated.to_json())


async def delete_schema(call: Call, s: Services) -> Reply:
    require_master(call, write=True)
    class_name = validate_class_name(call.path_params["className"])
    if await s.store.get_schema(class_name) is not None:  # a class that does not exist is already gone (Parse: {})
        await s.store.delete_class(class_name)
    s.schemas.forget(class_name)
    return Reply({})


def register(router: Router) -> None:
    router.add("/schemas", "GET", list_schemas)
    router.add("/schemas", "POST", create_schema)
    router.add("/schemas/{className}", "GET", get_schema)
    router.add("/schemas/{className}", "POST", create_schema)
    router.add("/schemas/{className}", "PUT", update_schema)
    router.add("/schemas/{className}", "DELETE", delete_schema)
