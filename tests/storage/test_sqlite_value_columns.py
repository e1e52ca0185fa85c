"""The SQLite store's value columns: a comparable top-level field's value kept beside the document, so that a
query compares and sorts on a column instead of parsing each row's JSON. What a user relies on: every write keeps
them equal to the document, queries answer the same, a database written before them is brought up to date when
it is opened, and two processes on one file agree."""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from storage.adapter import FindOptions, SortKey
from storage.changes import parse_changes
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL, parse_where
from storage.schema import new_schema
from storage.sqlite import SqliteAdapter
from storage.sqlite.layout import SchemaCache, save_schema
from storage.sqlite.objects import select_sql
from storage.values import FieldType

FIELDS = {"room": FieldType("String"), "score": FieldType("Number"), "done": FieldType("Boolean"),
          "due": FieldType("Date"), "owner": FieldType("Pointer", "_User"), "tags": FieldType("Array")}


def post(object_id: str, n: int) -> dict[str, Any]:
    return {"objectId": object_id, "createdAt": f"2024-01-01T00:00:{n % 60:02d}.000Z",
            "updatedAt": "2024-01-01T00:00:00.000Z", "room": f"r{n % 3}", "score": n, "done": n % 2 == 0,
            "due": {"__type": "Date", "iso": f"2024-02-{n % 28 + 1:02d}T00:00:00.000Z"},
            "owner": {"__type": "Pointer", "className": "_User", "objectId": f"u{n % 4}"}, "tags": [f"t{n}"]}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteAdapter]:
    adapter = SqliteAdapter(str(tmp_path / "columns.db"))
    await adapter.open()
    await adapter.ensure_fields("Post", FIELDS)
    for n in range(30):
        await adapter.insert("Post", post(f"p{n}", n))
    yield adapter
    await adapter.close()


COLUMN_SOURCES = {"$room": "$.room", "$score": "$.score", "$done": "$.done", "$due": "$.due.iso",
                  "$owner": "$.owner.objectId", "$created^at": "$.createdAt"}


def assert_columns_match_documents(path: str, absent: tuple[str, ...] = ()) -> None:
    """Each row's value columns equal what json_extract reads from its document; the `absent` have no column."""
    conn = sqlite3.connect(path)
    columns = {row[1] for row in conn.execute('PRAGMA table_info("Post")')}
    present = {column: source for column, source in COLUMN_SOURCES.items() if column[1:] not in absent}
    pairs = ", ".join(f'"{column}", json_extract(doc, \'{source}\')' for column, source in present.items())
    rows = conn.execute(f'SELECT {pairs} FROM "Post"').fetchall()
    conn.close()
    assert not {f"${name}" for name in absent} & columns
    assert rows and all(row[0::2] == row[1::2] for row in rows), rows


async def ids(store: SqliteAdapter, where: dict[str, Any], order: tuple[SortKey, ...] = ()) -> list[str]:
    found = await store.find("Post", parse_where(where, internal=True), FindOptions(order=order))
    return [doc["objectId"] for doc in found]


async def test_typed_comparisons_and_sorts_read_columns_not_the_document(store: SqliteAdapter) -> None:
    conn = sqlite3.connect(store.path)
    schemas = SchemaCache()
    where = {"room": "r1", "score": {"$gte": 10}, "done": False, "owner": {"__type": "Pointer",
             "className": "_User", "objectId": "u1"}, "due": {"$lt": {"__type": "Date", "iso": "2025-01-01T00:00:00Z"}},
             "createdAt": {"$gt": {"__type": "Date", "iso": "2023-01-01T00:00:00Z"}}}
    sql, _ = select_sql("Post", parse_where(where, internal=True), FindOptions(order=(SortKey(("score",), True),)),
                        lambda name: schemas.load(conn, name))
    conn.close()
    assert '"$score" >= ' in sql and 'ORDER BY "$score" DESC' in sql, sql
    assert "json_extract(doc, '$.score')" not in sql and "json_extract(doc, '$.room')" not in sql, sql
    assert "'$.due.iso'" not in sql and "'$.owner.objectId'" not in sql, sql  # (the className is still checked)
    expected = sorted((n for n in range(30) if n % 3 == 1 and n >= 10 and n % 2 == 1 and n % 4 == 1),
                      reverse=True)
    assert await ids(store, where, (SortKey(("score",), True),)) == [f"p{n}" for n in expected]
    # fields the schema does not know are still read from the document, with its guards
    assert await ids(store, {"tags": "t7"}) == ["p7"]


