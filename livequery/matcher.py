"""The LiveQuery matcher: a parsed `where` (storage.query) compiled once into a plain `doc -> bool` function.

Semantics are those of the storage.query docstring, which the SQL and MongoDB translators also follow; documents
are stored REST-encoded dicts. Compiled functions never mutate the document and allocate little: they run on
every write for every candidate subscription.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from storage.errors import ErrorCode, ParseError
from storage.geo import ring_contains
from storage.query import (
    All,
    And,
    Compare,
    Constraint,
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

Document = Mapping[str, Any]
Matcher = Callable[[Document], bool]
Test = Callable[[Any], bool]


class _Missing:
    """The value of an absent key (distinct from null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Top-level keys whose plain ISO strings are instants (Parse returns them undecorated, not as Date dicts).
DATE_KEYS = frozenset({"createdAt", "updatedAt"})

_RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge,
}
_POINTER_TYPES = ("Pointer", "Object")
_REGEX_KEYS = frozenset({"$regex", "$options"})


def compile_query(node: Node) -> Matcher:
    """Compile a parsed where into `doc -> bool`. Raises INVALID_QUERY for constraints that need other classes."""
    return _node(node)


# --- nodes ---------------------------------------------------------------------------------------------------

def _node(node: Node) -> Matcher:
    if isinstance(node, Field):
        return _field(node)
    if isinstance(node, RelatedTo):
        raise ParseError(ErrorCode.INVALID_QUERY, "$relatedTo is not supported in LiveQuery subscriptions")
    parts = tuple(_node(child) for child in node.children)
    if isinstance(node, And):
        return _all_of(parts)
    if isinstance(node, Or):
        return _any_of(parts)
    if isinstance(node, Nor):
        either = _any_of(parts)
        return lambda doc: not either(doc)
    raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported query node: {type(node).__name__}")


def _always(doc: Any) -> bool:
    return True


def _never(doc: Any) -> bool:
    return False


def _all_of(parts: tuple[Callable[[Any], bool], ...]) -> Callable[[Any], bool]:
    if not parts:
        return _always
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda value: first(value) and second(value)

    def matches_all(value: Any) -> bool:
        for part in parts:
            if not part(value):
                return False
        return True

    return matches_all


def _any_of(parts: tuple[Callable[[Any], bool], ...]) -> Callable[[Any], bool]:
    if not parts:
        return _never
    if len(parts) == 1:
        return parts[0]

    def matches_any(value: Any) -> bool:
        for part in parts:
            if part(value):
                return True
        return False

    return matches_any


def _field(node: Field) -> Matcher:
    path = node.path
    is_date = len(path) == 1 and path[0] in DATE_KEYS
    if len(path) == 1 and not is_date and len(node.constraints) == 1:
        only = node.constraints[0]
        if isinstance(only, Compare) and only.op == "$eq" and only.value.__class__ is str:
            return _string_field_equals(path[0], only.value)
    test = _all_of(tuple(_constraint(c, is_date) for c in node.constraints))
    if len(path) == 1:
        key = path[0]
        if is_date:
            return lambda doc: test(_iso_instant(doc.get(key, MISSING)))
        return lambda doc: test(doc.get(key, MISSING))

    def matches_path(doc: Document) -> bool:
        value: Any = doc
        for part in path:
            if value.__class__ is not dict:
                return test(MISSING)
            value = value.get(part, MISSING)
        return test(value)

    return matches_path


def _string_field_equals(key: str, value: str) -> Matcher:
    """`{key: "value"}`, the commonest subscription (a room, a stream, a status), as one function: the same as
    `_equals` (the string itself, or an array holding it) without its three nested closures. A server holds one
    matcher per distinct query, and CPython's full collections walk every function, closure cell and tuple while
    the event loop waits: the general composition is ten such objects, this is one (its defaults tuple holds only
    strings, so the collector stops tracking it)."""

    def matches(doc: Document, key: str = key, value: str = value) -> bool:
        x = doc.get(key, MISSING)
        if x.__class__ is str:
            return x == value
        if x.__class__ is list:
            for element in x:
                if element.__class__ is str and element == value:
                    return True
        return False

    return matches


# --- constraints ---------------------------------------------------------------------------------------------

