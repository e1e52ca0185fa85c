"""Class schemas over GraphQL (master key): `class`, `classes`, `createClass`, `updateClass`, `deleteClass`,
run through the REST `/schemas` routes, so the checks and the schema cache update are REST's."""
from __future__ import annotations

from typing import Any, Mapping

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
)

from api.graphql.context import RequestContext
from api.graphql.types import relay_mutation
from storage.errors import ErrorCode, ParseError

_KINDS = ("String", "Number", "Boolean", "Array", "Object", "Date", "File", "GeoPoint", "Polygon", "Bytes")
_ADD = {"addStrings": "String", "addNumbers": "Number", "addBooleans": "Boolean", "addArrays": "Array",
        "addObjects": "Object", "addDates": "Date", "addFiles": "File", "addPolygons": "Polygon",
        "addBytes": "Bytes", "addPointers": "Pointer", "addRelations": "Relation"}
TYPE_NAMES = ("Class", "SchemaField", "SchemaFieldInput", "SchemaFieldsInput", "PointerFieldInput",
              "RelationFieldInput", "SchemaPointerField", "SchemaRelationField", "SchemaACLField",
              "CreateClassInput", "CreateClassPayload", "UpdateClassInput", "UpdateClassPayload",
              "DeleteClassInput", "DeleteClassPayload",
              *(f"Schema{k}Field" for k in _KINDS), *(f"Schema{k}FieldInput" for k in _KINDS))
MUTATION_NAMES = ("createClass", "updateClass", "deleteClass")


class _Types:
    def __init__(self) -> None:
        name = {"name": GraphQLField(GraphQLNonNull(GraphQLString))}
        self.field = GraphQLInterfaceType("SchemaField", name,
                                          resolve_type=lambda value, *_: _field_type_name(value["type"]))
        self.kinds = [GraphQLObjectType(f"Schema{k}Field", name, interfaces=[self.field])
                      for k in (*_KINDS, "ACL")]
        linked = {**name, "targetClassName": GraphQLField(GraphQLString)}
        self.kinds += [GraphQLObjectType(f"Schema{k}Field", linked, interfaces=[self.field])
                       for k in ("Pointer", "Relation")]
        self.klass = GraphQLObjectType("Class", {
            "name": GraphQLField(GraphQLNonNull(GraphQLString)),
            "schemaFields": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(self.field))))})
        name_input = {"name": GraphQLInputField(GraphQLNonNull(GraphQLString))}
        inputs = {kind: GraphQLInputObjectType(f"Schema{kind}FieldInput", name_input) for kind in _KINDS}
        linked_input = {**name_input, "targetClassName": GraphQLInputField(GraphQLNonNull(GraphQLString))}
        pointer = GraphQLInputObjectType("PointerFieldInput", linked_input)
        relation = GraphQLInputObjectType("RelationFieldInput", linked_input)
        fields: dict[str, GraphQLInputField] = {}
        for key, kind in _ADD.items():
            item = pointer if kind == "Pointer" else relation if kind == "Relation" else inputs[kind]
            fields[key] = GraphQLInputField(GraphQLList(GraphQLNonNull(item)))
        fields["addGeoPoint"] = GraphQLInputField(inputs["GeoPoint"])
        fields["remove"] = GraphQLInputField(GraphQLList(GraphQLNonNull(
            GraphQLInputObjectType("SchemaFieldInput", name_input))))
        self.fields_input = GraphQLInputObjectType("SchemaFieldsInput", fields)


def _field_type_name(kind: str) -> str:
    return f"Schema{kind}Field"


def _class_of(rest_schema: Mapping[str, Any]) -> dict[str, Any]:
    fields = [{"name": name, "type": spec["type"], "targetClassName": spec.get("targetClass")}
              for name, spec in rest_schema["fields"].items()]
    return {"name": rest_schema["className"], "schemaFields": fields}


def _rest_fields(schema_fields: Mapping[str, Any] | None, existing: Mapping[str, Any]) -> dict[str, Any]:
    """A SchemaFieldsInput as the `fields` of a REST schema write; 105 for a field named twice or present."""
    out: dict[str, Any] = {}
    if not schema_fields:
        return out
    removed = {f["name"] for f in schema_fields.get("remove") or ()}
    additions: list[tuple[str, Mapping[str, Any]]] = []
    for key, kind in _ADD.items():
        additions += [(kind, f) for f in schema_fields.get(key) or ()]
    if schema_fields.get("addGeoPoint"):
        additions.append(("GeoPoint", schema_fields["addGeoPoint"]))
    for kind, field in additions:
        name = field["name"]
        if name in removed:
            continue
        if name in out or name in existing:
            raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Duplicated field name: {name}")
        out[name] = {"type": kind, **({"targetClass": field["targetClassName"]} if "targetClassName" in field
                                      else {})}
    for name in removed:
        if name in existing:
            out[name] = {"__op": "Delete"}
    return out


def schema_fields() -> tuple[dict[str, GraphQLField], dict[str, GraphQLField], list[GraphQLObjectType]]:
    """The `class`/`classes` queries, the three mutations, and the SchemaField types the schema must list."""
    types = _Types()

    async def one(_root: Any, info: GraphQLResolveInfo, name: str) -> dict[str, Any]:
        return _class_of(await info.context.rest("GET", f"/schemas/{name}"))

    async def every(_root: Any, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
        reply = await info.context.rest("GET", "/schemas")
        return [_class_of(schema) for schema in reply["results"]]

    async def create(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        fields = _rest_fields(input.get("schemaFields"), {})
        created = await context.rest("POST", f"/schemas/{input['name']}", {"className": input["name"],
                                                                           "fields": fields})
        return {"class": _class_of(created), "clientMutationId": input.get("clientMutationId")}

    async def update(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        current = await context.rest("GET", f"/schemas/{input['name']}")
        fields = _rest_fields(input.get("schemaFields"), current["fields"])
        updated = await context.rest("PUT", f"/schemas/{input['name']}", {"fields": fields})
        return {"class": _class_of(updated), "clientMutationId": input.get("clientMutationId")}

    async def delete(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
        context: RequestContext = info.context
        current = await context.rest("GET", f"/schemas/{input['name']}")
        await context.rest("DELETE", f"/schemas/{input['name']}")
        return {"class": _class_of(current), "clientMutationId": input.get("clientMutationId")}

    name_arg = {"name": GraphQLNonNull(GraphQLString)}
    payload = {"class": GraphQLNonNull(types.klass)}
    queries = {
        "class": GraphQLField(GraphQLNonNull(types.klass), resolve=one,
                              args={"name": GraphQLArgument(GraphQLNonNull(GraphQLString))}),
        "classes": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(types.klass))), resolve=every),
    }
    mutations = {
        "createClass": relay_mutation("CreateClass", {**name_arg, "schemaFields": types.fields_input}, payload,
                                      create),
        "updateClass": relay_mutation("UpdateClass", {**name_arg, "schemaFields": types.fields_input}, payload,
                                      update),
        "deleteClass": relay_mutation("DeleteClass", name_arg, payload, delete),
    }
    return queries, mutations, types.kinds
