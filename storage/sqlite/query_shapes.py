"""Translations remembered by the query's shape: the same SQL for the same query with other values.

Translating a `where` walks the tree in Python (~40 µs alone for two constraints and the ACL filter, about a
twentieth of a 20-row query's CPU in the server), yet an app sends few shapes: the same screen's query with
another room, another user's ACL keys. For a shape made only of equality, range and `$in`/`$nin` constraints on
strings, numbers and nulls (what most queries are), the SQL text depends on the fields, the operators, the
values' types and counts and the class's schema, never on the values themselves: the translator binds each value
as one parameter. So the first translation of a shape is kept with, for each parameter, the value it came from
(found by identity: a parameter that is not exactly one of the query's values, a converted or repeated one, makes
the shape not kept), and a later query of that shape and the same schema object (the schema cache hands out one
object until the stored schema changes) gets that SQL with its own values bound. Anything else (dates,
`createdAt`, pointers, regexes, geo, arrays, objects, booleans, relations) is translated afresh, as before.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from storage.query import And, Compare, Field, In, Node
from storage.schema import ClassSchema
from storage.sqlite.translate import ISO_DATE_FIELDS, SchemaLookup, Translation, translate

MAX_SHAPES = 1024  # kept translations; all are dropped when it is reached (shapes are few, so it rarely is)
# A longer translation is not kept: such a query's SQLite work dwarfs translating it, and 1,024 maximal queries
# (500 conditions on made-up fields, ~100 KB of SQL each) would otherwise hold ~100 MB. Usual queries: < 1 KB.
MAX_KEPT_SQL_CHARS = 4096
_PLAIN_TYPES = frozenset({str, int, float, type(None)})  # exact types: bool, a subclass of int, is not plain
_INT64 = (-(2 ** 63), 2 ** 63)  # the translator binds a larger int as a float: not the value it was given


class _Kept(NamedTuple):
    schema: ClassSchema | None
    where: str
    order: str
    params: tuple[tuple[str, int], ...]  # parameter name, index of the query value it binds


_kept: dict[tuple[Any, ...], _Kept] = {}  # shared by the loop's and the reader threads (dict ops are atomic)


def translate_by_shape(class_name: str, node: Node, order: Sequence[Any], schema_of: SchemaLookup) -> Translation:
    """As `translate`, reusing the SQL of an earlier query of the same shape."""
    values: list[Any] = []
    shape = _shape(node, values)
    if shape is None:
        return translate(class_name, node, order, schema_of)
    try:
        key = (class_name, tuple(order), shape)
        kept = _kept.get(key)
    except TypeError:  # an unhashable sort key
        return translate(class_name, node, order, schema_of)
    schema = schema_of(class_name)
    if kept is not None and kept.schema is schema:
        return Translation(kept.where, kept.order, {name: values[index] for name, index in kept.params})
    fresh = translate(class_name, node, order, lambda name: schema if name == class_name else schema_of(name))
    params = _params_by_value(fresh.params, values)
    if params is not None and len(fresh.where) + len(fresh.order) <= MAX_KEPT_SQL_CHARS:
        if len(_kept) >= MAX_SHAPES:
            _kept.clear()
        _kept[key] = _Kept(schema, fresh.where, fresh.order, params)
    return fresh


def _shape(node: Node, values: list[Any]) -> tuple[Any, ...] | None:
    """The node's shape (its values replaced by their types), appending the values in order; None when some part
    of it may translate differently for other values of the same type."""
    if isinstance(node, Field):
        if not node.path or node.path[0] in ISO_DATE_FIELDS:
            return None  # strings compared with createdAt/updatedAt are read as dates
        constraints = []
        for constraint in node.constraints:
            if isinstance(constraint, Compare):
                if not _plain(constraint.value):
                    return None
                values.append(constraint.value)
                constraints.append((constraint.op, type(constraint.value)))
            elif isinstance(constraint, In):
                if not all(_plain(value) for value in constraint.values):
                    return None
                values.extend(constraint.values)
                constraints.append(("$nin" if constraint.negate else "$in", *map(type, constraint.values)))
            else:
                return None
        return ("field", node.path, *constraints)
    if isinstance(node, And):
        children = []
        for child in node.children:
            shape = _shape(child, values)
            if shape is None:
                return None
            children.append(shape)
        return ("and", *children)
    return None


def _plain(value: Any) -> bool:
    kind = type(value)
    return kind in _PLAIN_TYPES and (kind is not int or _INT64[0] <= value < _INT64[1])


def _params_by_value(params: dict[str, Any], values: list[Any]) -> tuple[tuple[str, int], ...] | None:
    """For each parameter, the index of the one query value it is (the same object); None when one is not
    exactly one of them (converted, or a value the query holds twice, as small ints are shared objects)."""
    found = []
    for name, bound in params.items():
        indexes = [index for index, value in enumerate(values) if value is bound]
        if len(indexes) != 1:
            return None
        found.append((name, indexes[0]))
    return tuple(found)
