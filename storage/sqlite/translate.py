"""Translates the parsed `where` (storage.query) and a sort order into SQL over a class table's `doc` JSON.

Every value is a named parameter; only validated key names reach the SQL text (as JSON path literals or quoted
column names). A top-level field whose type the schema knows to be comparable (INDEXED_TYPES) also has a value
column beside the document, written with it (storage.sqlite.layout), and compares and sorts on that column,
`field_expr`, which its index covers: no row's JSON is parsed to test or sort on it. A field the schema does not
know is compared in the document behind `json_type` guards, with Mongo's array semantics. Every predicate is 1
when it holds, so `(p) IS NOT 1` is its negation even where JSON values are missing.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from storage.errors import ErrorCode, ParseError
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
from storage.schema import ClassSchema
from storage.values import FieldType, GeoPoint, Pointer, format_date, parse_date

DOC = "doc"
ISO_DATE_FIELDS = frozenset({"createdAt", "updatedAt"})  # stored as plain ISO strings, not Date objects
INDEXED_TYPES = frozenset({"String", "Number", "Boolean", "Date", "Pointer"})
_SEGMENT = re.compile(r"^[A-Za-z0-9_]+$")
_CAPITAL = re.compile(r"[A-Z]")
_KINDS = {"String": "string", "Number": "number", "Boolean": "boolean", "Date": "date", "Pointer": "pointer",
          "Array": "array", "Relation": "relation"}
_ACL_ARRAYS = frozenset({"_rperm", "_wperm"})
_SHORT_LIST = 16

SchemaLookup = Callable[[str], "ClassSchema | None"]


class Translation(NamedTuple):
    where: str
    order: str  # the ORDER BY body, or ""
    params: dict[str, Any]


def translate(class_name: str, node: Node, order: Sequence[Any], schema_of: SchemaLookup) -> Translation:
    """The WHERE clause and ORDER BY for a find; with no explicit order, `$nearSphere` sorts nearest first."""
    translator = Translator(class_name, schema_of)
    where = translator.where(node)
    return Translation(where, translator.order(order, node), translator.params)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def join_table(class_name: str, field: str) -> str:
    return f"_Join:{field}:{class_name}"


def json_path(path: Sequence[str]) -> str:
    """`$.a.b` for a validated dotted key; anything else never reaches SQL text."""
    if not path or not all(_SEGMENT.match(part) for part in path):
        raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid key name: {'.'.join(path)}")
    return "$." + ".".join(path)


def has_value_column(name: str, kind: FieldType | None) -> bool:
    """Whether a top-level field of this schema type has a value column (objectId is a column of its own)."""
    return kind is not None and kind.type in INDEXED_TYPES and name != "objectId"


def case_safe(name: str) -> str:
    """A field name as SQLite names must spell it: they ignore letter case and Parse's do not, so each capital
    letter is written as `^` and the letter (`dueAt` -> `due^at`), and `Score` and `score` stay two names."""
    if not _SEGMENT.match(name):
        raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid key name: {name}")
    return _CAPITAL.sub(lambda capital: "^" + capital.group().lower(), name)


def value_column(name: str) -> str:
    """The quoted column holding a field's comparable value: `$` and its case-safe name (`$due^at`)."""
    return quote("$" + case_safe(name))


def value_path(name: str, kind: FieldType | None) -> str:
    """The JSON path of a top-level field's comparable value in the document: a Date's `iso`, a Pointer's
    `objectId` (createdAt and updatedAt are plain ISO strings), the value itself otherwise."""
    path = json_path((name,))
    if kind is not None and name not in ISO_DATE_FIELDS:
        if kind.type == "Date":
            path += ".iso"
        elif kind.type == "Pointer":
            path += ".objectId"
    return path


