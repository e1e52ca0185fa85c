"""The SQLite store's indexes: what ensure_fields, ensure_unique and the schemas API create, and that the
planner uses them for the statements the translator writes (checked with EXPLAIN QUERY PLAN)."""
from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage.adapter import FindOptions, SortKey
from storage.query import parse_where
from storage.sqlite import SqliteAdapter
from storage.sqlite.functions import SqlFunctions
from storage.sqlite.layout import SchemaCache
from storage.sqlite.objects import select_sql
from storage.values import FieldType


@pytest.fixture
async def posts(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "indexes.db"
    store = SqliteAdapter(str(path))
    await store.open()
    await store.ensure_fields("Post", {"status": FieldType("String"), "score": FieldType("Number"),
                                       "due": FieldType("Date"), "owner": FieldType("Pointer", "_User"),
                                       "stats": FieldType("Object"), "tags": FieldType("Array")})
    await store.close()
    yield path


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    SqlFunctions().register(conn)
    return conn


def plan(path: Path, where: dict[str, Any], order: tuple[SortKey, ...] = (), limit: int | None = None) -> str:
    """The query plan of the statement a find would run, one step per line."""
    conn = connect(path)
    schemas = SchemaCache()
    sql, params = select_sql("Post", parse_where(where, internal=True), FindOptions(order=order, limit=limit),
                             lambda name: schemas.load(conn, name))
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    conn.close()
    return "\n".join(row[-1] for row in rows)


def index_names(path: Path) -> set[str]:
    conn = connect(path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    conn.close()
    return names


def test_comparable_fields_get_an_index_each(posts: Path) -> None:
    assert {"Post$status", "Post$score", "Post$due", "Post$owner", "Post$created^at", "Post$updated^at"} <= \
        index_names(posts)
    assert not {"Post$stats", "Post$tags", "Post$objectId"} & index_names(posts)


def test_equality_range_and_sort_use_an_index(posts: Path) -> None:
    steps = plan(posts, {"status": "open", "score": {"$gt": 10}}, order=(SortKey(("score",)),))
    assert "USING INDEX Post$status" in steps or "USING INDEX Post$score" in steps, steps
    assert "SCAN Post\n" not in steps + "\n", steps


@pytest.mark.parametrize(("where", "index"), [
    ({"status": "open"}, "Post$status"),
    ({"status": {"$in": ["open", "closed"]}}, "Post$status"),
    ({"score": {"$gte": 1, "$lt": 5}}, "Post$score"),
    ({"due": {"$lt": {"__type": "Date", "iso": "2024-01-01T00:00:00Z"}}}, "Post$due"),
    ({"createdAt": {"$gt": {"__type": "Date", "iso": "2024-01-01T00:00:00Z"}}}, "Post$created^at"),
    ({"owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"}}, "Post$owner"),
])
def test_each_typed_comparison_uses_its_field_index(posts: Path, where: dict[str, Any], index: str) -> None:
    assert f"USING INDEX {index}" in plan(posts, where)


def test_or_of_indexed_equalities_uses_both_indexes(posts: Path) -> None:
    steps = plan(posts, {"$or": [{"status": "open"}, {"score": 3}]})
    assert "MULTI-INDEX OR" in steps and "Post$status" in steps and "Post$score" in steps, steps


def test_sorting_by_an_indexed_field_needs_no_sort_step(posts: Path) -> None:
    steps = plan(posts, {}, order=(SortKey(("score",), descending=True),), limit=10)
    assert "Post$score" in steps and "TEMP B-TREE" not in steps, steps


def test_objectid_lookups_use_the_primary_key(posts: Path) -> None:
    assert "USING INDEX sqlite_autoindex_Post_1" in plan(posts, {"objectId": "abc"})


async def test_unique_and_named_indexes_are_real_indexes(posts: Path) -> None:
    store = SqliteAdapter(str(posts))
    await store.open()
    try:
        await store.ensure_unique("Post", "status", case_insensitive=True)
        await store.update_class("Post", add_indexes={"by_status_score": {"status": 1, "score": -1}})
        assert {"Post$unique_ci$status", "Post#by_status_score"} <= index_names(posts)
        await store.update_class("Post", drop_indexes=("by_status_score",))
        await store.update_class("Post", delete_fields=("score",))
        assert not {"Post#by_status_score", "Post$score"} & index_names(posts)
    finally:
        await store.close()
