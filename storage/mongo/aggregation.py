"""`/aggregate` pipelines in Parse Server's stored layout (its MongoStorageAdapter.aggregate), and their rows back
in REST form.

Clients write REST field names; they become stored keys in `$match`, `$project`, `$group`, `$sort` and a
`$geoNear` stage's `query`: `objectId`/`createdAt`/`updatedAt` are `_id`/`_created_at`/`_updated_at`, a pointer
`f` is `_p_f` (compared in `$match` with an objectId, as Parse takes it, or a Pointer), `"$f"` references in
`$group` and `$project` likewise, and dates in `$match` may be ISO strings or Parse Dates. Other stages pass as
written. A row's `_id` comes back as `objectId`; grouped by a pointer, that is the pointed-to objectId.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from storage.errors import ErrorCode, ParseError
from storage.mongo.transform import Fields, decode_document, decode_interior, mongo_path, pointer_string
from storage.values import FieldType, parse_date

# The endpoint reads: a stage writing collections would go around schemas, ACLs and LiveQuery events.
WRITING_STAGES = frozenset({"$out", "$merge"})
_LOGICAL = frozenset({"$and", "$or", "$nor"})
_UNCONVERTED_OPERANDS = frozenset({"$exists", "$type", "$regex", "$options", "$size"})


def translate_pipeline(class_name: str, stages: list[dict[str, Any]], fields: Fields) -> tuple[list[dict[str, Any]],
                                                                                                bool]:
    """The pipeline in the stored layout, and whether its rows are grouped by a pointer (`_id` "Class$id").

    Each stage is a one-key dict (the caller checks the shape); a writing stage raises INVALID_QUERY.
    """
    translator = _Translator(class_name, fields)
    out: list[dict[str, Any]] = []
    grouped_by_pointer = False
    for stage in stages:
        ((name, spec),) = stage.items()
        if name in WRITING_STAGES:
            raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid aggregate stage '{name}': aggregate only reads.")
        if name == "$match":
            spec = translator.match(spec)
        elif name == "$project" and isinstance(spec, dict):
            spec = {translator.key(key): translator.references(value) for key, value in spec.items()}
        elif name == "$group" and isinstance(spec, dict):
            spec = {key: translator.references(value) for key, value in spec.items()}
            group_key = spec.get("_id")
            grouped_by_pointer = isinstance(group_key, str) and group_key.startswith("$_p_")
        elif name == "$sort" and isinstance(spec, dict):
            spec = {translator.key(key): value for key, value in spec.items()}
        elif name == "$geoNear" and isinstance(spec, dict) and "query" in spec:
            spec = {**spec, "query": translator.match(spec["query"])}
        out.append({name: spec})
    return out, grouped_by_pointer


def decode_row(class_name: str, row: Mapping[str, Any], fields: Fields, grouped_by_pointer: bool) -> dict[str, Any]:
    """A pipeline's output row in REST form: `_id` as `objectId`, stored keys as REST fields.

    Unlike an object it gets no `ACL` and no Relation markers (as from parse-server): a row is not an object.
    """
    stored = dict(row)
    has_id = "_id" in stored
    row_id = stored.pop("_id", None)
    if grouped_by_pointer and isinstance(row_id, str) and "$" in row_id:
        row_id = row_id.split("$", 1)[1]
    if row_id in ("", {}):
        row_id = None  # parse-server: an empty group key is null
    plain = {name: kind for name, kind in fields.items() if kind.type != "Relation"}
    decoded = decode_document(class_name, stored, plain)
    decoded.pop("ACL", None)
    return {"objectId": decode_interior(row_id), **decoded} if has_id else decoded


class _Translator:
    def __init__(self, class_name: str, fields: Fields) -> None:
        self.class_name = class_name
        self.fields = fields

    def key(self, name: str) -> str:
        if not name or name.startswith("$"):
            return name
        return mongo_path(self.class_name, tuple(name.split(".")), self.fields)

    def kind(self, name: str) -> FieldType | None:
        return self.fields.get(name)

    def match(self, query: Any) -> Any:
        """A `$match` document: field names at query level (and inside `$and`/`$or`/`$nor`), their operands."""
        if not isinstance(query, dict):
            return query
        out: dict[str, Any] = {}
        for name, operand in query.items():
            if name in _LOGICAL and isinstance(operand, list):
                out[name] = [self.match(clause) for clause in operand]
                continue
            kind = self.kind(name)
            if kind is not None and kind.type == "Pointer":
                out[self.key(name)] = _operand(operand, partial(_pointer, target=kind.target_class))
            elif kind is not None and kind.type == "Date":
                out[self.key(name)] = _operand(operand, _date)
            else:
                out[self.key(name)] = operand
        return out

    def references(self, expression: Any) -> Any:
        """`"$field"` references (not `"$$variables"`) inside an expression, as stored paths."""
        if isinstance(expression, str) and expression.startswith("$") and not expression.startswith("$$"):
            return "$" + self.key(expression[1:])
        if isinstance(expression, list):
            return [self.references(item) for item in expression]
        if isinstance(expression, dict):
            return {key: self.references(value) for key, value in expression.items()}
        return expression


def _operand(operand: Any, convert: Callable[[Any], Any]) -> Any:
    """An operand of one field: a value, a list of values, or operators (`$in`, `$gt`, ...) holding them."""
    if isinstance(operand, dict) and operand and all(isinstance(k, str) and k.startswith("$") for k in operand):
        return {op: value if op in _UNCONVERTED_OPERANDS else _operand(value, convert)
                for op, value in operand.items()}
    if isinstance(operand, list):
        return [convert(item) for item in operand]
    return convert(operand)


def _pointer(value: Any, target: str | None) -> Any:
    if isinstance(value, dict) and value.get("__type") == "Pointer":
        return pointer_string(value)
    if isinstance(value, str) and "$" not in value:  # an objectId, as parse-server takes it
        return f"{target}${value}"
    return value


def _date(value: Any) -> Any:
    if isinstance(value, dict) and value.get("__type") == "Date":
        value = value.get("iso")
    if isinstance(value, str):
        try:
            return parse_date(value)
        except ParseError:
            return value
    return value