def field_expr(name: str, kind: FieldType | None) -> str:
    """The expression a top-level field is compared and sorted on, and therefore what its index covers."""
    if name == "objectId":
        return "objectId"
    if has_value_column(name, kind):
        return value_column(name)
    return f"json_extract({DOC}, '{value_path(name, kind)}')"


class _Slot(NamedTuple):
    """Where a JSON value sits: a path in the document, an array element, or the objectId column."""

    value: str  # the SQL value (JSON text for objects and arrays, 1/0 for booleans)
    type: str  # json_type name, NULL when missing
    base: str | None  # JSON container and path that `sub` and `json_each` start from
    path: str = "$"
    is_element: bool = False
    column_key: str = ""  # a Date's `iso` or a Pointer's `objectId`, read from the field's value column...
    column: str = ""  # ...this one

    def sub(self, key: str) -> str:
        if key == self.column_key:
            return self.column
        if self.base is None:
            return "NULL"
        expr = f"json_extract({self.base}, '{self.path}.{key}')"
        # an element's value is raw text for strings: only parse it when it is an object
        return f"(CASE WHEN {self.type} = 'object' THEN {expr} END)" if self.is_element else expr


_SCALAR_KINDS = frozenset({"string", "number", "boolean", "isodate"})  # the value column holds the value itself
_SUBKEY_KINDS = {"date": "iso", "pointer": "objectId"}  # ...or this key of the stored object
_ELEMENT = _Slot("e.value", "e.type", "e.value", "$", True)
_OBJECT_ID = _Slot("objectId", "'text'", None)


def _doc_slot(path: Sequence[str]) -> _Slot:
    literal = json_path(path)
    return _Slot(f"json_extract({DOC}, '{literal}')", f"json_type({DOC}, '{literal}')", DOC, literal)


def _or(parts: Sequence[str]) -> str:
    if not parts:
        return "0"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(f"({p})" for p in parts) + ")"


def _and(*parts: str | None) -> str:
    present = [p for p in parts if p]
    if not present:
        return "1"
    return present[0] if len(present) == 1 else "(" + " AND ".join(f"({p})" for p in present) + ")"


def _not(predicate: str) -> str:
    return f"(({predicate}) IS NOT 1)"


def _tag(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, Pointer):
        return "pointer"
    return "other"


def to_parse_json(value: Any) -> Any:
    """A decoded query value back in stored form (what `pq_same` compares against)."""
    if isinstance(value, datetime):
        return {"__type": "Date", "iso": format_date(value)}
    if isinstance(value, (Pointer, GeoPoint)):
        return value.to_json()
    if isinstance(value, dict):
        return {k: to_parse_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_parse_json(v) for v in value]
    return value


def _json_text(value: Any) -> str:
    return msgspec.json.encode(to_parse_json(value)).decode()


def _is_whole_ms(moment: datetime) -> bool:
    return moment.microsecond % 1000 == 0


