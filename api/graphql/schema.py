"""Builds the GraphQL schema from the class schemas, as Parse Server generates it.

graphql-core builds schemas at run time, which a schema that follows the classes needs: a new schema is built
when the classes change. Names are Parse's. Where two classes would get the same GraphQL name (`Foo`, `_Foo`
and `foo`; or a class whose plural is its singular, `News`), the later class (or its find query) is left out
and the build reports it, so the server can warn at start-up rather than drop it silently.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
)

from api.graphql import cloud_code, schema_api, users
from api.graphql.classes import ClassTypes, array_result_type
from api.graphql.names import field_name, from_global_id, pluralize
from api.graphql.objects import mutation_fields, query_fields, read_object
from api.graphql.types import SharedTypes
from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema

# names of the fixed part of the schema: a class type may not take them
RESERVED_TYPES = frozenset({
    "Query", "Mutation", "Subscription", "Viewer", "PageInfo", "Node", "ParseObject", "ACL", "ACLInput", "UserACL",
    "RoleACL", "PublicACL", "UserACLInput", "RoleACLInput", "PublicACLInput", "FileInfo", "FileInput", "GeoPoint",
    "GeoPointInput", "Element", "ArrayResult", "Any", "Object", "Date", "Bytes", "File", "Upload", "ReadPreference",
    "ReadOptionsInput", "SearchInput", "TextInput", "BoxInput", "WithinInput", "CenterSphereInput", "GeoWithinInput",
    "GeoIntersectsInput", "LiveEventKind", "SubqueryInput", "SelectInput", "KeyValueInput", "String", "Int",
    "Float", "Boolean", "ID",
    *(f"{kind}WhereInput" for kind in ("Id", "String", "Number", "Boolean", "Array", "Object", "Date", "Bytes",
                                         "File", "GeoPoint", "Polygon")),
    *schema_api.TYPE_NAMES, *users.TYPE_NAMES, *cloud_code.TYPE_NAMES,
})
RESERVED_FIELDS = frozenset({"node", "health", "viewer", "class", "classes", *users.MUTATION_NAMES,
                             *schema_api.MUTATION_NAMES})
# classes Parse's GraphQL leaves out
_SKIPPED_CLASSES = frozenset({"_Join", "_PushStatus", "_Hooks", "_GlobalConfig", "_JobStatus", "_JobSchedule",
                              "_Idempotency", "_Audience", "_GraphQLConfig"})

SubscriptionFields = Callable[[dict[str, ClassTypes]], dict[str, GraphQLField]]


class BuiltSchema:
    """A schema and what it was built from; `warnings` lists the names left out."""

    def __init__(self, schema: GraphQLSchema, classes: dict[str, ClassSchema], warnings: list[str]) -> None:
        self.schema = schema
        self.classes = classes
        self.warnings = warnings
        # query text -> its parsed and validated form: clients send the same few queries with new variables,
        # and validation costs several times the execution of a typical query
        self.documents: dict[str, Any] = {}


def build_schema(class_schemas: list[ClassSchema], subscriptions: SubscriptionFields | None = None,
                 function_names: Iterable[str] = ()) -> BuiltSchema:
    shared = SharedTypes()
    registry: dict[str, ClassTypes] = {}
    warnings: list[str] = []
    taken_types: dict[str, str] = {}
    taken_fields: dict[str, str] = {}
    array_result = array_result_type(shared, registry)
    ordered = sorted((s for s in class_schemas if s.class_name not in _SKIPPED_CLASSES
                      and not s.class_name.startswith("_Join")),
                     key=lambda s: (not s.class_name.startswith("_"), s.class_name))
    queries: dict[str, GraphQLField] = {}
    mutations: dict[str, GraphQLField] = {}
    for schema in ordered:
        types = ClassTypes(schema, shared, registry, lambda: array_result)
        clash = next((n for n in types.type_names() if n in RESERVED_TYPES or n in taken_types), None)
        get_name, find_name = field_name(schema.class_name), pluralize(field_name(schema.class_name))
        field_names = [get_name, f"create{types.name}", f"update{types.name}", f"delete{types.name}"]
        clash_field = next((n for n in field_names if n in RESERVED_FIELDS or n in taken_fields), None)
        if clash is not None or clash_field is not None:
            owner = taken_types.get(clash or "") or taken_fields.get(clash_field or "") or "the server"
            warnings.append(f'class "{schema.class_name}" is left out of the GraphQL schema: its name '
                            f'"{clash or clash_field}" is taken by {_owner(owner)}')
            continue
        registry[schema.class_name] = types
        for name in types.type_names():
            taken_types[name] = schema.class_name
        for name in field_names:
            taken_fields[name] = schema.class_name
        operations = query_fields(types)
        queries[get_name] = operations["get"]
        if find_name == get_name or find_name in taken_fields or find_name in RESERVED_FIELDS:
            warnings.append(f'class "{schema.class_name}" has no find query in the GraphQL schema: its plural '
                            f'"{find_name}" is taken by {_owner(taken_fields.get(find_name, schema.class_name))}')
        else:
            taken_fields[find_name] = schema.class_name
            queries[find_name] = operations["find"]
        for kind, field in mutation_fields(types).items():
            mutations[f"{kind}{types.name}"] = field
    schema_queries, schema_mutations, schema_types = schema_api.schema_fields()
    root_queries: dict[str, GraphQLField] = {
        "health": GraphQLField(GraphQLNonNull(GraphQLBoolean), resolve=lambda *_: True),
        "node": GraphQLField(shared.Node, args={"id": GraphQLArgument(GraphQLNonNull(GraphQLID))},
                             resolve=_node(registry)),
        **schema_queries,
        **queries,
    }
    root_mutations: dict[str, GraphQLField] = {**schema_mutations, **mutations,
                                               **cloud_code.cloud_code_fields(function_names, shared)}
    if "_User" in registry:
        user_queries, user_mutations = users.user_fields(registry["_User"])
        root_queries.update(user_queries)
        root_mutations.update(user_mutations)
    subscription_type = None
    if subscriptions is not None:
        fields = subscriptions(registry)
        if fields:
            subscription_type = GraphQLObjectType("Subscription", fields)
    schema = GraphQLSchema(query=GraphQLObjectType("Query", root_queries),
                           mutation=GraphQLObjectType("Mutation", root_mutations),
                           subscription=subscription_type,
                           types=[array_result, *schema_types, *(t.output for t in registry.values())])
    return BuiltSchema(schema, {name: t.schema for name, t in registry.items()}, warnings)


def _owner(class_name: str) -> str:
    return "the server" if class_name == "the server" else f'class "{class_name}"'


def _node(registry: dict[str, ClassTypes]):
    async def resolve(_root: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        class_name, object_id = from_global_id(id)
        if not class_name:
            raise ParseError(ErrorCode.INVALID_QUERY, "The id is not a valid global id")
        if class_name not in registry:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        return await read_object(info.context, class_name, object_id)

    return resolve