def _constraint(constraint: Constraint, is_date: bool) -> Test:
    if isinstance(constraint, Compare):
        value = _date_operand(constraint.value) if is_date else constraint.value
        if constraint.op == "$eq":
            return _equals(value)
        if constraint.op == "$ne":
            equals = _equals(value)
            return lambda x: not equals(x)
        return _range(constraint.op, value)
    if isinstance(constraint, In):
        values = tuple(_date_operand(v) for v in constraint.values) if is_date else constraint.values
        member = _member_of(values)
        return (lambda x: not member(x)) if constraint.negate else member
    if isinstance(constraint, Exists):
        return (lambda x: x is not MISSING) if constraint.present else (lambda x: x is MISSING)
    if isinstance(constraint, All):
        return _holds_all(constraint.values)
    if isinstance(constraint, ContainedBy):
        return _contained_by(constraint.values)
    if isinstance(constraint, Regex):
        search = compile_regex(constraint.pattern, constraint.options).search
        return lambda x: x.__class__ is str and search(x) is not None
    if isinstance(constraint, (NearSphere, WithinBox, WithinPolygon, WithinCenterSphere, Intersects)):
        return _geo(constraint)
    if isinstance(constraint, InQuery):
        operator_name = "$notInQuery" if constraint.negate else "$inQuery"
        raise ParseError(ErrorCode.INVALID_QUERY, f"{operator_name} is not supported in LiveQuery subscriptions")
    if isinstance(constraint, Select):
        operator_name = "$dontSelect" if constraint.negate else "$select"
        raise ParseError(ErrorCode.INVALID_QUERY, f"{operator_name} is not supported in LiveQuery subscriptions")
    raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported constraint: {type(constraint).__name__}")


def _equals(value: Any) -> Test:
    """`$eq` per storage.query: null matches null or missing; a scalar also matches an array containing it."""
    if value is None:
        return lambda x: x is None or x is MISSING or (x.__class__ is list and None in x)
    same = _same_as(value)
    if value.__class__ is list:
        return same

    def equals(x: Any) -> bool:
        if same(x):
            return True
        if x.__class__ is list:
            for element in x:
                if same(element):
                    return True
        return False

    return equals


def _same_as(value: Any) -> Test:
    """Strict equality of one stored value with one decoded query value (no array containment)."""
    kind = value.__class__
    if kind is str:
        return lambda x: x.__class__ is str and x == value
    if kind is bool:
        return lambda x: x is value
    if kind is int or kind is float:
        return lambda x: (x.__class__ is int or x.__class__ is float) and x == value
    if value is None:
        return lambda x: x is None
    if isinstance(value, datetime):
        return lambda x: _instant(x) == value
    if kind is Pointer:
        class_name, object_id = value.class_name, value.object_id
        return lambda x: (x.__class__ is dict and x.get("objectId") == object_id
                          and x.get("className") == class_name and x.get("__type") in _POINTER_TYPES)
    if kind is GeoPoint:
        latitude, longitude = value.latitude, value.longitude
        return lambda x: (x.__class__ is dict and x.get("__type") == "GeoPoint"
                          and x.get("latitude") == latitude and x.get("longitude") == longitude)
    if kind is list:
        items = tuple(_same_as(v) for v in value)
        return lambda x: (x.__class__ is list and len(x) == len(items)
                          and all(same(element) for same, element in zip(items, x)))
    if kind is dict and value.get("__type") == "File":  # Files are equal by name, as Parse stores them
        name = value.get("name")
        return lambda x: x.__class__ is dict and x.get("__type") == "File" and x.get("name") == name
    if kind is dict:
        entries = tuple((k, _same_as(v)) for k, v in value.items())
        size = len(entries)

        def same_object(x: Any) -> bool:
            if x.__class__ is not dict or len(x) != size:
                return False
            for key, same in entries:
                if not same(x.get(key, MISSING)):
                    return False
            return True

        return same_object
    return lambda x: x == value


def _member_of(values: tuple[Any, ...]) -> Test:
    """`$in`: equal to one of `values` (an array field: one of its elements is)."""
    if not values:
        return _never
    if all(v.__class__ is str for v in values):
        strings = frozenset(values)

        def in_strings(x: Any) -> bool:
            if x.__class__ is str:
                return x in strings
            if x.__class__ is list:
                for element in x:
                    if element.__class__ is str and element in strings:
                        return True
            return False

        return in_strings
    return _any_of(tuple(_equals(v) for v in values))


def _holds_all(values: tuple[Any, ...]) -> Test:
    """`$all`: the field is an array holding every value (so any array holds none)."""
    sames = tuple(_element_regex(v) or _same_as(v) for v in values)

    def holds_all(x: Any) -> bool:
        if x.__class__ is not list:
            return False
        for same in sames:
            if not any(same(element) for element in x):
                return False
        return True

    return holds_all


def _element_regex(value: Any) -> Test | None:
    """`{"$regex": ..., "$options": ...}` as an `$all` item (the SDKs' containsAllStartingWith)."""
    if value.__class__ is not dict or value.get("$regex").__class__ is not str or not set(value) <= _REGEX_KEYS:
        return None
    options = value.get("$options", "")
    if options.__class__ is not str:
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex options: {options}")
    search = compile_regex(translate_quoted(value["$regex"]), options).search  # RE2: linear time
    return lambda x: x.__class__ is str and search(x) is not None


def _contained_by(values: tuple[Any, ...]) -> Test:
    listed = _any_of(tuple(_same_as(v) for v in values))

    def contained_by(x: Any) -> bool:
        if x.__class__ is not list:
            return False
        for element in x:
            if not listed(element):
                return False
        return True

    return contained_by


