"""The query and mutation fields of one class: `t(id)`, `ts(where, order, ...)`, `createT`, `updateT`, `deleteT`.

Reads call `QueryService` with the caller's principal; writes run the REST route handler of the same call
(`POST /classes/T`, `PUT`, `DELETE`; `/users` for `_User`), so users' passwords are hashed, roles checked and
every write published exactly as over REST.
"""
from __future__ import annotations

from typing import Any, Mapping

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
)

from api.graphql.classes import ClassTypes
from api.graphql.connection import Connection, find_connection
from api.graphql.context import RequestContext, tagged
from api.graphql.names import field_name, object_id_of
from api.graphql.transform import value_to_rest, where_to_rest
from storage.errors import ErrorCode, ParseError


def class_path(class_name: str, object_id: str | None = None) -> str:
    base = "/users" if class_name == "_User" else f"/classes/{class_name}"
    return f"{base}/{object_id}" if object_id else base


async def read_object(context: RequestContext, class_name: str, object_id: str) -> dict[str, Any]:
    row = await context.services.queries.get(context.principal, class_name, object_id, {})
    return tagged(row, class_name)


def query_fields(types: ClassTypes) -> dict[str, GraphQLField]:
    class_name = types.class_name

    async def get(_root: Any, info: GraphQLResolveInfo, id: str, options: Any = None) -> dict[str, Any]:
        return await read_object(info.context, class_name, object_id_of(id, class_name))

    async def find(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
        context: RequestContext = info.context
        where = where_to_rest(args.get("where"), class_name, context.schemas)
        return await find_connection(context, class_name, where, args, info)

    return {
        "get": GraphQLField(GraphQLNonNull(types.output), resolve=get, args={
            "id": GraphQLArgument(GraphQLNonNull(GraphQLID)), "options": GraphQLArgument(types.t.ReadOptionsInput)}),
        "find": GraphQLField(GraphQLNonNull(types.connection), args=types.find_args(), resolve=find),
    }


def mutation_fields(types: ClassTypes) -> dict[str, GraphQLField]:
    """`create`, `update`, `delete` (the builder names them `createT`...)."""
    class_name, name, payload_key = types.class_name, types.name, field_name(types.class_name)

    def payload(kind: str) -> GraphQLObjectType:
        return GraphQLObjectType(f"{kind}{name}Payload", {
            payload_key: GraphQLField(GraphQLNonNull(types.output)),
            "clientMutationId": GraphQLField(GraphQLString)})

    def input_type(kind: str, fields_type: Any) -> GraphQLInputObjectType:
        fields: dict[str, GraphQLInputField] = {}
        if kind != "Create":
            fields["id"] = GraphQLInputField(GraphQLNonNull(GraphQLID))
        if fields_type is not None:
            fields["fields"] = GraphQLInputField(fields_type)
        fields["clientMutationId"] = GraphQLInputField(GraphQLString)
        return GraphQLInputObjectType(f"{kind}{name}Input", fields)

    async def create(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        body = await fields_to_rest(context, class_name, input.get("fields") or {})
        created = await context.rest("POST", class_path(class_name), body)
        row = await _answer(context, class_name, created["objectId"],
                            {**body, **created, "updatedAt": created.get("createdAt")})
        return {payload_key: row, "clientMutationId": input.get("clientMutationId")}

    async def update(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        object_id = object_id_of(input["id"], class_name)
        body = await fields_to_rest(context, class_name, input.get("fields") or {})
        updated = await context.rest("PUT", class_path(class_name, object_id), body)
        row = await _answer(context, class_name, object_id, {**body, **updated, "objectId": object_id})
        return {payload_key: row, "clientMutationId": input.get("clientMutationId")}

    async def delete(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        object_id = object_id_of(input["id"], class_name)
        row = await read_object(context, class_name, object_id)  # answered as it was, as Parse does
        await context.rest("DELETE", class_path(class_name, object_id))
        return {payload_key: row, "clientMutationId": input.get("clientMutationId")}

    return {
        "create": GraphQLField(payload("Create"), resolve=create, args={
            "input": GraphQLArgument(GraphQLNonNull(input_type("Create", types.create_fields)))}),
        "update": GraphQLField(payload("Update"), resolve=update, args={
            "input": GraphQLArgument(GraphQLNonNull(input_type("Update", types.update_fields)))}),
        "delete": GraphQLField(payload("Delete"), resolve=delete, args={
            "input": GraphQLArgument(GraphQLNonNull(input_type("Delete", None)))}),
    }


async def _answer(context: RequestContext, class_name: str, object_id: str,
                  written: dict[str, Any]) -> dict[str, Any]:
    """The object after a write, read back with the caller's permissions. One the caller may no longer read is
    answered from what the caller wrote (Parse answers 101 although the write happened)."""
    try:
        return await read_object(context, class_name, object_id)
    except ParseError as error:
        if error.code != ErrorCode.OBJECT_NOT_FOUND:
            raise
    fallback = {k: v for k, v in written.items()
                if not (isinstance(v, dict) and "__op" in v) and k not in ("password", "sessionToken")}
    return tagged(fallback, class_name)


async def fields_to_rest(context: RequestContext, class_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A `CreateTFieldsInput`/`UpdateTFieldsInput` value as a REST body. `createAndLink`/`createAndAdd` create
    their objects first (through the same REST path), as Parse does: not atomic."""
    schema = context.schemas.get(class_name)
    body: dict[str, Any] = {}
    for name, value in fields.items():
        kind = schema.fields.get(name) if schema is not None else None
        if value is None:
            body[name] = None if name == "ACL" else {"__op": "Delete"}
        elif kind is not None and kind.type == "Pointer" and kind.target_class in context.schemas:
            body[name] = await _pointer(context, name, kind.target_class or "", value)
        elif kind is not None and kind.type == "Relation" and kind.target_class in context.schemas:
            body[name] = await _relation(context, name, kind.target_class or "", value)
        else:
            body[name] = value_to_rest("ACL" if name == "ACL" else (kind.type if kind else ""), value)
    return body


async def _create_linked(context: RequestContext, target: str, fields: Mapping[str, Any]) -> dict[str, str]:
    body = await fields_to_rest(context, target, fields)
    created = await context.rest("POST", class_path(target), body)
    return {"__type": "Pointer", "className": target, "objectId": created["objectId"]}


async def _pointer(context: RequestContext, name: str, target: str, value: Mapping[str, Any]) -> dict[str, str]:
    link, create = value.get("link"), value.get("createAndLink")
    if (link is None) == (create is None):
        raise ParseError(ErrorCode.INVALID_POINTER,
                         f"You need to provide link OR createLink on the pointer mutation of field {name}")
    if create is not None:
        return await _create_linked(context, target, create)
    return {"__type": "Pointer", "className": target, "objectId": object_id_of(link, target)}


async def _relation(context: RequestContext, name: str, target: str, value: Mapping[str, Any]) -> dict[str, Any]:
    ops: list[dict[str, Any]] = []
    added = [{"__type": "Pointer", "className": target, "objectId": object_id_of(i, target)}
             for i in value.get("add") or ()]
    for fields in value.get("createAndAdd") or ():
        added.append(await _create_linked(context, target, fields))
    if added:
        ops.append({"__op": "AddRelation", "objects": added})
    removed = [{"__type": "Pointer", "className": target, "objectId": object_id_of(i, target)}
               for i in value.get("remove") or ()]
    if removed:
        ops.append({"__op": "RemoveRelation", "objects": removed})
    if not ops:
        raise ParseError(ErrorCode.INVALID_POINTER,
                         f"You need to provide at least one operation on the relation mutation of field {name}")
    return ops[0] if len(ops) == 1 else {"__op": "Batch", "ops": ops}