class Translator:
    """Builds one statement's SQL; reads schemas lazily through `schema_of` (the queried class and owners)."""

    def __init__(self, class_name: str, schema_of: SchemaLookup) -> None:
        self.class_name = class_name
        self.params: dict[str, Any] = {}
        self._schema_of = schema_of
        self._schemas: dict[str, ClassSchema | None] = {}

    def bind(self, value: Any) -> str:
        if type(value) is int and not -(2 ** 63) <= value < 2 ** 63:
            value = float(value)
        name = f"p{len(self.params)}"
        self.params[name] = value
        return ":" + name

    def schema(self, class_name: str | None = None) -> ClassSchema | None:
        name = class_name or self.class_name
        if name not in self._schemas:
            self._schemas[name] = self._schema_of(name)
        return self._schemas[name]

    def field_type(self, name: str) -> FieldType | None:
        schema = self.schema()
        return schema.field_type(name) if schema is not None else None

    def _kind(self, path: Sequence[str]) -> str | None:
        """What the schema says about a path: a kind tag, or None where only guards can tell."""
        if len(path) != 1:
            return None
        name = path[0]
        if name == "objectId":
            return "objectid"
        if name in ISO_DATE_FIELDS:
            return "isodate"
        if name in _ACL_ARRAYS:
            return "array"
        known = self.field_type(name)
        if known is None:
            return None
        return _KINDS.get(known.type, "object")

    def _slot(self, path: Sequence[str], kind: str | None) -> _Slot:
        if kind == "objectid":
            return _OBJECT_ID
        slot = _doc_slot(path)
        if kind is None or not has_value_column(path[0], self.field_type(path[0])):
            return slot
        if kind in _SCALAR_KINDS:
            return slot._replace(value=value_column(path[0]))
        if kind in _SUBKEY_KINDS:
            return slot._replace(column_key=_SUBKEY_KINDS[kind], column=value_column(path[0]))
        return slot

    # --- nodes ------------------------------------------------------------------------------------------------
    def where(self, node: Node) -> str:
        if isinstance(node, Field):
            return _and(*(self._constraint(node.path, c) for c in node.constraints))
        if isinstance(node, And):
            return _and(*(self.where(child) for child in node.children))
        if isinstance(node, Or):
            return _or([self.where(child) for child in node.children])
        if isinstance(node, Nor):
            return _not(_or([self.where(child) for child in node.children]))
        if isinstance(node, RelatedTo):
            return self._related_to(node)
        raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported query node: {type(node).__name__}")

    def _related_to(self, node: RelatedTo) -> str:
        owner = self.schema(node.owner.class_name)
        kind = owner.field_type(node.key) if owner is not None else None
        if kind is None or kind.type != "Relation" or kind.target_class != self.class_name:
            return "0"
        table = quote(join_table(node.owner.class_name, node.key))
        return f"objectId IN (SELECT relatedId FROM {table} WHERE owningId = {self.bind(node.owner.object_id)})"

    def _constraint(self, path: Sequence[str], constraint: Any) -> str:
        if isinstance(constraint, Compare):
            value = _as_instant(constraint.value) if _is_iso_date(path) else constraint.value
            return self._compare(path, constraint.op, value)
        if isinstance(constraint, In):
            values = constraint.values
            if _is_iso_date(path):
                values = tuple(_as_instant(v) for v in values)
            matches = self._equals_any(path, values)
            return _not(matches) if constraint.negate else matches
        if isinstance(constraint, Exists):
            kind = self._kind(path)
            if kind == "objectid":
                return "1" if constraint.present else "0"
            slot = _doc_slot(path)
            return f"{slot.type} IS {'NOT ' if constraint.present else ''}NULL"
        if isinstance(constraint, Regex):
            return self._regex(path, constraint)
        if isinstance(constraint, All):
            return self._all(path, constraint.values)
        if isinstance(constraint, ContainedBy):
            return self._contained_by(path, constraint.values)
        if isinstance(constraint, (NearSphere, WithinBox, WithinPolygon, WithinCenterSphere, Intersects)):
            return self._geo(path, constraint)
        if isinstance(constraint, (InQuery, Select)):
            raise ParseError(ErrorCode.INVALID_QUERY, "$inQuery and $select must be resolved before the store")
        raise ParseError(ErrorCode.INVALID_QUERY, f"unsupported constraint: {type(constraint).__name__}")

    # --- equality -----------------------------------------------------------------------------------------
    def _compare(self, path: Sequence[str], op: str, value: Any) -> str:
        if op == "$eq":
            return self._equals_any(path, (value,))
        if op == "$ne":
            return _not(self._equals_any(path, (value,)))
        tag = _tag(value)
        if tag not in ("number", "string", "date"):
            return "0"  # only numbers, strings and dates are ordered
        if tag == "date":
            op = _whole_ms_op(op, value)
            value = format_date(value)
        sql_op = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}[op]
        kind = self._kind(path)

        def ordered(slot: _Slot, slot_kind: str | None) -> list[str]:
            expr = self._typed_expr(slot, slot_kind, tag)
            return [] if expr is None else [_and(expr[1], f"{expr[0]} {sql_op} {self.bind(value)}")]

        return self._with_elements(path, kind, ordered)

    def _typed_expr(self, slot: _Slot, kind: str | None, tag: str) -> tuple[str, str | None] | None:
        """(expression, guard) comparing a slot to values of `tag`, or None if the kinds never meet."""
        if tag == "number" and kind in (None, "number"):
            return slot.value, None if kind else f"{slot.type} IN ('integer', 'real')"
        if tag == "string" and kind in (None, "string", "objectid"):
            return slot.value, None if kind else f"{slot.type} = 'text'"
        if tag == "date" and kind == "isodate":
            return slot.value, None
        if tag == "date" and kind in (None, "date"):
            return slot.sub("iso"), None if kind else f"{slot.type} = 'object' AND {slot.sub('__type')} = 'Date'"
        return None

    def _with_elements(self, path: Sequence[str], kind: str | None,
                       build: Callable[[_Slot, str | None], list[str]]) -> str:
        """`build`'s predicates on the field itself or, for arrays (known or possible), on any element."""
        if kind == "relation":
            return "0"
        slot = self._slot(path, kind)
        if kind == "array":
            return self._any_element(slot, build(_ELEMENT, None)) or "0"
        parts = build(slot, kind)
        if kind is None:
            element = self._any_element(slot, build(_ELEMENT, None))
            if element:
                parts = [*parts, element]
        return _or(parts)

    def _any_element(self, slot: _Slot, parts: list[str]) -> str | None:
        if slot.base is None or not parts:
            return None
        return (f"{slot.type} = 'array' AND EXISTS (SELECT 1 FROM json_each({slot.base}, '{slot.path}') AS e "
                f"WHERE {_or(parts)})")

    def _equals_any(self, path: Sequence[str], values: Sequence[Any]) -> str:
        """The field equals one of `values` (`$eq`, `$in`), an array field containing one included."""
        if not values:
            return "0"
        kind = self._kind(path)
        if kind == "relation":
            return self._relation_contains_any(path[0], values)
        slot = self._slot(path, kind)
        # a list is compared whole; a scalar or object may also be one element of an array
        contained = [v for v in values if not isinstance(v, (list, tuple))]
        if kind == "array":
            parts = self._members(slot, "array", [v for v in values if v is None or isinstance(v, (list, tuple))])
        else:
            parts = self._members(slot, kind, values)
        if kind in (None, "array"):
            element = self._any_element(slot, self._members(_ELEMENT, None, contained))
            if element:
                parts.append(element)
        return _or(parts)

    def _members(self, slot: _Slot, kind: str | None, values: Sequence[Any]) -> list[str]:
        """Predicates (any may hold) that the slot itself is one of `values`; kinds the field can't hold drop out."""
        groups: dict[str, list[Any]] = defaultdict(list)
        for value in values:
            groups[_tag(value)].append(value)
        out: list[str] = []
        if groups["null"]:
            out.append(f"({slot.type} IS NULL OR {slot.type} = 'null')")
        if groups["boolean"] and kind == "boolean":
            out.append(f"{slot.value} {self._in_list([int(v) for v in groups['boolean']])}")
        elif groups["boolean"] and kind is None:
            out.append(f"{slot.type} {self._in_list(['true' if v else 'false' for v in groups['boolean']])}")
        for tag in ("number", "string", "date"):
            wanted = groups[tag]
            expr = self._typed_expr(slot, kind, tag) if wanted else None
            if expr is None:
                continue
            if tag == "date":
                wanted = [format_date(v) for v in wanted if _is_whole_ms(v)]
                if not wanted:
                    continue
            out.append(_and(expr[1], f"{expr[0]} {self._in_list(wanted)}"))
        if groups["pointer"] and kind in (None, "pointer"):
            guard = None if kind else f"{slot.type} = 'object' AND {slot.sub('__type')} = 'Pointer'"
            by_class: dict[str, list[str]] = defaultdict(list)
            for pointer in groups["pointer"]:
                by_class[pointer.class_name].append(pointer.object_id)
            for class_name, ids in by_class.items():
                out.append(_and(guard, f"{slot.sub('objectId')} {self._in_list(ids)}",
                                f"{slot.sub('className')} = {self.bind(class_name)}"))
        if groups["other"] and kind in (None, "object", "array"):
            for value in groups["other"]:
                out.append(self._same(slot, value))
        return out

    def _same(self, slot: _Slot, value: Any) -> str:
        if isinstance(value, GeoPoint):
            return _and(f"{slot.sub('__type')} = 'GeoPoint'",
                        f"{slot.sub('latitude')} = {self.bind(value.latitude)}",
                        f"{slot.sub('longitude')} = {self.bind(value.longitude)}")
        return (f"(CASE WHEN {slot.type} IN ('object', 'array') "
                f"THEN pq_same({slot.value}, {self.bind(_json_text(value))}) ELSE 0 END)")

    def _in_list(self, values: Sequence[Any]) -> str:
        if len(values) == 1:
            return f"= {self.bind(values[0])}"
        if len(values) <= _SHORT_LIST:
            return "IN (" + ", ".join(self.bind(v) for v in values) + ")"
        return f"IN (SELECT value FROM json_each({self.bind(msgspec.json.encode(list(values)).decode())}))"

    def _relation_contains_any(self, field: str, values: Sequence[Any]) -> str:
        kind = self.field_type(field)
        target = kind.target_class if kind is not None else None
        ids = [v.object_id for v in values if isinstance(v, Pointer) and v.class_name == target]
        if not ids:
            return "0"
        table = quote(join_table(self.class_name, field))
        return f"objectId IN (SELECT owningId FROM {table} WHERE relatedId {self._in_list(ids)})"

    # --- arrays, strings ------------------------------------------------------------------------------------
    def _all(self, path: Sequence[str], values: Sequence[Any]) -> str:
        kind = self._kind(path)
        if kind == "relation":
            return _and(*(self._relation_contains_any(path[0], (v,)) for v in values))
        if kind not in (None, "array"):
            return "0"
        slot = _doc_slot(path)
        each = [f"{slot.type} = 'array'"]  # with no values, any array holds them all
        for value in values:
            regex = _element_regex(value)
            if regex is not None:
                parts = [f"e.type = 'text' AND pq_regexp({self.bind(regex[0])}, {self.bind(regex[1])}, e.value)"]
            else:
                parts = self._members(_ELEMENT, None, (value,))
            each.append(self._any_element(slot, parts) or "0")
        return _and(*each)

    def _contained_by(self, path: Sequence[str], values: Sequence[Any]) -> str:
        kind = self._kind(path)
        if kind not in (None, "array"):
            return "0"
        slot = _doc_slot(path)
        listed = _or(self._members(_ELEMENT, None, values))
        return (f"{slot.type} = 'array' AND NOT EXISTS (SELECT 1 FROM json_each({slot.base}, '{slot.path}') AS e "
                f"WHERE {_not(listed)})")

    def _regex(self, path: Sequence[str], regex: Regex) -> str:
        kind = self._kind(path)
        if kind not in (None, "string", "objectid"):
            return "0"
        slot = self._slot(path, kind)
        test = f"pq_regexp({self.bind(regex.pattern)}, {self.bind(regex.options)}, {slot.value})"
        return test if kind else _and(f"{slot.type} = 'text'", test)

    # --- geo ------------------------------------------------------------------------------------------------
    def _geo(self, path: Sequence[str], constraint: Any) -> str:
        if self._kind(path) in ("objectid", "isodate", "relation"):
            return "0"
        slot = _doc_slot(path)
        if isinstance(constraint, Intersects):
            return _and(f"{slot.sub('__type')} = 'Polygon'",
                        f"pq_polygon_contains({slot.sub('coordinates')}, {self.bind(constraint.point.latitude)}, "
                        f"{self.bind(constraint.point.longitude)})")
        lat, lng = slot.sub("latitude"), slot.sub("longitude")
        guard = f"{slot.sub('__type')} = 'GeoPoint'"
        if isinstance(constraint, NearSphere):
            if constraint.max_distance is None:
                return guard
            return _and(guard, f"{self._distance(slot, constraint.point)} <= {self.bind(constraint.max_distance)}")
        if isinstance(constraint, WithinCenterSphere):
            return _and(guard, f"{self._distance(slot, constraint.center)} <= {self.bind(constraint.radius)}")
        if isinstance(constraint, WithinBox):
            south_west, north_east = constraint.south_west, constraint.north_east
            return _and(guard, f"{lat} BETWEEN {self.bind(south_west.latitude)} AND {self.bind(north_east.latitude)}",
                        f"{lng} BETWEEN {self.bind(south_west.longitude)} AND {self.bind(north_east.longitude)}")
        polygon = msgspec.json.encode([[p.latitude, p.longitude] for p in constraint.points]).decode()
        return _and(guard, f"pq_within_polygon({self.bind(polygon)}, {lat}, {lng})")

    def _distance(self, slot: _Slot, point: GeoPoint) -> str:
        return (f"pq_distance({self.bind(point.latitude)}, {self.bind(point.longitude)}, "
                f"{slot.sub('latitude')}, {slot.sub('longitude')})")

    # --- order ----------------------------------------------------------------------------------------------
    def order(self, keys: Sequence[Any], node: Node) -> str:
        """ORDER BY for SortKeys (missing values first ascending); `$nearSphere` nearest first by default."""
        if not keys:
            near = _top_level_near(node)
            return self._distance(_doc_slot(near[0]), near[1].point) if near else ""
        terms = []
        for key in keys:
            path = tuple(key.path)
            expr = field_expr(path[0], self.field_type(path[0])) if len(path) == 1 else _doc_slot(path).value
            terms.append(expr + (" DESC" if key.descending else ""))
        return ", ".join(terms)


