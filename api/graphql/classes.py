"""The GraphQL types of one Parse class, named as Parse names them: the object type `T`, `TConnection`/`TEdge`,
`TWhereInput`, `TRelationWhereInput`, `TOrder`, `CreateTFieldsInput`, `UpdateTFieldsInput`, `TPointerInput`
and `TRelationInput`. Types of other classes are looked up lazily, so classes may point at each other."""
from __future__ import annotations

from typing import Any, Callable

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLUnionType,
)

from api.graphql.connection import Connection, find_connection
from api.graphql.context import RequestContext, tagged
from api.graphql.names import to_global_id, type_name
from api.graphql.transform import polygon_output, where_to_rest
from api.graphql.types import SharedTypes
from storage.schema import ClassSchema
from storage.values import FieldType

# fields every class type has (ParseObject), never in the create/update inputs
BASE_FIELDS = ("objectId", "createdAt", "updatedAt", "ACL")
# surface Parse exposes and should not: never filtered, sorted or output here
_HIDDEN = {"_User": frozenset({"password", "authData"})}


def custom_fields(schema: ClassSchema) -> dict[str, FieldType]:
    return {name: kind for name, kind in sorted(schema.fields.items()) if name not in BASE_FIELDS}


class ClassTypes:
    """The types of one class; `registry` maps class names to the ClassTypes of every exposed class."""

    def __init__(self, schema: ClassSchema, shared: SharedTypes, registry: dict[str, ClassTypes],
                 array_result: Callable[[], GraphQLUnionType]) -> None:
        self.schema = schema
        self.class_name = schema.class_name
        self.name = type_name(schema.class_name)
        self.t = shared
        self.registry = registry
        self._array_result = array_result
        hidden = _HIDDEN.get(self.class_name, frozenset())
        self.fields = {k: v for k, v in custom_fields(schema).items() if k not in hidden}
        self.input_fields = {k: v for k, v in custom_fields(schema).items() if k != "authData"}
        self.output = GraphQLObjectType(self.name, self._output_fields, interfaces=[shared.ParseObject, shared.Node])
        self.edge = GraphQLObjectType(f"{self.name}Edge", lambda: {
            "node": GraphQLField(self.output), "cursor": GraphQLField(GraphQLNonNull(GraphQLString))})
        self.connection = GraphQLObjectType(f"{self.name}Connection", lambda: {
            "edges": GraphQLField(GraphQLList(self.edge), resolve=lambda c, _i: c.edges),
            "pageInfo": GraphQLField(GraphQLNonNull(shared.PageInfo), resolve=lambda c, _i: c.page_info),
            "count": GraphQLField(GraphQLNonNull(GraphQLInt), resolve=_count)})
        self.where = GraphQLInputObjectType(f"{self.name}WhereInput", self._where_fields)
        self.relation_where = GraphQLInputObjectType(f"{self.name}RelationWhereInput", lambda: {
            "have": GraphQLInputField(self.where), "haveNot": GraphQLInputField(self.where),
            "exists": GraphQLInputField(GraphQLBoolean)})
        self.order = GraphQLEnumType(f"{self.name}Order", self._order_values())
        self.create_fields = GraphQLInputObjectType(f"Create{self.name}FieldsInput", self.input_map)
        self.update_fields = GraphQLInputObjectType(f"Update{self.name}FieldsInput", self.input_map)
        self.pointer_input = GraphQLInputObjectType(f"{self.name}PointerInput", lambda: {
            "link": GraphQLInputField(GraphQLID), "createAndLink": GraphQLInputField(self.create_fields)})
        self.relation_input = GraphQLInputObjectType(f"{self.name}RelationInput", lambda: {
            "add": GraphQLInputField(GraphQLList(GraphQLNonNull(GraphQLID))),
            "remove": GraphQLInputField(GraphQLList(GraphQLNonNull(GraphQLID))),
            "createAndAdd": GraphQLInputField(GraphQLList(GraphQLNonNull(self.create_fields)))})

    def type_names(self) -> list[str]:
        return [self.name, f"{self.name}Edge", f"{self.name}Connection", f"{self.name}WhereInput",
                f"{self.name}RelationWhereInput", f"{self.name}Order", f"Create{self.name}FieldsInput",
                f"Update{self.name}FieldsInput", f"{self.name}PointerInput", f"{self.name}RelationInput",
                f"{self.name}LiveEvent"]

    def find_args(self) -> dict[str, GraphQLArgument]:
        return {"where": GraphQLArgument(self.where), "order": GraphQLArgument(GraphQLList(GraphQLNonNull(self.order))),
                "skip": GraphQLArgument(GraphQLInt), **self.t.connection_args(),
                "options": GraphQLArgument(self.t.ReadOptionsInput)}

    # --- output -------------------------------------------------------------------------------------------
    def _output_fields(self) -> dict[str, GraphQLField]:
        class_name = self.class_name
        fields: dict[str, GraphQLField] = {
            "id": GraphQLField(GraphQLNonNull(GraphQLID),
                               resolve=lambda obj, _i: to_global_id(class_name, obj["objectId"])),
            **self.t.object_fields()}
        if class_name == "_User":
            fields["authDataResponse"] = GraphQLField(self.t.Object)
        for name, kind in self.fields.items():
            field = self._output_field(name, kind)
            if field is not None:
                fields[name] = field
        return fields

    def _output_field(self, name: str, kind: FieldType) -> GraphQLField | None:
        t = self.t
        simple = {"String": GraphQLString, "Number": GraphQLFloat, "Boolean": GraphQLBoolean, "Date": t.Date,
                  "Object": t.Object, "Bytes": t.Bytes, "File": t.FileInfo, "GeoPoint": t.GeoPoint}
        if kind.type in simple:
            return GraphQLField(simple[kind.type])
        if kind.type == "Polygon":
            return GraphQLField(t.Polygon, resolve=lambda obj, _i: polygon_output(obj.get(name)))
        if kind.type == "Array":
            return GraphQLField(GraphQLList(self._array_result()), resolve=_array_resolver(name))
        target = self.registry.get(kind.target_class or "")
        if kind.type == "Pointer":
            if target is None:
                return GraphQLField(t.Object)
            return GraphQLField(target.output, resolve=_pointer_resolver(name))
        if kind.type == "Relation" and target is not None:
            return GraphQLField(GraphQLNonNull(target.connection), args=target.find_args(),
                                resolve=_relation_resolver(self.class_name, name, target.class_name))
        return None

    # --- inputs -------------------------------------------------------------------------------------------
    def _where_fields(self) -> dict[str, GraphQLInputField]:
        t = self.t
        fields = {"id": GraphQLInputField(t.IdWhereInput), "objectId": GraphQLInputField(t.IdWhereInput),
                  "createdAt": GraphQLInputField(t.DateWhereInput), "updatedAt": GraphQLInputField(t.DateWhereInput),
                  "ACL": GraphQLInputField(t.ObjectWhereInput)}
        for name, kind in self.fields.items():
            if name in ("OR", "AND", "NOR"):
                continue
            if kind.type in ("Pointer", "Relation"):
                target = self.registry.get(kind.target_class or "")
                fields[name] = GraphQLInputField(target.relation_where if target else t.Object)
            else:
                where = t.where_input(kind.type)
                if where is not None:
                    fields[name] = GraphQLInputField(where)
        for name in ("OR", "AND", "NOR"):
            fields[name] = GraphQLInputField(GraphQLList(GraphQLNonNull(self.where)))
        return fields

    def _order_values(self) -> dict[str, GraphQLEnumValue]:
        values: dict[str, GraphQLEnumValue] = {}
        names = ["id", "objectId", "createdAt", "updatedAt"]
        names += [n for n, k in self.fields.items() if k.type not in ("Relation", "ACL")]
        for name in names:
            stored = "objectId" if name == "id" else name
            values[f"{name}_ASC"] = GraphQLEnumValue(stored)
            values[f"{name}_DESC"] = GraphQLEnumValue(f"-{stored}")
        return values

    def input_map(self) -> dict[str, GraphQLInputField]:
        t = self.t
        fields: dict[str, GraphQLInputField] = {}
        simple = {"String": GraphQLString, "Number": GraphQLFloat, "Boolean": GraphQLBoolean, "Date": t.Date,
                  "Object": t.Object, "Bytes": t.Bytes, "File": t.FileInput, "GeoPoint": t.GeoPointInput,
                  "Polygon": t.PolygonInput, "Array": GraphQLList(t.Any)}
        for name, kind in self.input_fields.items():
            if kind.type in simple:
                fields[name] = GraphQLInputField(simple[kind.type])
            elif kind.type in ("Pointer", "Relation"):
                target = self.registry.get(kind.target_class or "")
                if target is None:
                    fields[name] = GraphQLInputField(t.Object)
                else:
                    fields[name] = GraphQLInputField(target.pointer_input if kind.type == "Pointer"
                                                     else target.relation_input)
        fields["ACL"] = GraphQLInputField(t.ACLInput)
        return fields


