"""What is particular to the SQLite store: its lifecycle, one file shared by two stores, and SQLite's names."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.changes import parse_changes
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL, Compare, Field, parse_where
from storage.sqlite import SqliteAdapter
from storage.values import FieldType


def document(object_id: str, **fields: object) -> dict[str, object]:
    return {"objectId": object_id, "createdAt": "2024-01-01T00:00:00.000Z",
            "updatedAt": "2024-01-01T00:00:00.000Z", **fields}


async def test_open_is_idempotent_and_data_survives_a_reopen(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    await store.open()
    await store.open()
    await store.insert("Post", document("p1", title="kept"))
    await store.close()
    await store.close()
    again = SqliteAdapter(str(tmp_path / "a.db"))
    await again.open()
    try:
        assert [d["title"] for d in await again.find("Post", MATCH_ALL)] == ["kept"]
    finally:
        await again.close()


async def test_a_closed_store_answers_with_a_parse_error(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    with pytest.raises(ParseError) as caught:
        await store.find("Post", MATCH_ALL)
    assert caught.value.code == ErrorCode.INTERNAL_SERVER_ERROR


async def test_pending_writes_finish_before_close(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    await store.open()
    writes = [asyncio.ensure_future(store.insert("Post", document(f"p{i}"))) for i in range(30)]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*writes)
    await store.open()
    try:
        assert await store.count("Post", MATCH_ALL) == 30
    finally:
        await store.close()


async def test_two_stores_on_one_file_see_each_others_schema_changes(tmp_path: Path) -> None:
    first, second = SqliteAdapter(str(tmp_path / "a.db")), SqliteAdapter(str(tmp_path / "a.db"))
    await first.open()
    await second.open()
    try:
        await first.insert("Post", document("p1", tags=["a"]))
        assert await second.count("Post", parse_where({"tags": "a"})) == 1
        await second.update_class("Post", delete_fields=("tags",))
        await second.update_class("Post", add_fields={"tags": FieldType("String")})
        await second.update("Post", "p1", parse_changes({"tags": "a"}, is_create=False), MATCH_ALL,
                            "2024-01-02T00:00:00.000Z")
        assert await first.count("Post", parse_where({"tags": "a"})) == 1
        assert (await first.get_schema("Post")).fields["tags"] == FieldType("String")
    finally:
        await first.close()
        await second.close()


async def test_reads_run_while_writes_are_queued(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    await store.open()
    try:
        await store.insert("Post", document("p0", n=0))
        writes = [store.insert("Post", document(f"p{i}", n=i)) for i in range(1, 200)]
        reads = [store.count("Post", parse_where({"n": {"$gte": 0}})) for _ in range(20)]
        results = await asyncio.gather(*writes, *reads)
        counts = results[len(writes):]
        assert all(1 <= c <= 200 for c in counts)
        assert await store.count("Post", MATCH_ALL) == 200
    finally:
        await store.close()


@pytest.mark.parametrize("name", ["post", "POST", "sqlite_master2"])
async def test_class_names_sqlite_would_confuse_are_refused(tmp_path: Path, name: str) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    await store.open()
    try:
        await store.ensure_fields("Post", {})
        with pytest.raises(ParseError) as caught:
            await store.ensure_fields(name, {})
        assert caught.value.code == ErrorCode.INVALID_CLASS_NAME
    finally:
        await store.close()


async def test_keys_that_could_inject_sql_are_refused(tmp_path: Path) -> None:
    store = SqliteAdapter(str(tmp_path / "a.db"))
    await store.open()
    try:
        await store.insert("Post", document("p1"))
        hostile = Field(("title') OR 1=1 --",), (Compare("$eq", "x"),))
        with pytest.raises(ParseError) as caught:
            await store.find("Post", hostile)
        assert caught.value.code == ErrorCode.INVALID_KEY_NAME
        assert await store.find("Post", parse_where({"title": "' OR 1=1 --"})) == []
    finally:
        await store.close()


async def _filled(tmp_path: Path, **options: object) -> SqliteAdapter:
    store = SqliteAdapter(str(tmp_path / "inline.db"), **options)  # type: ignore[arg-type]
    await store.open()
    for start in range(0, 3000, 500):
        await asyncio.gather(*(store.insert("Post", document(f"p{i}", n=i, room=f"r{i % 10}"))
                               for i in range(start, start + 500)))
    return store


async def test_a_small_read_runs_on_the_loop_thread_and_answers_as_a_reader_thread_would(tmp_path: Path) -> None:
    from storage.adapter import FindOptions
    store = await _filled(tmp_path, inline_budget_seconds=0.05)  # (a busy CI machine can stall a thread for ms)
    try:
        where = parse_where({"room": "r3"})  # the `room` index: 20 rows, well within the budget
        inline = store._inline
        assert inline is not None
        small = await store.find("Post", where, FindOptions(limit=20))
        assert inline.inline >= 1 and inline.handed_off == 0
        everything = await store.find("Post", where)  # no limit: a reader thread's
        assert len(small) == 20 and all(doc in everything for doc in small)
        assert {doc["room"] for doc in everything} == {"r3"} and await store.count("Post", where) == 300
    finally:
        await store.close()


async def test_a_read_past_the_inline_budget_goes_to_a_reader_thread_with_the_same_answer(tmp_path: Path) -> None:
    # A budget no statement can meet: SQLite interrupts the count at its first look at the clock, and a reader
    # thread answers it; the class's next reads go to a thread without trying (no work thrown away twice).
    from storage.adapter import FindOptions
    store = await _filled(tmp_path, inline_budget_seconds=1e-9)
    try:
        inline = store._inline
        assert inline is not None
        unindexed = parse_where({"title": {"$exists": False}})  # a scan of every row
        assert await store.count("Post", unindexed) == 3000
        assert len(await store.find("Post", unindexed, FindOptions(limit=50))) == 50
        assert inline.handed_off == 1 and inline.inline == 0
    finally:
        await store.close()



async def test_a_costly_query_sends_only_its_own_kind_of_read_to_the_threads_not_the_class(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One client's scan of every row runs over the budget; another client's indexed query of the same class must
    # still run on the loop's thread (it would otherwise wait in the reader threads' line behind the scans).
    from storage.adapter import FindOptions
    # The margins are wide both ways (CI's busy machine inflates CPU time, a faster one shrinks it): the indexed
    # query takes ~1 ms of a 30 ms budget here, the scan ~250 ms (thirty regular expressions on each of 3,000
    # rows, none matching). The scan's penalty outlasts the test, whatever the machine: its second read must not
    # be tried inline.
    monkeypatch.setattr("storage.sqlite.inline.FIRST_PENALTY_SECONDS", 60.0)
    store = await _filled(tmp_path, inline_budget_seconds=0.030)
    try:
        inline = store._inline
        assert inline is not None
        scan = parse_where({"$or": [{"objectId": {"$regex": f"^x{k}"}} for k in range(30)], "n": {"$gte": 0}})
        indexed = parse_where({"room": "r3", "n": {"$gte": 2990}})
        assert [doc["n"] for doc in await store.find("Post", indexed, FindOptions(limit=5))] == [2993]
        assert (inline.inline, inline.handed_off) == (1, 0)
        assert await store.find("Post", scan, FindOptions(limit=50)) == []  # past the budget
        assert inline.handed_off == 1
        assert await store.find("Post", scan, FindOptions(limit=50)) == []  # its kind waits: not tried inline
        assert inline.handed_off == 1
        found = await store.find("Post", indexed, FindOptions(limit=5))
        assert [doc["n"] for doc in found] == [2993] and (inline.inline, inline.handed_off) == (2, 1)
    finally:
        await store.close()


async def test_a_schema_read_still_answers_while_some_kind_of_read_is_paying_a_penalty(tmp_path: Path) -> None:
    # Once any read had run over the budget, every schema read raised TypeError (its penalty key was a string
    # where a function that makes one was wanted): each request that read a schema failed with a 500.
    store = await _filled(tmp_path, inline_budget_seconds=1e-9)
    try:
        inline = store._inline
        assert inline is not None
        assert await store.count("Post", parse_where({"title": {"$exists": False}})) == 3000  # over: a penalty
        assert inline.handed_off == 1
        schema = await store.get_schema("Post")
        assert schema is not None and schema.field_type("room") == FieldType("String")
    finally:
        await store.close()
