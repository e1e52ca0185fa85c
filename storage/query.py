"""The one parsed form of a Parse `where` clause.

Built once per request by `parse_where`; the SQLite and MongoDB translators and the LiveQuery matcher all start
from it, so an operator means the same thing everywhere. Unknown operators and malformed values are rejected
here, before any store sees them.

Semantics every evaluator keeps (Parse on MongoDB is the reference):
- `Compare("$eq", v)`: v None matches a null or missing field; a scalar v matches an equal value or an array
  that contains it; a list v matches an equal array. Numbers compare by value (1 == 1.0); dates as instants
  (stored `{"__type":"Date"}` values and the plain ISO `createdAt`/`updatedAt` alike); pointers by class and id.
- `$lt/$lte/$gt/$gte`: only values of the same kind compare (number/number, string/string, date/date); an
  array field matches when one of its elements does. Other kinds never match.
- `$ne` / `$nin` are the negations of `$eq` / `$in`, so a missing field matches them.
- `$exists: true` matches a present key, null included.
- `$all`: the field is an array holding every value; `$containedBy`: an array whose elements are all listed.
- `$regex`: the field is a string and the pattern (RE2 syntax, linear time: storage.regex) is found in it.
- Geo: points are GeoPoints; distances in radians on a sphere.
- `InQuery`, `Select` and `RelatedTo` need other classes: the API layer resolves them into plain constraints
  before a store sees the query; the LiveQuery matcher refuses them at subscribe time.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Hashable, Union

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.limits import DEFAULT_QUERY_LIMITS, QueryLimits
from storage.regex import OPTION_LETTERS, CompiledRegex, compile_regex, translate_quoted
from storage.values import GeoPoint, Pointer, decode, parse_date

Path = tuple[str, ...]

EARTH_RADIUS_MILES = 3958.8
EARTH_RADIUS_KM = 6371.0


class Compare(msgspec.Struct, frozen=True):
    op: str  # one of $eq $ne $lt $lte $gt $gte
    value: Any


class In(msgspec.Struct, frozen=True):
    values: tuple[Any, ...]
    negate: bool = False  # $nin


class All(msgspec.Struct, frozen=True):
    values: tuple[Any, ...]


class ContainedBy(msgspec.Struct, frozen=True):
    values: tuple[Any, ...]


class Exists(msgspec.Struct, frozen=True):
    present: bool


class Regex(msgspec.Struct, frozen=True):
    pattern: str  # already translated for RE2 (no \Q...\E)
    options: str = ""  # subset of "imsx"

    def compiled(self) -> CompiledRegex:
        return compile_regex(self.pattern, self.options)


class NearSphere(msgspec.Struct, frozen=True):
    point: GeoPoint
    max_distance: float | None = None  # radians


class WithinBox(msgspec.Struct, frozen=True):
    south_west: GeoPoint
    north_east: GeoPoint


class WithinPolygon(msgspec.Struct, frozen=True):
    points: tuple[GeoPoint, ...]


class WithinCenterSphere(msgspec.Struct, frozen=True):
    center: GeoPoint
    radius: float  # radians


class Intersects(msgspec.Struct, frozen=True):
    point: GeoPoint


class InQuery(msgspec.Struct, frozen=True):
    class_name: str
    where: "Node"
    negate: bool = False  # $notInQuery


class Select(msgspec.Struct, frozen=True):
    class_name: str
    where: "Node"
    key: str
    negate: bool = False  # $dontSelect


Constraint = Union[
    Compare, In, All, ContainedBy, Exists, Regex, NearSphere, WithinBox, WithinPolygon,
    WithinCenterSphere, Intersects, InQuery, Select,
]


class Field(msgspec.Struct, frozen=True):
    """Every constraint must hold for the value at `path` (a dotted key, split)."""

    path: Path
    constraints: tuple[Constraint, ...]


class And(msgspec.Struct, frozen=True):
    children: tuple["Node", ...]


class Or(msgspec.Struct, frozen=True):
    children: tuple["Node", ...]


class Nor(msgspec.Struct, frozen=True):
    children: tuple["Node", ...]


class RelatedTo(msgspec.Struct, frozen=True):
    """Objects in the relation `key` of `owner`."""

    owner: Pointer
    key: str


Node = Union[Field, And, Or, Nor, RelatedTo]


def query_shape(node: Node) -> Hashable:
    """The query without its values: fields, operators and how they combine. Two queries of one shape usually
    cost the store alike (a regex scan and an indexed equality do not share one)."""
    if isinstance(node, Field):
        return node.path, tuple((type(c).__name__, c.op) if isinstance(c, Compare) else type(c).__name__
                                for c in node.constraints)
    if isinstance(node, (And, Or, Nor)):
        return type(node).__name__, tuple(query_shape(child) for child in node.children)
    return type(node).__name__

MATCH_ALL: Node = And(())

_ALIASES = {"_created_at": "createdAt", "_updated_at": "updatedAt", "_id": "objectId"}
_PUBLIC_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_INTERNAL_KEY = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_COMPARISONS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")
_GEO_DISTANCES = ("$maxDistance", "$maxDistanceInRadians", "$maxDistanceInMiles", "$maxDistanceInKilometers")


def parse_where(where: Any, *, internal: bool = False, now: datetime | None = None,
                limits: QueryLimits = DEFAULT_QUERY_LIMITS) -> Node:
    """Parse a Parse `where` object. `internal` allows `_`-prefixed keys (server use, never clients).

    A where larger than `limits` is INVALID_QUERY, found before any store or matcher does work on it."""
    if where is None:
        return MATCH_ALL
    if not isinstance(where, dict):
        raise ParseError(ErrorCode.INVALID_JSON, "where must be a JSON object")
    return _Parser(internal, now or datetime.now(timezone.utc), limits).node(where)


def conjoin(*nodes: Node) -> Node:
    """`nodes` all hold; flattens nested Ands and drops MATCH_ALL."""
    parts: list[Node] = []
    for node in nodes:
        if isinstance(node, And):
            parts.extend(node.children)
        else:
            parts.append(node)
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def walk(node: Node):
    """Every node and constraint of a query, depth first (sub-queries' wheres included)."""
    yield node
    if isinstance(node, (And, Or, Nor)):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Field):
        for constraint in node.constraints:
            yield constraint
            if isinstance(constraint, (InQuery, Select)):
                yield from walk(constraint.where)