async def test_every_write_keeps_the_columns_equal_to_the_document(store: SqliteAdapter) -> None:
    assert_columns_match_documents(store.path)
    await store.update("Post", "p3", parse_changes({"score": {"__op": "Increment", "amount": 100},
                                                     "room": "moved", "done": None}, is_create=False),
                       MATCH_ALL, "2024-03-01T00:00:00.000Z")
    await store.update("Post", "p4", parse_changes({"owner": {"__op": "Delete"}, "due": {"__op": "Delete"}},
                                                     is_create=False),
                       MATCH_ALL, "2024-03-01T00:00:00.000Z")
    assert_columns_match_documents(store.path)
    assert await ids(store, {"score": {"$gt": 50}}) == ["p3"]
    assert await ids(store, {"room": "moved"}) == ["p3"]
    assert "p4" in await ids(store, {"owner": {"$exists": False}})
    assert "p4" not in await ids(store, {"owner": {"__type": "Pointer", "className": "_User", "objectId": "u0"}})
    # the field deleted from the schema: its column and its values go; added again as text, its column is text
    await store.update_class("Post", add_indexes={"by_room_score": {"room": 1, "score": -1}})
    await store.update_class("Post", delete_fields=("score",))
    assert await ids(store, {"score": {"$gte": 0}}) == []
    await store.update_class("Post", add_fields={"score": FieldType("String")})
    await store.update("Post", "p5", parse_changes({"score": "high"}, is_create=False), MATCH_ALL,
                       "2024-03-02T00:00:00.000Z")
    assert await ids(store, {"score": "high"}) == ["p5"]
    assert_columns_match_documents(store.path)


async def test_fields_that_differ_only_in_letter_case_keep_apart(store: SqliteAdapter) -> None:
    await store.ensure_fields("Post", {"Score": FieldType("Number"), "tag": FieldType("String"),
                                       "Tag": FieldType("String")})
    await store.update("Post", "p1", parse_changes({"Score": 500}, is_create=False), MATCH_ALL,
                       "2024-03-01T00:00:00.000Z")
    assert await ids(store, {"Score": 500}) == ["p1"]
    assert await ids(store, {"score": 500}) == []
    assert await ids(store, {"score": 1}) == ["p1"]
    # each has its own index, and a unique one on either holds for that field alone
    conn = sqlite3.connect(store.path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert {"Post$score", "Post$^score"} <= indexes
    await store.ensure_unique("Post", "tag")
    await store.ensure_unique("Post", "Tag")
    for object_id, changes in (("p1", {"tag": "x"}), ("p2", {"Tag": "x"}), ("p3", {"tag": "y"})):
        await store.update("Post", object_id, parse_changes(changes, is_create=False), MATCH_ALL,
                           "2024-03-01T00:00:00.000Z")
    with pytest.raises(ParseError) as refused:
        await store.update("Post", "p4", parse_changes({"Tag": "x"}, is_create=False), MATCH_ALL,
                           "2024-03-01T00:00:00.000Z")
    assert refused.value.code == ErrorCode.DUPLICATE_VALUE


async def test_a_field_added_to_the_schema_after_its_values_is_filled_from_the_documents(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "late.db"))
    await store.open()
    try:
        await store.insert("Late", {"objectId": "a", "createdAt": "2024-01-01T00:00:00.000Z",
                                    "updatedAt": "2024-01-01T00:00:00.000Z", "level": 3})  # schema: inferred
        await store.insert("Late", {"objectId": "b", "createdAt": "2024-01-01T00:00:00.000Z",
                                    "updatedAt": "2024-01-01T00:00:00.000Z", "rank": 9})  # not in the schema
        await store.ensure_fields("Late", {"rank": FieldType("Number")})
        found = await store.find("Late", parse_where({"rank": {"$gt": 5}}), FindOptions())
        assert [doc["objectId"] for doc in found] == ["b"]
    finally:
        await store.close()


async def test_two_processes_on_one_file_write_columns_the_other_added(tmp_path: Path) -> None:
    # --workers: each process has its own writer; one adds a field, the other's next write must fill its column
    path = str(tmp_path / "shared.db")
    first, second = SqliteAdapter(path), SqliteAdapter(path)
    await first.open()
    await second.open()
    try:
        await first.insert("Post", post("p0", 0))
        await second.insert("Post", post("p1", 1))  # its statements are made for the schema it saw
        await first.ensure_fields("Post", {"level": FieldType("Number")})
        await second.insert("Post", {**post("p2", 2), "level": 7})
        await second.update("Post", "p1", parse_changes({"level": 8}, is_create=False), MATCH_ALL,
                            "2024-03-01T00:00:00.000Z")
        found = await first.find("Post", parse_where({"level": {"$gte": 7}}), FindOptions(order=(SortKey(("level",)),)))
        assert [doc["objectId"] for doc in found] == ["p2", "p1"]
    finally:
        await first.close()
        await second.close()


