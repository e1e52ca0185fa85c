"""The GraphQL types every generated schema shares, with Parse's names: scalars, ACL, GeoPoint, FileInfo, PageInfo,
the where inputs of each field type, Node and ParseObject.

They are built once per schema build by `shared_types()` (graphql-core types belong to one schema).
"""
from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    ValueNode,
    value_from_ast_untyped,
)
from graphql.language import ObjectValueNode, StringValueNode

from api.graphql.names import to_global_id
from storage.errors import ParseError
from storage.values import format_date, parse_date


def _date_iso(value: Any) -> str:
    try:
        return format_date(parse_date(value))
    except ParseError:
        raise GraphQLError(f"Date cannot represent an invalid value: {value!r}") from None


def _date_input(value: Any) -> dict[str, str]:
    if isinstance(value, dict) and value.get("__type") == "Date" and "iso" in value:
        return {"__type": "Date", "iso": _date_iso(value["iso"])}
    if isinstance(value, str):
        return {"__type": "Date", "iso": _date_iso(value)}
    raise GraphQLError(f"Date cannot represent value: {value!r}")


def _date_output(value: Any) -> str:
    if isinstance(value, dict) and value.get("__type") == "Date":
        return str(value.get("iso"))
    if isinstance(value, str):
        return value
    raise GraphQLError(f"Date cannot represent value: {value!r}")


def _bytes_input(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"__type": "Bytes", "base64": value}
    if isinstance(value, dict) and value.get("__type") == "Bytes" and isinstance(value.get("base64"), str):
        return {"__type": "Bytes", "base64": value["base64"]}
    raise GraphQLError(f"Bytes cannot represent value: {value!r}")


def _bytes_output(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("base64"))
    return str(value)


def _file_input(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"__type": "File", "name": value}
    if isinstance(value, dict) and value.get("__type") == "File" and isinstance(value.get("name"), str):
        return {k: v for k, v in value.items() if k in ("__type", "name", "url")}
    raise GraphQLError(f"File cannot represent value: {value!r}")


