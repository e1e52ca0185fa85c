"""The parsed `where` (storage.query) as a MongoDB filter and sort, in Parse Server's stored layout.

Relation fields and `RelatedTo` are answered from the `_Join` collections through a `RelationLookup`; a top-level
`$nearSphere` becomes a `$geoNear` stage when results must come nearest first (see `split_near`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bson.regex import Regex as BsonRegex

from storage.adapter import SortKey
from storage.errors import ErrorCode, ParseError
from storage.mongo.transform import ISO_FIELDS, Fields, encode_interior, mongo_path, pointer_string
from storage.query import (
    All,
    And,
    Compare,
    ContainedBy,
    Exists,
    Field,
    In,
    InQuery,
    Intersects,
    NearSphere,
    Node,
    Nor,
    Or,
    Regex,
    RelatedTo,
    Select,
    WithinBox,
    WithinCenterSphere,
    WithinPolygon,
)
from storage.regex import compile_regex, translate_quoted
from storage.values import GeoPoint, Pointer, parse_date

# MongoDB's own radius for turning radians into meters (a GeoJSON `$geoNear` measures in meters).
EARTH_RADIUS_METERS = 6378100.0
_TIME_FIELDS = ISO_FIELDS | {"expiresAt"}
NOTHING: dict[str, Any] = {"_id": {"$in": []}}  # a clause no document matches


class RelationLookup(Protocol):
    async def relation_target(self, class_name: str, field: str) -> str | None:
        """The target class of a Relation field, None if the field is not one."""

    async def owning_ids(self, class_name: str, field: str, related_ids: tuple[str, ...]) -> list[str]:
        ...

    async def related_ids(self, class_name: str, field: str, owning_ids: tuple[str, ...]) -> list[str]:
        ...


class Near:
    """A top-level `$nearSphere`, answered by a `$geoNear` stage (sorted nearest first)."""

    def __init__(self, path: tuple[str, ...], constraint: NearSphere) -> None:
        self.path = path
        self.constraint = constraint

    def stage(self, key: str, query: dict[str, Any]) -> dict[str, Any]:
        point = self.constraint.point
        spec: dict[str, Any] = {"near": {"type": "Point", "coordinates": [point.longitude, point.latitude]},
                                "key": key, "distanceField": "__distance", "spherical": True, "query": query}
        if self.constraint.max_distance is not None:
            spec["maxDistance"] = self.constraint.max_distance * EARTH_RADIUS_METERS
        return {"$geoNear": spec}


def split_near(node: Node) -> tuple[Near | None, Node]:
    """Take the first top-level `$nearSphere` out of `node` (which then matches without it)."""
    children = node.children if isinstance(node, And) else (node,)
    for index, child in enumerate(children):
        if isinstance(child, Field):
            for position, constraint in enumerate(child.constraints):
                if isinstance(constraint, NearSphere):
                    rest = child.constraints[:position] + child.constraints[position + 1:]
                    remaining = [*children[:index], *([Field(child.path, rest)] if rest else []),
                                 *children[index + 1:]]
                    return Near(child.path, constraint), And(tuple(remaining))
    return None, node


class FilterBuilder:
    """Translates one class's queries; needs its schema fields (pointer keys, value forms)."""

    def __init__(self, class_name: str, fields: Fields, relations: RelationLookup) -> None:
        self.class_name = class_name
        self.fields = fields
        self.relations = relations

    async def build(self, node: Node) -> dict[str, Any]:
        return combine(await self.clauses(node))

    async def clauses(self, node: Node) -> list[dict[str, Any]]:
        if isinstance(node, And):
            out: list[dict[str, Any]] = []
            for child in node.children:
                out.extend(await self.clauses(child))
            return out
        if isinstance(node, (Or, Nor)):
            operator = "$or" if isinstance(node, Or) else "$nor"
            return [{operator: [await self.build(child) for child in node.children]}]
        if isinstance(node, RelatedTo):
            owner = node.owner
            if await self.relations.relation_target(owner.class_name, node.key) != self.class_name:
                return [NOTHING]
            return [{"_id": {"$in": await self.relations.related_ids(owner.class_name, node.key, (owner.object_id,))}}]
        if isinstance(node, Field):
            kind = self.fields.get(node.path[0]) if len(node.path) == 1 else None
            if kind is not None and kind.type == "Relation":
                return [await self.relation_clause(node.path[0], c) for c in node.constraints]
            return [self.constraint(node.path, c) for c in node.constraints]
        raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported query node: {type(node).__name__}")

    def sort(self, order: tuple[SortKey, ...]) -> list[tuple[str, int]]:
        return [(mongo_path(self.class_name, key.path, self.fields), -1 if key.descending else 1) for key in order]

    def key(self, path: tuple[str, ...], constraint: Any = None) -> str:
        return mongo_path(self.class_name, path, self.fields, pointer=_mentions_pointer(constraint))

    # --- one constraint --------------------------------------------------------------------------------
    def constraint(self, path: tuple[str, ...], constraint: Any) -> dict[str, Any]:
        clause = self.plain_constraint(path, constraint)
        if len(path) == 1:
            return clause
        # storage.query's dotted paths reach into Objects only: through an array the value is missing,
        # where MongoDB would look into the array's elements.
        parts = self.key(path, constraint).split(".")
        prefixes = [".".join(parts[:end]) for end in range(1, len(parts))]
        direct = combine([clause, *({prefix: {"$not": {"$type": "array"}}} for prefix in prefixes)])
        if not matches_missing(constraint):
            return direct
        return {"$or": [direct, *({prefix: {"$type": "array"}} for prefix in prefixes)]}

    def plain_constraint(self, path: tuple[str, ...], constraint: Any) -> dict[str, Any]:
        key = self.key(path, constraint)
        value = self.value_encoder(path, key)
        if isinstance(constraint, Compare):
            return self.compare(key, constraint, value)
        if isinstance(constraint, In):
            values = [value(v) for v in constraint.values]
            values = [v for v in values if not isinstance(v, datetime) or _whole_ms(v)]  # finer never equals
            return {key: {"$nin" if constraint.negate else "$in": values}}
        if isinstance(constraint, All):
            # storage.query: the field is an array (Mongo would also let a scalar equal to one value match)
            if constraint.values and all(_is_regex_spec(v) for v in constraint.values):
                return {key: {"$all": [_regex(v) for v in constraint.values], "$type": "array"}}
            if not constraint.values:
                return {key: {"$type": "array"}}
            return {key: {"$all": [value(v) for v in constraint.values], "$type": "array"}}
        if isinstance(constraint, ContainedBy):
            # Parse's form ($nor of $elemMatch $nin), restricted to arrays as storage.query defines it.
            return {"$and": [{key: {"$type": "array"}},
                             {"$nor": [{key: {"$elemMatch": {"$nin": [value(v) for v in constraint.values]}}}]}]}
        if isinstance(constraint, Exists):
            if key.startswith("_p_"):
                # a null written before the field was known to be a Pointer is stored under its plain name
                plain = key[len("_p_"):]
                if constraint.present:
                    return {"$or": [{key: {"$exists": True}}, {plain: {"$exists": True}}]}
                return {key: {"$exists": False}, plain: {"$exists": False}}
            return {key: {"$exists": constraint.present}}
        if isinstance(constraint, Regex):
            if key.startswith("_p_"):  # a pointer is no string (its stored "Class$id" form is not for matching)
                return NOTHING
            spec: dict[str, Any] = {"$regex": constraint.pattern}
            if constraint.options:
                spec["$options"] = constraint.options
            spec["$not"] = {"$type": "array"}  # storage.query: the field itself is a string
            return {key: spec}
        if isinstance(constraint, NearSphere):
            # Nested (or counted) $nearSphere only matches; parse-server counts with $centerSphere too.
            if constraint.max_distance is None:
                return {key: {"$exists": True, "$ne": None}}
            return {key: {"$geoWithin": {"$centerSphere": [_pair(constraint.point), constraint.max_distance]}}}
        if isinstance(constraint, WithinBox):
            return {key: {"$geoWithin": {"$box": [_pair(constraint.south_west), _pair(constraint.north_east)]}}}
        if isinstance(constraint, WithinPolygon):
            return {key: {"$geoWithin": {"$polygon": [_pair(p) for p in constraint.points]}}}
        if isinstance(constraint, WithinCenterSphere):
            return {key: {"$geoWithin": {"$centerSphere": [_pair(constraint.center), constraint.radius]}}}
        if isinstance(constraint, Intersects):
            return {key: {"$geoIntersects": {"$geometry": {"type": "Point", "coordinates": _pair(constraint.point)}}}}
        if isinstance(constraint, (InQuery, Select)):
            raise ParseError(ErrorCode.INVALID_QUERY, "$inQuery/$select must be resolved before the store")
        raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported constraint: {type(constraint).__name__}")

    def compare(self, key: str, constraint: Compare, value: Any) -> dict[str, Any]:
        op, raw = constraint.op, constraint.value
        encoded = value(raw)
        if op in ("$eq", "$ne"):
            if isinstance(encoded, datetime) and not _whole_ms(encoded):  # stored dates are whole milliseconds
                return NOTHING if op == "$eq" else {}
            if op == "$eq":
                return {key: encoded}
            return {key: {"$ne": encoded}}
        # storage.query: only numbers, strings and dates are ordered, each among its own kind
        orderable = (isinstance(encoded, (int, float)) and not isinstance(encoded, bool)) or \
            isinstance(encoded, datetime) or (isinstance(encoded, str) and not key.startswith("_p_"))
        if not orderable or isinstance(raw, Pointer):
            return NOTHING
        if isinstance(encoded, datetime) and not _whole_ms(encoded):
            op = {"$gte": "$gt", "$lt": "$lte"}.get(op, op)
            encoded = encoded.replace(microsecond=encoded.microsecond // 1000 * 1000)
        return {key: {op: encoded}}

    def value_encoder(self, path: tuple[str, ...], key: str):
        top_level = len(path) == 1
        pointer_key = top_level and key.startswith("_p_")
        kind = self.fields.get(path[0]) if top_level else None
        time_field = top_level and path[0] in _TIME_FIELDS

        def encode(value: Any) -> Any:
            if isinstance(value, Pointer):
                return pointer_string({"className": value.class_name, "objectId": value.object_id}) \
                    if pointer_key else value.to_json()
            if isinstance(value, GeoPoint):
                if kind is not None and kind.type == "GeoPoint":
                    return _pair(value)
                return value.to_json()
            if isinstance(value, datetime):
                return value
            if time_field and isinstance(value, str):
                return _maybe_date(value)
            if top_level and isinstance(value, dict) and value.get("__type") == "File" and kind is not None \
                    and kind.type == "File":
                return value.get("name")
            return _encode_decoded(value)

        return encode

    # --- relation fields: answered from the join collection --------------------------------------------
    async def relation_clause(self, field: str, constraint: Any) -> dict[str, Any]:
        target = self.fields[field].target_class

        async def owners(values: tuple[Any, ...]) -> list[str]:
            ids = tuple(v.object_id for v in values if isinstance(v, Pointer) and v.class_name == target)
            return await self.relations.owning_ids(self.class_name, field, ids) if ids else []

        if isinstance(constraint, Compare) and constraint.op in ("$eq", "$ne"):
            operator = "$in" if constraint.op == "$eq" else "$nin"
            return {"_id": {operator: await owners((constraint.value,))}}
        if isinstance(constraint, In):
            return {"_id": {"$nin" if constraint.negate else "$in": await owners(constraint.values)}}
        if isinstance(constraint, All):
            return combine([{"_id": {"$in": await owners((v,))}} for v in constraint.values])
        if isinstance(constraint, Exists):  # a relation is no stored key (Parse on MongoDB: never exists)
            return {} if not constraint.present else NOTHING
        return NOTHING


def matches_missing(constraint: Any) -> bool:
    """Whether the constraint holds for a missing value (storage.query semantics)."""
    if isinstance(constraint, Compare):
        return (constraint.value is None) == (constraint.op == "$eq") if constraint.op in ("$eq", "$ne") else False
    if isinstance(constraint, In):
        return (None in constraint.values) != constraint.negate
    if isinstance(constraint, Exists):
        return not constraint.present
    return False


def _whole_ms(moment: datetime) -> bool:
    return moment.microsecond % 1000 == 0


def combine(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    """One filter from clauses: merged into one document while keys do not collide, else `$and`."""
    clauses = [clause for clause in clauses if clause]
    merged: dict[str, Any] = {}
    for clause in clauses:
        if any(key in merged for key in clause):
            return {"$and": clauses}
        merged.update(clause)
    return merged


def _pair(point: GeoPoint) -> list[float]:
    return [point.longitude, point.latitude]


def _mentions_pointer(constraint: Any) -> bool:
    if isinstance(constraint, Compare):
        return isinstance(constraint.value, Pointer)
    if isinstance(constraint, (In, All)):
        return any(isinstance(v, Pointer) for v in constraint.values)
    return False


def _encode_decoded(value: Any) -> Any:
    """A decoded query value nested in an Object or Array, in its stored interior form."""
    if isinstance(value, Pointer):
        return value.to_json()
    if isinstance(value, GeoPoint):
        return value.to_json()
    if isinstance(value, dict):
        if "__type" in value:
            return encode_interior(value)
        return {k: _encode_decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_decoded(v) for v in value]
    return value


def _maybe_date(text: str) -> Any:
    try:
        return parse_date(text)
    except ParseError:
        return text


def _is_regex_spec(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("$regex"), str)


def _regex(spec: dict[str, Any]) -> BsonRegex:
    """An `$all` item `{"$regex", "$options"}` as a BSON regex, checked as every pattern is (storage.regex)."""
    options = spec.get("$options", "")
    if not isinstance(options, str):
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex options: {options}")
    pattern = translate_quoted(spec["$regex"])
    compile_regex(pattern, options)
    return BsonRegex(pattern, options)