def _top_level_near(node: Node) -> tuple[Sequence[str], NearSphere] | None:
    if isinstance(node, Field):
        fields = [node]
    elif isinstance(node, And):
        fields = [child for child in node.children if isinstance(child, Field)]
    else:
        return None
    for field in fields:
        for constraint in field.constraints:
            if isinstance(constraint, NearSphere):
                return field.path, constraint
    return None


def _as_instant(value: Any) -> Any:
    """A string compared with createdAt/updatedAt is read as a date, as Parse does."""
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ParseError:
            return value
    return value


def _whole_ms_op(op: str, moment: datetime) -> str:
    """Stored dates have whole milliseconds, so a finer bound is the same as its millisecond floor, made strict."""
    if _is_whole_ms(moment):
        return op
    return {"$gt": "$gt", "$gte": "$gt", "$lt": "$lte", "$lte": "$lte"}[op]


def _element_regex(value: Any) -> tuple[str, str] | None:
    """`{"$regex": ..., "$options": ...}` inside `$all` (the SDK's containsAllStartingWith)."""
    if not (isinstance(value, dict) and isinstance(value.get("$regex"), str) and set(value) <= {"$regex", "$options"}):
        return None
    options = value.get("$options", "")
    if not isinstance(options, str):
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid regex options: {options}")
    pattern = translate_quoted(value["$regex"])
    compile_regex(pattern, options)  # INVALID_QUERY for bad options or a pattern RE2 refuses
    return pattern, options


def _is_iso_date(path: Sequence[str]) -> bool:
    return len(path) == 1 and path[0] in ISO_DATE_FIELDS