def _range(op: str, value: Any) -> Test:
    compare = _RANGES[op]
    kind = value.__class__
    if kind is int or kind is float:
        def one(x: Any) -> bool:
            return (x.__class__ is int or x.__class__ is float) and compare(x, value)
    elif kind is str:
        def one(x: Any) -> bool:
            return x.__class__ is str and compare(x, value)
    elif isinstance(value, datetime):
        def one(x: Any) -> bool:
            moment = _instant(x)
            return moment is not None and compare(moment, value)
    else:
        return _never

    def in_range(x: Any) -> bool:
        if x.__class__ is list:
            for element in x:
                if one(element):
                    return True
            return False
        return one(x)

    return in_range


# --- dates ---------------------------------------------------------------------------------------------------

def _instant(x: Any) -> datetime | None:
    """A stored Date dict (or an already-decoded createdAt/updatedAt) as an aware datetime; else None."""
    if x.__class__ is datetime:
        return x  # type: ignore[no-any-return]
    if x.__class__ is dict and x.get("__type") == "Date":
        return _parse_iso(x.get("iso"))
    return None


def _iso_instant(x: Any) -> Any:
    """createdAt/updatedAt are plain ISO strings in stored documents: read them as instants."""
    if x.__class__ is str:
        moment = _parse_iso(x)
        return x if moment is None else moment
    return x


def _parse_iso(text: Any) -> datetime | None:
    if text.__class__ is not str:
        return None
    try:
        moment = datetime.fromisoformat(text)  # 3.11 reads the trailing Z
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _date_operand(value: Any) -> Any:
    """A query string compared with createdAt/updatedAt is read as a date, as Parse does."""
    if value.__class__ is str:
        try:
            return parse_date(value)
        except ParseError:
            return value
    return value


# --- geo -----------------------------------------------------------------------------------------------------

def _geo(constraint: Constraint) -> Test:
    if isinstance(constraint, Intersects):
        lat, lng = constraint.point.latitude, constraint.point.longitude

        def intersects(x: Any) -> bool:
            if x.__class__ is not dict or x.get("__type") != "Polygon":
                return False
            ring = _polygon_ring(x.get("coordinates"))
            return ring is not None and ring_contains(lat, lng, ring)

        return intersects
    if isinstance(constraint, NearSphere):
        center, limit = constraint.point, constraint.max_distance
        if limit is None:
            return lambda x: _point(x) is not None
        return _within_distance(center, limit)
    if isinstance(constraint, WithinCenterSphere):
        return _within_distance(constraint.center, constraint.radius)
    if isinstance(constraint, WithinBox):
        south, west = constraint.south_west.latitude, constraint.south_west.longitude
        north, east = constraint.north_east.latitude, constraint.north_east.longitude

        def within_box(x: Any) -> bool:  # edges included, as MongoDB counts them
            point = _point(x)
            return point is not None and south <= point[0] <= north and west <= point[1] <= east

        return within_box
    if isinstance(constraint, WithinPolygon):
        ring = tuple((p.latitude, p.longitude) for p in constraint.points)

        def within_polygon(x: Any) -> bool:
            point = _point(x)
            return point is not None and ring_contains(point[0], point[1], ring)

        return within_polygon
    raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported geo constraint: {type(constraint).__name__}")


def _point(x: Any) -> tuple[float, float] | None:
    if x.__class__ is not dict or x.get("__type") != "GeoPoint":
        return None
    lat, lng = x.get("latitude"), x.get("longitude")
    if not (_is_number(lat) and _is_number(lng)):
        return None
    return float(lat), float(lng)


def _within_distance(center: GeoPoint, radians: float) -> Test:
    """Haversine distance in radians, computed in the same order as Parse's GeoPoint.radiansTo (and the stores),
    so that points at exactly the limit fall on the same side everywhere."""
    to_rad = math.pi / 180.0
    phi1, lng1 = center.latitude * to_rad, center.longitude * to_rad
    cos_phi1 = math.cos(phi1)

    def within(x: Any) -> bool:
        point = _point(x)
        if point is None:
            return False
        phi2 = point[0] * to_rad
        half_dlat = math.sin((phi1 - phi2) / 2.0)
        half_dlng = math.sin((lng1 - point[1] * to_rad) / 2.0)
        a = half_dlat * half_dlat + cos_phi1 * math.cos(phi2) * half_dlng * half_dlng
        return 2.0 * math.asin(math.sqrt(min(1.0, a))) <= radians

    return within


def _polygon_ring(coordinates: Any) -> tuple[tuple[float, float], ...] | None:
    """A stored Polygon's `[[lat, lng], ...]` as points, or None if malformed."""
    if coordinates.__class__ is not list or len(coordinates) < 3:
        return None
    ring = []
    for pair in coordinates:
        if pair.__class__ is not list or len(pair) != 2 or not all(_is_number(c) for c in pair):
            return None
        ring.append((float(pair[0]), float(pair[1])))
    return tuple(ring)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return value.__class__ is int or value.__class__ is float


