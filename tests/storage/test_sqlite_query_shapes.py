"""Translations kept by the query's shape (storage/sqlite/query_shapes.py) are the translations themselves: for
every query, in any order, the kept SQL with the query's own values is what translating it afresh gives."""
from __future__ import annotations

from typing import Any

import pytest

from storage.adapter import SortKey
from storage.errors import ParseError
from storage.query import Compare, Field, parse_where
from storage.schema import ClassSchema
from storage.sqlite import query_shapes
from storage.sqlite.query_shapes import translate_by_shape
from storage.sqlite.translate import translate
from storage.values import FieldType

ROOMS = ClassSchema("Room", {"name": FieldType("String"), "score": FieldType("Number"),
                             "tags": FieldType("Array"), "open": FieldType("Boolean")})
ACL_FILTER = {"_rperm": {"$in": [None, "*", "u1", "role:staff"]}}

# queries sent one after the other, so that later ones meet the translations the earlier ones left
WHERES: list[dict[str, Any]] = [
    {"name": "a", "score": {"$gte": 1}},
    {"name": "b", "score": {"$gte": 2.5}},  # a float where an int was: its own shape
    {"name": "c", "score": {"$gte": 3}},
    {"name": "d", "score": {"$gte": 2 ** 70}},  # bound as a float by the translator: never kept
    {"name": "e", "score": {"$gte": 4}},
    {"score": 5, "other": 6},  # `other` is not in the schema: guarded SQL, the value bound twice
    {"score": 7, "other": 7},  # one small-int object twice in the query: which parameter is which? not kept
    {"score": 8, "other": 9},
    {"open": True},  # booleans are not kept (True is an int to Python)
    {"open": 1},
    {"name": {"$in": ["a"]}},
    {"name": {"$in": ["a", "b"]}},  # another count of values: another shape
    {"name": {"$in": [f"n{i}" for i in range(20)]}},  # a long list binds one JSON text: not kept
    {"name": {"$in": [f"m{i}" for i in range(20)]}},
    {"name": {"$nin": ["x", None]}},
    {"name": {"$nin": ["y", None]}},
    {"name": None},
    {"name": {"$ne": None}},
    {"tags": "t1"},
    {"tags": "t2"},
    {"createdAt": {"$gte": "2026-01-01T00:00:00.000Z"}},  # read as a date: never kept
    {"createdAt": {"$gte": "2026-02-01T00:00:00.000Z"}},
    {"objectId": "abc", "score": {"$lt": 10}},
    {"objectId": "def", "score": {"$lt": 11}},
    {"name": {"$regex": "^a"}},  # not a kept kind of constraint
    {"$or": [{"name": "a"}, {"name": "b"}]},
    {"meta.level": 3},
    {"meta.level": 4},
]


@pytest.fixture(autouse=True)
def no_kept_shapes() -> None:
    query_shapes._kept.clear()


def schema_of(schema: ClassSchema | None) -> Any:
    return lambda name: schema if name == "Room" else None


@pytest.mark.parametrize("with_acl", [False, True])
def test_every_query_translates_as_it_would_afresh_whatever_was_kept_before(with_acl: bool) -> None:
    order = (SortKey(("score",), True),)
    for where in WHERES * 2:  # the second round meets every shape kept in the first
        node = parse_where({**where, **ACL_FILTER} if with_acl else where, internal=True)
        assert translate_by_shape("Room", node, order, schema_of(ROOMS)) == translate(
            "Room", node, order, schema_of(ROOMS)), where
    assert query_shapes._kept  # and some shapes were kept


def test_a_kept_shape_is_used_for_other_values_of_the_same_types() -> None:
    first = translate_by_shape("Room", parse_where({"name": "a", "score": {"$gte": 1}}), (), schema_of(ROOMS))
    second = translate_by_shape("Room", parse_where({"name": "b", "score": {"$gte": 2}}), (), schema_of(ROOMS))
    assert len(query_shapes._kept) == 1
    assert second.where == first.where and sorted(second.params.values(), key=str) == [2, "b"]


def test_a_kept_translation_is_not_used_once_the_schema_changed() -> None:
    where = parse_where({"level": 3})
    unknown = translate_by_shape("Room", where, (), schema_of(ROOMS))
    assert "json_type" in unknown.where  # a field the schema does not know: compared behind type guards
    with_level = ClassSchema("Room", {**ROOMS.fields, "level": FieldType("Number")})
    known = translate_by_shape("Room", where, (), schema_of(with_level))
    assert known == translate("Room", where, (), schema_of(with_level))
    assert "json_type" not in known.where


def test_the_kept_translations_are_bounded() -> None:
    for index in range(query_shapes.MAX_SHAPES + 10):
        translate_by_shape("Room", parse_where({f"f{index}": 1}), (), schema_of(ROOMS))
    assert 0 < len(query_shapes._kept) <= query_shapes.MAX_SHAPES


def test_a_query_whose_sql_is_long_is_translated_afresh_not_kept() -> None:
    """The kept translations stay small whatever queries arrive (500 conditions would be ~100 KB of SQL each)."""
    many = parse_where({f"field{index}": index for index in range(300, 400)})
    assert translate_by_shape("Room", many, (), schema_of(ROOMS)) == translate("Room", many, (), schema_of(ROOMS))
    assert len(translate("Room", many, (), schema_of(ROOMS)).where) > query_shapes.MAX_KEPT_SQL_CHARS
    assert not query_shapes._kept


def test_an_invalid_key_is_refused_every_time() -> None:
    bad_key = Field(("bad key'",), (Compare("$eq", "x"),))  # parse_where refuses it; the store must too
    for _ in range(2):
        with pytest.raises(ParseError):
            translate_by_shape("Room", bad_key, (), schema_of(ROOMS))
    assert not query_shapes._kept