def write_layout_zero(path: Path) -> None:
    """A database as this store wrote it before value columns (PRAGMA user_version 0): documents only, with an
    expression index per comparable field, a unique index and an index made through the schemas API."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE _schema (class_name TEXT PRIMARY KEY, body TEXT NOT NULL)")
    schema = new_schema("Post", {"room": FieldType("String"), "score": FieldType("Number"),
                                 "due": FieldType("Date"), "tags": FieldType("Array")})
    save_schema(conn, msgspec.structs.replace(schema, indexes={"by_room_score": {"room": 1, "score": -1}}))
    conn.execute('CREATE TABLE "Post" (objectId TEXT PRIMARY KEY, doc TEXT NOT NULL)')
    for field, path_ in (("createdAt", "$.createdAt"), ("updatedAt", "$.updatedAt"), ("room", "$.room"),
                         ("score", "$.score"), ("due", "$.due.iso")):
        conn.execute(f'CREATE INDEX "Post${field}" ON "Post" (json_extract(doc, \'{path_}\'))')
    conn.execute('CREATE UNIQUE INDEX "Post$unique$room" ON "Post" (json_extract(doc, \'$.room\'))')
    conn.execute('CREATE INDEX "Post#by_room_score" ON "Post" (json_extract(doc, \'$.room\'), '
                 'json_extract(doc, \'$.score\') DESC)')
    conn.execute("CREATE INDEX my_own ON \"Post\" (length(doc))")  # someone's own index: left as it is
    for n in range(5):
        doc = ('{"objectId":"p%d","createdAt":"2024-01-01T00:00:0%d.000Z","updatedAt":"2024-01-01T00:00:00.000Z",'
               '"room":"r%d","score":%d,"due":{"__type":"Date","iso":"2024-02-0%dT00:00:00.000Z"},"tags":["t"]}'
               % (n, n, n, n * 10, n + 1))
        conn.execute('INSERT INTO "Post" (objectId, doc) VALUES (?, ?)', (f"p{n}", doc))
    conn.close()


async def test_a_database_from_before_value_columns_is_upgraded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write_layout_zero(path)
    for _ in range(2):  # the second open finds it done
        store = SqliteAdapter(str(path))
        await store.open()
        try:
            assert await ids(store, {"score": {"$gte": 20}}, (SortKey(("score",), True),)) == ["p4", "p3", "p2"]
            assert await ids(store, {"due": {"$gt": {"__type": "Date", "iso": "2024-02-03T00:00:00Z"}}}) == ["p3", "p4"]
            with pytest.raises(ParseError) as refused:  # the unique index still holds, now on the column
                await store.insert("Post", {**post("p9", 9), "room": "r1"})
            assert refused.value.code == ErrorCode.DUPLICATE_VALUE
        finally:
            await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    indexes = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    conn.close()
    assert indexes['Post$score'].endswith('("$score")'), indexes
    assert '"$room"' in indexes["Post$unique$room"] and '"$room", "$score" DESC' in indexes["Post#by_room_score"]
    assert indexes["my_own"].endswith("(length(doc))")
    assert_columns_match_documents(str(path), absent=("done", "owner"))


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    store = SqliteAdapter(str(path))
    with pytest.raises(ParseError) as refused:
        await store.open()
    assert "layout version 2" in refused.value.message and "newer" in refused.value.message
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


async def test_opening_waits_out_another_process_holding_the_upgrade_lock(tmp_path: Path) -> None:
    # --workers on a big old database: one worker upgrades for longer than a write's busy timeout; the others
    # must wait for it, not fail to start. An up-to-date database does not wait for anyone's lock.
    path = tmp_path / "old.db"
    write_layout_zero(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store = SqliteAdapter(str(path), busy_timeout_ms=100)
    opening = asyncio.create_task(store.open())
    await asyncio.sleep(0.6)  # six of its busy timeouts
    assert not opening.done()
    other.execute("ROLLBACK")
    await asyncio.wait_for(opening, 30)
    try:
        assert sorted(await ids(store, {"score": {"$gte": 30}})) == ["p3", "p4"]
    finally:
        await store.close()
    other.execute("BEGIN IMMEDIATE")
    again = SqliteAdapter(str(path), busy_timeout_ms=100)
    try:
        await asyncio.wait_for(again.open(), 30)
        assert await ids(again, {"score": 0}) == ["p0"]
    finally:
        other.execute("ROLLBACK")
        other.close()
        await again.close()