def _count(connection: Connection, _info: GraphQLResolveInfo) -> Any:
    return connection.count()


def _pointer_resolver(name: str):
    def resolve(obj: dict[str, Any], info: GraphQLResolveInfo) -> Any:
        value = obj.get(name)
        if not isinstance(value, dict) or value.get("__type") not in ("Pointer", "Object"):
            return None
        context: RequestContext = info.context
        return context.loader.resolve(value["className"], value["objectId"])

    return resolve



def _array_resolver(name: str):
    async def resolve(obj: dict[str, Any], info: GraphQLResolveInfo) -> list[Any] | None:
        value = obj.get(name)
        if not isinstance(value, list):
            return None
        context: RequestContext = info.context
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict) and item.get("__type") == "Pointer" and item.get("className") in context.schemas:
                loaded = await context.loader.load(item["className"], item["objectId"])
                out.append(loaded if loaded is not None else {"value": item})
            else:
                out.append({"value": item})
        return out

    return resolve


def _relation_resolver(class_name: str, name: str, target: str):
    async def resolve(obj: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Connection:
        context: RequestContext = info.context
        where = where_to_rest(args.get("where"), target, context.schemas)
        owner = {"__type": "Pointer", "className": class_name, "objectId": obj["objectId"]}
        scoped = {**where, "$relatedTo": {"object": owner, "key": name}}
        return await find_connection(context, target, scoped, args, info)

    return resolve



def array_result_type(shared: SharedTypes, registry: dict[str, ClassTypes]) -> GraphQLUnionType:
    def resolve_type(value: dict[str, Any], *_: Any) -> str:
        typename = value.get("__typename")
        return typename if isinstance(typename, str) else "Element"

    return GraphQLUnionType("ArrayResult", lambda: [shared.Element, *(c.output for c in registry.values())],
                            resolve_type=resolve_type)


def tag_all(rows: list[dict[str, Any]], class_name: str) -> list[dict[str, Any]]:
    return [tagged(row, class_name) for row in rows]