def _object_input(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise GraphQLError(f"Object cannot represent value: {value!r}")


def _literal(parse_value: Any):  # the literal's JSON value through the same check as a variable's
    def parse_literal(node: ValueNode, variables: Any = None) -> Any:
        if isinstance(node, (StringValueNode, ObjectValueNode)):
            return parse_value(value_from_ast_untyped(node, variables))
        raise GraphQLError(f"Unexpected literal {node.kind}")

    return parse_literal


class SharedTypes:
    """The fixed part of a schema. Attribute names follow the GraphQL type names."""

    def __init__(self) -> None:
        self.Any = GraphQLScalarType("Any", serialize=lambda v: v, parse_value=lambda v: v,
                                     parse_literal=lambda node, variables=None: value_from_ast_untyped(node, variables))
        self.Object = GraphQLScalarType("Object", serialize=_object_input, parse_value=_object_input,
                                        parse_literal=_literal(_object_input))
        self.Date = GraphQLScalarType("Date", serialize=_date_output, parse_value=_date_input,
                                      parse_literal=_literal(_date_input))
        self.Bytes = GraphQLScalarType("Bytes", serialize=_bytes_output, parse_value=_bytes_input,
                                       parse_literal=_literal(_bytes_input))
        self.File = GraphQLScalarType("File", serialize=lambda v: v.get("name") if isinstance(v, dict) else v,
                                      parse_value=_file_input, parse_literal=_literal(_file_input))
        self.FileInfo = GraphQLObjectType("FileInfo", {
            "name": GraphQLField(GraphQLNonNull(GraphQLString)), "url": GraphQLField(GraphQLNonNull(GraphQLString))})
        self.FileInput = GraphQLInputObjectType("FileInput", {"file": GraphQLInputField(self.File)})
        geo = {"latitude": GraphQLNonNull(GraphQLFloat), "longitude": GraphQLNonNull(GraphQLFloat)}
        self.GeoPointInput = GraphQLInputObjectType("GeoPointInput",
                                                    {k: GraphQLInputField(t) for k, t in geo.items()})
        self.GeoPoint = GraphQLObjectType("GeoPoint", {k: GraphQLField(t) for k, t in geo.items()})
        self.PolygonInput = GraphQLList(GraphQLNonNull(self.GeoPointInput))
        self.Polygon = GraphQLList(GraphQLNonNull(self.GeoPoint))
        self._acl()
        self.PageInfo = GraphQLObjectType("PageInfo", {
            "hasNextPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
            "hasPreviousPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
            "startCursor": GraphQLField(GraphQLString), "endCursor": GraphQLField(GraphQLString)})
        self.Node = GraphQLInterfaceType("Node", {"id": GraphQLField(GraphQLNonNull(GraphQLID))},
                                         resolve_type=lambda value, *_: value.get("__typename"))
        self.ParseObject = GraphQLInterfaceType("ParseObject", lambda: self.object_fields(),
                                                resolve_type=lambda value, *_: value.get("__typename"))
        self.Element = GraphQLObjectType("Element", {"value": GraphQLField(GraphQLNonNull(self.Any))})
        preference = GraphQLEnumType("ReadPreference", {name: name for name in (
            "PRIMARY", "PRIMARY_PREFERRED", "SECONDARY", "SECONDARY_PREFERRED", "NEAREST")})
        self.ReadOptionsInput = GraphQLInputObjectType("ReadOptionsInput", {
            name: GraphQLInputField(preference)
            for name in ("readPreference", "includeReadPreference", "subqueryReadPreference")})
        self._where_inputs()

    def _acl(self) -> None:
        def entry(name: str, key: str, key_type: Any, output: bool) -> Any:
            fields = {key: key_type, "read": GraphQLNonNull(GraphQLBoolean), "write": GraphQLNonNull(GraphQLBoolean)}
            if output:
                return GraphQLObjectType(name, {k: GraphQLField(t) for k, t in fields.items()})
            return GraphQLInputObjectType(name, {k: GraphQLInputField(t) for k, t in fields.items()})

        self.UserACLInput = entry("UserACLInput", "userId", GraphQLNonNull(GraphQLID), False)
        self.RoleACLInput = entry("RoleACLInput", "roleName", GraphQLNonNull(GraphQLString), False)
        self.PublicACLInput = GraphQLInputObjectType("PublicACLInput", {
            "read": GraphQLInputField(GraphQLNonNull(GraphQLBoolean)),
            "write": GraphQLInputField(GraphQLNonNull(GraphQLBoolean))})
        self.ACLInput = GraphQLInputObjectType("ACLInput", {
            "users": GraphQLInputField(GraphQLList(GraphQLNonNull(self.UserACLInput))),
            "roles": GraphQLInputField(GraphQLList(GraphQLNonNull(self.RoleACLInput))),
            "public": GraphQLInputField(self.PublicACLInput)})
        user_acl = entry("UserACL", "userId", GraphQLNonNull(GraphQLID), True)
        role_acl = entry("RoleACL", "roleName", GraphQLNonNull(GraphQLID), True)
        public_acl = GraphQLObjectType("PublicACL", {"read": GraphQLField(GraphQLBoolean),
                                                     "write": GraphQLField(GraphQLBoolean)})
        self.ACL = GraphQLObjectType("ACL", {
            "users": GraphQLField(GraphQLList(GraphQLNonNull(user_acl)), resolve=_acl_users),
            "roles": GraphQLField(GraphQLList(GraphQLNonNull(role_acl)), resolve=_acl_roles),
            "public": GraphQLField(public_acl, resolve=_acl_public)})

    def object_fields(self) -> dict[str, GraphQLField]:
        """The fields of ParseObject, which every class type has."""
        return {
            "objectId": GraphQLField(GraphQLNonNull(GraphQLID)),
            "createdAt": GraphQLField(GraphQLNonNull(self.Date)),
            "updatedAt": GraphQLField(GraphQLNonNull(self.Date)),
            "ACL": GraphQLField(GraphQLNonNull(self.ACL),
                                resolve=lambda obj, _info: obj.get("ACL") or {"*": {"read": True, "write": True}}),
        }

    def _where_inputs(self) -> None:
        search = GraphQLInputObjectType("SearchInput", {
            "term": GraphQLInputField(GraphQLNonNull(GraphQLString)), "language": GraphQLInputField(GraphQLString),
            "caseSensitive": GraphQLInputField(GraphQLBoolean),
            "diacriticSensitive": GraphQLInputField(GraphQLBoolean)})
        text = GraphQLInputObjectType("TextInput", {"search": GraphQLInputField(GraphQLNonNull(search))})
        subquery = GraphQLInputObjectType("SubqueryInput", {
            "className": GraphQLInputField(GraphQLNonNull(GraphQLString)),
            "where": GraphQLInputField(GraphQLNonNull(self.Object))})
        select = GraphQLInputObjectType("SelectInput", {"query": GraphQLInputField(GraphQLNonNull(subquery)),
                                                        "key": GraphQLInputField(GraphQLNonNull(GraphQLString))})
        key_ops = {"inQueryKey": GraphQLInputField(select), "notInQueryKey": GraphQLInputField(select)}
        exists = {"exists": GraphQLInputField(GraphQLBoolean)}
        regex = {"matchesRegex": GraphQLInputField(GraphQLString), "options": GraphQLInputField(GraphQLString)}

        def comparisons(kind: Any) -> dict[str, GraphQLInputField]:
            fields = {name: GraphQLInputField(kind) for name in (
                "equalTo", "notEqualTo", "lessThan", "lessThanOrEqualTo", "greaterThan", "greaterThanOrEqualTo")}
            fields["in"] = GraphQLInputField(GraphQLList(kind))
            fields["notIn"] = GraphQLInputField(GraphQLList(kind))
            return fields

        def where(name: str, *parts: dict[str, GraphQLInputField]) -> GraphQLInputObjectType:
            merged: dict[str, GraphQLInputField] = {}
            for part in parts:
                merged.update(part)
            return GraphQLInputObjectType(name, merged)

        self.IdWhereInput = where("IdWhereInput", comparisons(GraphQLID), exists, key_ops)
        self.StringWhereInput = where("StringWhereInput", comparisons(GraphQLString), exists, regex,
                                      {"text": GraphQLInputField(text)}, key_ops)
        self.NumberWhereInput = where("NumberWhereInput", comparisons(GraphQLFloat), exists, key_ops)
        self.BooleanWhereInput = where("BooleanWhereInput", {"equalTo": GraphQLInputField(GraphQLBoolean),
                                                             "notEqualTo": GraphQLInputField(GraphQLBoolean)},
                                       exists, key_ops)
        self.ArrayWhereInput = where("ArrayWhereInput", comparisons(self.Any), exists, {
            "containedBy": GraphQLInputField(GraphQLList(self.Any)),
            "contains": GraphQLInputField(GraphQLList(self.Any))}, key_ops)
        key_value = GraphQLInputObjectType("KeyValueInput", {"key": GraphQLInputField(GraphQLNonNull(GraphQLString)),
                                                             "value": GraphQLInputField(GraphQLNonNull(self.Any))})
        self.ObjectWhereInput = where("ObjectWhereInput", comparisons(key_value), exists, key_ops)
        self.DateWhereInput = where("DateWhereInput", comparisons(self.Date), exists, key_ops)
        self.BytesWhereInput = where("BytesWhereInput", comparisons(self.Bytes), exists, key_ops)
        self.FileWhereInput = where("FileWhereInput", comparisons(self.File), exists, regex, key_ops)
        box = GraphQLInputObjectType("BoxInput", {"bottomLeft": GraphQLInputField(GraphQLNonNull(self.GeoPointInput)),
                                                  "upperRight": GraphQLInputField(GraphQLNonNull(self.GeoPointInput))})
        within = GraphQLInputObjectType("WithinInput", {"box": GraphQLInputField(GraphQLNonNull(box))})
        center = GraphQLInputObjectType("CenterSphereInput", {
            "center": GraphQLInputField(GraphQLNonNull(self.GeoPointInput)),
            "distance": GraphQLInputField(GraphQLNonNull(GraphQLFloat))})
        geo_within = GraphQLInputObjectType("GeoWithinInput", {"polygon": GraphQLInputField(self.PolygonInput),
                                                               "centerSphere": GraphQLInputField(center)})
        self.GeoPointWhereInput = where("GeoPointWhereInput", exists, {
            "nearSphere": GraphQLInputField(self.GeoPointInput), "within": GraphQLInputField(within),
            "geoWithin": GraphQLInputField(geo_within)}, {name: GraphQLInputField(GraphQLFloat) for name in (
                "maxDistance", "maxDistanceInRadians", "maxDistanceInMiles", "maxDistanceInKilometers")})
        intersects = GraphQLInputObjectType("GeoIntersectsInput", {"point": GraphQLInputField(self.GeoPointInput)})
        self.PolygonWhereInput = where("PolygonWhereInput", exists,
                                       {"geoIntersects": GraphQLInputField(intersects)})

    def where_input(self, parse_type: str) -> GraphQLInputObjectType | None:
        """The where input of a non-link field type (`String` -> StringWhereInput); ACL filters as an Object."""
        name = "Object" if parse_type == "ACL" else parse_type
        found = getattr(self, f"{name}WhereInput", None)
        return found if isinstance(found, GraphQLInputObjectType) else None

    def connection_args(self) -> dict[str, GraphQLArgument]:
        return {"after": GraphQLArgument(GraphQLString), "first": GraphQLArgument(GraphQLInt),
                "before": GraphQLArgument(GraphQLString), "last": GraphQLArgument(GraphQLInt)}


def _acl_users(acl: dict[str, Any], _info: Any) -> list[dict[str, Any]] | None:
    users = [{"userId": to_global_id("_User", key), "read": bool(rule.get("read")), "write": bool(rule.get("write"))}
             for key, rule in acl.items() if key != "*" and not key.startswith("role:")]
    return users or None


def _acl_roles(acl: dict[str, Any], _info: Any) -> list[dict[str, Any]] | None:
    roles = [{"roleName": key[5:], "read": bool(rule.get("read")), "write": bool(rule.get("write"))}
             for key, rule in acl.items() if key.startswith("role:")]
    return roles or None


def _acl_public(acl: dict[str, Any], _info: Any) -> dict[str, bool] | None:
    rule = acl.get("*")
    return {"read": bool(rule.get("read")), "write": bool(rule.get("write"))} if rule else None


def relay_mutation(name: str, inputs: dict[str, Any], outputs: dict[str, Any], resolve: Any) -> GraphQLField:
    """A Relay mutation as Parse shapes them: `name(input: <Name>Input!): <Name>Payload`, both with
    `clientMutationId`."""
    input_type = GraphQLInputObjectType(f"{name}Input", {
        **{k: GraphQLInputField(v) for k, v in inputs.items()}, "clientMutationId": GraphQLInputField(GraphQLString)})
    payload = GraphQLObjectType(f"{name}Payload", {
        **{k: GraphQLField(v) for k, v in outputs.items()}, "clientMutationId": GraphQLField(GraphQLString)})
    return GraphQLField(payload, args={"input": GraphQLArgument(GraphQLNonNull(input_type))}, resolve=resolve)