def needs_other_classes(node: Node) -> bool:
    return any(isinstance(part, (InQuery, Select, RelatedTo)) for part in walk(node))


class _Parser:
    def __init__(self, internal: bool, now: datetime, limits: QueryLimits) -> None:
        self.internal = internal
        self.now = now
        self.limits = limits
        self.depth = 0
        self.conditions = 0

    def node(self, where: dict[str, Any]) -> Node:
        self.depth += 1
        if self.depth > self.limits.depth:
            raise ParseError(ErrorCode.INVALID_QUERY, f"where nests $or/$and/$nor and sub-queries deeper than "
                                                      f"{self.limits.depth} levels")
        try:
            return self._node(where)
        finally:
            self.depth -= 1

    def count(self, conditions: int) -> None:
        self.conditions += conditions
        if self.conditions > self.limits.conditions:
            raise ParseError(ErrorCode.INVALID_QUERY,
                             f"where has more than {self.limits.conditions} conditions")

    def _node(self, where: dict[str, Any]) -> Node:
        self.count(len(where))
        parts: list[Node] = []
        for key, value in where.items():
            if key in ("$or", "$and", "$nor"):
                parts.append(self.logical(key, value))
            elif key == "$relatedTo":
                parts.append(self.related_to(value))
            elif key.startswith("$"):
                raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid key name: {key}")
            else:
                parts.append(self.field(key, value))
        return conjoin(*parts) if parts else MATCH_ALL

    def logical(self, key: str, value: Any) -> Node:
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise ParseError(ErrorCode.INVALID_QUERY, f"Bad {key} format - use an array of at least 1 value.")
        if len(value) > self.limits.branches:
            raise ParseError(ErrorCode.INVALID_QUERY, f"{key} has more than {self.limits.branches} clauses")
        children = tuple(self.node(v) for v in value)
        return {"$or": Or, "$and": And, "$nor": Nor}[key](children)

    def related_to(self, value: Any) -> Node:
        if not isinstance(value, dict) or not isinstance(value.get("key"), str):
            raise ParseError(ErrorCode.INVALID_JSON, "$relatedTo needs object and key")
        owner = decode(value.get("object"))
        if not isinstance(owner, Pointer):
            raise ParseError(ErrorCode.INVALID_JSON, "$relatedTo object must be a Pointer")
        return RelatedTo(owner, value["key"])

    def field(self, key: str, value: Any) -> Node:
        key = _ALIASES.get(key, key)
        if key == "ACL":
            raise ParseError(ErrorCode.INVALID_QUERY, "Cannot query on ACL.")
        pattern = _INTERNAL_KEY if self.internal else _PUBLIC_KEY
        if not pattern.match(key):
            raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid key name: {key}")
        path = tuple(key.split("."))
        if isinstance(value, dict) and "__type" not in value and any(k.startswith("$") for k in value):
            return Field(path, self.constraints(value))
        return Field(path, (Compare("$eq", self.value(value)),))

    def value(self, raw: Any) -> Any:
        try:
            return decode(raw)
        except (KeyError, TypeError, ValueError):
            raise ParseError(ErrorCode.INVALID_JSON, f"bad value: {raw!r}") from None

    def values(self, op: str, raw: Any) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise ParseError(ErrorCode.INVALID_JSON, f"bad {op} value")
        if len(raw) > self.limits.values:
            raise ParseError(ErrorCode.INVALID_QUERY, f"{op} has more than {self.limits.values} values")
        return tuple(self.value(v) for v in raw)

    def constraints(self, spec: dict[str, Any]) -> tuple[Constraint, ...]:
        self.count(len(spec) - 1)
        plain = {k: v for k, v in spec.items() if not k.startswith("$")}
        out: list[Constraint] = []
        if plain:
            out.append(Compare("$eq", self.value(plain)))
        for op, raw in spec.items():
            if not op.startswith("$") or op in _GEO_DISTANCES or op == "$options":
                continue
            out.append(self.constraint(op, raw, spec))
        return tuple(out)

    def constraint(self, op: str, raw: Any, spec: dict[str, Any]) -> Constraint:
        if op in _COMPARISONS:
            return Compare(op, self.comparable(raw))
        if op in ("$in", "$nin"):
            return In(self.values(op, raw), negate=op == "$nin")
        if op == "$all":
            return All(self.values(op, raw))
        if op == "$containedBy":
            return ContainedBy(self.values(op, raw))
        if op == "$exists":
            if not isinstance(raw, bool):
                raise ParseError(ErrorCode.INVALID_JSON, "$exists must be a boolean")
            return Exists(raw)
        if op == "$regex":
            return self.regex(raw, spec.get("$options", ""))
        if op == "$nearSphere":
            return NearSphere(self.geopoint(raw), self.max_distance(spec))
        if op == "$within":
            return self.within(raw)
        if op == "$geoWithin":
            return self.geo_within(raw)
        if op == "$geoIntersects":
            if not isinstance(raw, dict) or "$point" not in raw:
                raise ParseError(ErrorCode.INVALID_JSON, "bad $geoIntersect value; $point should be GeoPoint")
            return Intersects(self.geopoint(raw["$point"]))
        if op in ("$inQuery", "$notInQuery"):
            class_name, where = self.subquery(op, raw)
            return InQuery(class_name, where, negate=op == "$notInQuery")
        if op in ("$select", "$dontSelect"):
            if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or "query" not in raw:
                raise ParseError(ErrorCode.INVALID_QUERY, f"improper usage of {op}")
            class_name, where = self.subquery(op, raw["query"])
            return Select(class_name, where, raw["key"], negate=op == "$dontSelect")
        if op == "$text":
            raise ParseError(ErrorCode.INVALID_QUERY, "$text is not supported by this server")
        raise ParseError(ErrorCode.INVALID_JSON, f"bad constraint: {op}")

    def comparable(self, raw: Any) -> Any:
        if isinstance(raw, dict) and "$relativeTime" in raw:
            return self.relative_time(raw["$relativeTime"])
        return self.value(raw)

    def relative_time(self, text: Any) -> datetime:
        if not isinstance(text, str):
            raise ParseError(ErrorCode.INVALID_JSON, "$relativeTime must be a string")
        words = text.strip().lower().split()
        if words == ["now"]:
            return self.now
        future = len(words) == 3 and words[0] == "in"
        past = len(words) == 3 and words[2] == "ago"
        if not (future or past):
            raise ParseError(ErrorCode.INVALID_JSON, f"bad $relativeTime: {text}")
        amount_word, unit = (words[1], words[2]) if future else (words[0], words[1])
        try:
            amount = float(amount_word)
        except ValueError:
            raise ParseError(ErrorCode.INVALID_JSON, f"bad $relativeTime: {text}") from None
        seconds_per = {"sec": 1, "second": 1, "min": 60, "minute": 60, "hr": 3600, "hour": 3600,
                       "day": 86400, "week": 604800, "month": 2592000, "year": 31536000}
        unit = unit[:-1] if unit.endswith("s") else unit
        if unit not in seconds_per:
            raise ParseError(ErrorCode.INVALID_JSON, f"bad $relativeTime unit: {text}")
        delta = timedelta(seconds=amount * seconds_per[unit])
        return self.now + delta if future else self.now - delta

    def regex(self, raw: Any, options: Any) -> Regex:
        if not isinstance(raw, str):
            raise ParseError(ErrorCode.INVALID_QUERY, "$regex must be a string")
        if not isinstance(options, str) or any(c not in OPTION_LETTERS for c in options):
            raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex options: {options}")
        pattern = translate_quoted(raw)
        compile_regex(pattern, options)  # INVALID_QUERY for what RE2 cannot run in linear time
        return Regex(pattern, "".join(sorted(set(options))))

    def geopoint(self, raw: Any) -> GeoPoint:
        if isinstance(raw, list) and len(raw) == 2:  # [longitude, latitude], as $centerSphere takes it
            raw = {"__type": "GeoPoint", "longitude": raw[0], "latitude": raw[1]}
        point = self.value(raw) if isinstance(raw, dict) else None
        if not isinstance(point, GeoPoint) or not (-90 <= point.latitude <= 90 and -180 <= point.longitude <= 180):
            raise ParseError(ErrorCode.INVALID_JSON, "bad GeoPoint")
        return point

    def max_distance(self, spec: dict[str, Any]) -> float | None:
        for key, divisor in (("$maxDistance", 1.0), ("$maxDistanceInRadians", 1.0),
                             ("$maxDistanceInMiles", EARTH_RADIUS_MILES),
                             ("$maxDistanceInKilometers", EARTH_RADIUS_KM)):
            if key in spec:
                raw = spec[key]
                if not isinstance(raw, (int, float)) or isinstance(raw, bool) or raw < 0 or math.isnan(raw):
                    raise ParseError(ErrorCode.INVALID_JSON, f"bad {key} value")
                return float(raw) / divisor
        return None

    def within(self, raw: Any) -> WithinBox:
        box = raw.get("$box") if isinstance(raw, dict) else None
        if not isinstance(box, list) or len(box) != 2:
            raise ParseError(ErrorCode.INVALID_JSON, "malformatted $within arg")
        south_west, north_east = self.geopoint(box[0]), self.geopoint(box[1])
        if south_west.latitude > north_east.latitude:
            raise ParseError(ErrorCode.INVALID_JSON, "GeoBox upper corner must be above the lower corner")
        return WithinBox(south_west, north_east)

    def geo_within(self, raw: Any) -> Constraint:
        if isinstance(raw, dict) and "$polygon" in raw:
            polygon = raw["$polygon"]
            if isinstance(polygon, dict) and polygon.get("__type") == "Polygon":
                coords = polygon.get("coordinates")
                if not isinstance(coords, list):
                    raise ParseError(ErrorCode.INVALID_JSON,
                                     "bad $geoWithin value; Polygon.coordinates should contain at least 3 values")
                polygon = [{"__type": "GeoPoint", "latitude": c[0], "longitude": c[1]}
                           for c in coords if isinstance(c, list) and len(c) == 2]
            if not isinstance(polygon, list) or len(polygon) < 3:
                raise ParseError(ErrorCode.INVALID_JSON,
                                 "bad $geoWithin value; $polygon should contain at least 3 GeoPoints")
            return WithinPolygon(tuple(self.geopoint(p) for p in polygon))
        if isinstance(raw, dict) and "$centerSphere" in raw:
            sphere = raw["$centerSphere"]
            if not isinstance(sphere, list) or len(sphere) != 2:
                raise ParseError(ErrorCode.INVALID_JSON,
                                 "bad $geoWithin value; $centerSphere should be an array of [center, distance]")
            radius = sphere[1]
            if not isinstance(radius, (int, float)) or isinstance(radius, bool) or radius < 0:
                raise ParseError(ErrorCode.INVALID_JSON, "bad $geoWithin value; $centerSphere distance invalid")
            return WithinCenterSphere(self.geopoint(sphere[0]), float(radius))
        raise ParseError(ErrorCode.INVALID_JSON, "bad $geoWithin value; needs $polygon or $centerSphere")

    def subquery(self, op: str, raw: Any) -> tuple[str, Node]:
        if not isinstance(raw, dict) or not isinstance(raw.get("className"), str):
            raise ParseError(ErrorCode.INVALID_QUERY, f"improper usage of {op}")
        where = raw.get("where", {})
        if not isinstance(where, dict):
            raise ParseError(ErrorCode.INVALID_QUERY, f"improper usage of {op}")
        return raw["className"], self.node(where)


def parse_date_value(raw: Any) -> datetime:
    """A date as a query or the stores give it: a datetime, a Date dict, or an ISO string."""
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, dict):
        return parse_date(raw.get("iso"))
    return parse_date(raw)
