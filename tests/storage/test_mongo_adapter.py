"""What only the MongoDB store has to get right: its connection, driver errors, atomic update operators and their
fallback, unique indexes next to parse-server's own, and `$nearSphere` ordering."""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pymongo
import pytest

from storage.adapter import FindOptions, SortKey
from storage.changes import parse_changes
from storage.errors import ErrorCode, ParseError
from storage.mongo import MongoAdapter
from storage.query import MATCH_ALL, parse_where
from storage.values import FieldType
from tests.storage.mongo_server import fresh_database

NOW = "2024-01-02T03:04:05.678Z"


@pytest.fixture
def database_uri() -> Iterator[str]:
    with fresh_database() as uri:
        yield uri


@pytest.fixture
def raw(database_uri: str) -> Iterator[Any]:
    client: pymongo.MongoClient = pymongo.MongoClient(database_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield client.get_default_database()
    client.close()


@pytest.fixture
async def store(database_uri: str) -> AsyncIterator[MongoAdapter]:
    adapter = MongoAdapter(database_uri)
    await adapter.open()
    yield adapter
    await adapter.close()


def doc(object_id: str, **fields: Any) -> dict[str, Any]:
    return {"objectId": object_id, "createdAt": NOW, "updatedAt": NOW, **fields}


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- connection ----------------------------------------------------------------------------------------

def test_database_is_the_uri_path_or_parse() -> None:
    assert MongoAdapter("mongodb://127.0.0.1:1/myapp?maxPoolSize=5").database_name == "myapp"
    assert MongoAdapter("mongodb://127.0.0.1:1").database_name == "parse"


async def test_unreachable_server_fails_fast_with_a_parse_error() -> None:
    adapter = MongoAdapter(f"mongodb://127.0.0.1:{closed_port()}/x?serverSelectionTimeoutMS=300")
    started = time.monotonic()
    with pytest.raises(ParseError) as caught:
        await adapter.open()
    assert caught.value.code == ErrorCode.INTERNAL_SERVER_ERROR
    assert "unreachable" in caught.value.message
    with pytest.raises(ParseError):
        await adapter.find("GameScore", MATCH_ALL)
    assert time.monotonic() - started < 5
    await adapter.close()


async def test_open_is_idempotent_and_close_is_clean(database_uri: str) -> None:
    adapter = MongoAdapter(database_uri)
    await adapter.open()
    await adapter.open()
    await adapter.insert("Thing", doc("t1", n=1))
    assert [d["n"] for d in await adapter.find("Thing", MATCH_ALL)] == [1]
    await adapter.close()
    with pytest.raises(ParseError):  # a closed adapter holds no connection any more
        await adapter.find("Thing", MATCH_ALL)
    again = MongoAdapter(database_uri)
    await again.open()
    assert [d["objectId"] for d in await again.find("Thing", MATCH_ALL)] == ["t1"]  # what it wrote was kept
    await again.close()


# --- writes ------------------------------------------------------------------------------------------

async def test_duplicate_object_id_is_duplicate_value(store: MongoAdapter) -> None:
    await store.insert("Thing", doc("t1"))
    with pytest.raises(ParseError) as caught:
        await store.insert("Thing", doc("t1"))
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE


async def test_concurrent_increments_are_all_counted(store: MongoAdapter) -> None:
    await store.insert("Counter", doc("c1", n=0))
    changes = parse_changes({"n": {"__op": "Increment", "amount": 1}}, is_create=False)
    results = await asyncio.gather(*(store.update("Counter", "c1", changes, MATCH_ALL, NOW) for _ in range(25)))
    [counter] = await store.find("Counter", MATCH_ALL)
    assert counter["n"] == 25
    assert sorted(result[1]["n"] for result in results if result is not None) == list(range(1, 26))


async def test_update_returns_before_and_the_after_a_read_sees(store: MongoAdapter) -> None:
    await store.ensure_fields("Thing", {"tags": FieldType("Array"), "owner": FieldType("Pointer", "_User")})
    await store.insert("Thing", doc("t1", tags=["a", "a", "b"], stats={"wins": 1}))
    changes = parse_changes({
        "tags": {"__op": "Remove", "objects": ["a"]}, "stats.wins": {"__op": "Increment", "amount": 2},
        "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
        "ACL": {"u1": {"read": True, "write": True}}}, is_create=False)
    result = await store.update("Thing", "t1", changes, MATCH_ALL, "2024-02-02T00:00:00.000Z",
                                extra={"_rperm": ["u1"], "_wperm": ["u1"]})
    assert result is not None
    before, after = result
    assert before["tags"] == ["a", "a", "b"] and "ACL" not in before
    assert after["tags"] == ["b"] and after["stats"] == {"wins": 3}
    assert after["owner"] == {"__type": "Pointer", "className": "_User", "objectId": "u1"}
    assert after["ACL"] == {"u1": {"read": True, "write": True}} and after["_rperm"] == ["u1"]
    assert await store.find("Thing", MATCH_ALL) == [after]


async def test_update_outside_where_changes_nothing(store: MongoAdapter) -> None:
    await store.insert("Thing", doc("t1", n=1, _wperm=["u1"], _rperm=["*"]))
    changes = parse_changes({"n": 2}, is_create=False)
    denied = parse_where({"_wperm": {"$in": [None, "*", "u2"]}}, internal=True)
    assert await store.update("Thing", "t1", changes, denied, NOW) is None
    assert await store.update("Thing", "nope", changes, MATCH_ALL, NOW) is None
    assert (await store.find("Thing", MATCH_ALL))[0]["n"] == 1


async def test_ops_that_do_not_fit_atomic_operators_still_apply(store: MongoAdapter, raw: Any) -> None:
    await store.insert("Thing", doc("t1", n=None, items=None, obj=None))
    changes = parse_changes({"n": {"__op": "Increment", "amount": 3},  # null counts as 0
                             "items": {"__op": "Add", "objects": [1]},  # null counts as []
                             "obj.x": 1}, is_create=False)  # a path through null
    result = await store.update("Thing", "t1", changes, MATCH_ALL, NOW)
    assert result is not None
    assert {k: result[1][k] for k in ("n", "items", "obj")} == {"n": 3, "items": [1], "obj": {"x": 1}}
    assert {k: v for k, v in raw["Thing"].find_one().items() if k in ("n", "items", "obj")} == {
        "n": 3, "items": [1], "obj": {"x": 1}}


async def test_increment_of_a_string_is_invalid_json(store: MongoAdapter) -> None:
    await store.insert("Thing", doc("t1", n="seven"))
    changes = parse_changes({"n": {"__op": "Increment", "amount": 1}}, is_create=False)
    with pytest.raises(ParseError) as caught:
        await store.update("Thing", "t1", changes, MATCH_ALL, NOW)
    assert caught.value.code == ErrorCode.INVALID_JSON


async def test_delete_takes_its_relation_rows(store: MongoAdapter, raw: Any) -> None:
    await store.ensure_fields("Team", {"members": FieldType("Relation", "_User")})
    add = parse_changes({"members": {"__op": "AddRelation", "objects": [
        {"__type": "Pointer", "className": "_User", "objectId": "u1"}]}}, is_create=True)
    await store.insert("Team", doc("t1"), add)
    await store.insert("Team", doc("t2"), add)
    deleted = await store.delete("Team", "t1", MATCH_ALL)
    assert deleted is not None and deleted["objectId"] == "t1"
    assert await store.owning_ids("Team", "members", ("u1",)) == ["t2"]
    assert raw["_Join:members:Team"].count_documents({}) == 1


# --- unique indexes ---------------------------------------------------------------------------------------

async def test_case_insensitive_unique_index(store: MongoAdapter) -> None:
    await store.ensure_unique("_User", "username", case_insensitive=True)
    await store.insert("_User", doc("u1", username="Alice"))
    with pytest.raises(ParseError) as caught:
        await store.insert("_User", doc("u2", username="aLICE"))
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE


async def test_unique_index_leaves_null_and_missing_unchecked(store: MongoAdapter) -> None:
    await store.ensure_unique("_User", "email")
    for object_id, email in (("u1", None), ("u2", None), ("u3", "a@x.org")):
        await store.insert("_User", doc(object_id, email=email))
    await store.insert("_User", doc("u4"))
    await store.insert("_User", doc("u5"))
    with pytest.raises(ParseError):
        await store.insert("_User", doc("u6", email="a@x.org"))
    await store.insert("_User", doc("u7", email="A@x.org"))  # case-sensitive: a different value


async def test_unique_index_on_existing_duplicates_is_duplicate_value(store: MongoAdapter) -> None:
    await store.insert("Thing", doc("t1", code="x"))
    await store.insert("Thing", doc("t2", code="x"))
    with pytest.raises(ParseError) as caught:
        await store.ensure_unique("Thing", "code")
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE


async def test_parse_servers_own_unique_index_is_reused(store: MongoAdapter, raw: Any) -> None:
    raw["_User"].create_index([("username", 1)], unique=True, sparse=True)  # parse-server's `username_1`
    await store.ensure_unique("_User", "username")
    assert sorted(raw["_User"].index_information()) == ["_id_", "username_1"]


# --- queries -----------------------------------------------------------------------------------------------

async def test_near_sphere_sorts_nearest_first_then_skips_and_limits(store: MongoAdapter) -> None:
    await store.ensure_fields("Place", {"location": FieldType("GeoPoint")})
    for object_id, lat, lng in (("far", 60.0, 60.0), ("near", 1.0, 1.0), ("mid", 10.0, 10.0), ("x", 30.0, 30.0)):
        await store.insert("Place", doc(object_id, kind="a" if object_id != "x" else "b",
                                        location={"__type": "GeoPoint", "latitude": lat, "longitude": lng}))
    where = parse_where({"location": {"$nearSphere": {"__type": "GeoPoint", "latitude": 0, "longitude": 0}},
                         "kind": "a"})
    found = await store.find("Place", where)
    assert [d["objectId"] for d in found] == ["near", "mid", "far"]
    assert "__distance" not in found[0]
    page = await store.find("Place", where, FindOptions(skip=1, limit=1))
    assert [d["objectId"] for d in page] == ["mid"]
    ordered = await store.find("Place", where, FindOptions(order=(SortKey(("objectId",)),)))
    assert [d["objectId"] for d in ordered] == ["far", "mid", "near"]
    bounded = parse_where({"location": {"$nearSphere": {"__type": "GeoPoint", "latitude": 0, "longitude": 0},
                                        "$maxDistance": 0.3}})
    assert await store.count("Place", bounded) == 2
    assert [d["objectId"] for d in await store.find("Place", bounded)] == ["near", "mid"]


async def test_near_sphere_on_a_database_without_geo_index(store: MongoAdapter, raw: Any) -> None:
    raw["_SCHEMA"].insert_one({"_id": "Place", "location": "geopoint"})
    raw["Place"].insert_many([{"_id": "a", "location": [5.0, 5.0]}, {"_id": "b", "location": [1.0, 1.0]}])
    where = parse_where({"location": {"$nearSphere": {"__type": "GeoPoint", "latitude": 0, "longitude": 0}}})
    assert [d["objectId"] for d in await store.find("Place", where)] == ["b", "a"]


async def test_invalid_query_shapes_are_parse_errors(store: MongoAdapter) -> None:
    await store.insert("Thing", doc("t1", name="x"))
    with pytest.raises(ParseError) as caught:
        await store.find("Thing", parse_where({"name": {"$inQuery": {"className": "Other", "where": {}}}}))
    assert caught.value.code == ErrorCode.INVALID_QUERY


async def test_bad_uri_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        MongoAdapter("mongodb://")
    assert caught.value.code == ErrorCode.INTERNAL_SERVER_ERROR


async def test_relation_writes_on_a_server_without_transactions(store: MongoAdapter, raw: Any) -> None:
    store._transactions = False  # as on a standalone mongod: ordered writes instead of a transaction
    await store.ensure_fields("Team", {"members": FieldType("Relation", "_User")})
    add = parse_changes({"members": {"__op": "AddRelation", "objects": [
        {"__type": "Pointer", "className": "_User", "objectId": "u1"}]}}, is_create=True)
    await store.insert("Team", doc("t1"), add)
    remove = parse_changes({"members": {"__op": "RemoveRelation", "objects": [
        {"__type": "Pointer", "className": "_User", "objectId": "u1"}]}}, is_create=False)
    assert await store.update("Team", "t1", remove, MATCH_ALL, NOW) is not None
    assert await store.related_ids("Team", "members", ("t1",)) == []
    assert await store.delete("Team", "t1", MATCH_ALL) is not None
    assert raw["Team"].count_documents({}) == 0


async def test_concurrent_schema_changes_agree_on_one_type(store: MongoAdapter) -> None:
    wants = [{"level": FieldType("Number" if i % 2 else "String"), f"f{i}": FieldType("Boolean")} for i in range(8)]
    results = await asyncio.gather(*(store.ensure_fields("Race", w) for w in wants), return_exceptions=True)
    schema = await store.get_schema("Race")
    assert schema is not None
    won = schema.fields["level"]
    for wanted, result in zip(wants, results, strict=True):
        if wanted["level"] == won:
            assert isinstance(result, type(schema)) and result.fields["level"] == won
        else:
            assert isinstance(result, ParseError) and result.code == ErrorCode.INCORRECT_TYPE
    # all or nothing: exactly the callers whose type won got their other field added
    assert {name for name in schema.fields if name.startswith("f")} == {
        f"f{i}" for i, result in enumerate(results) if not isinstance(result, BaseException)}


async def test_a_query_past_its_time_limit_is_timeout_124(database_uri: str, raw: Any) -> None:
    """Every query carries maxTimeMS; its expiry is Parse's TIMEOUT (124), never an internal error."""
    hurried = MongoAdapter(database_uri, query_time_ms=1)
    await hurried.open()
    try:
        await hurried.ensure_fields("Many", {"s": FieldType("String")})
        raw["Many"].insert_many([{"_id": f"id{i}", "s": "a" * 200} for i in range(20_000)])
        where = parse_where({"s": {"$regex": "b"}})
        for attempt in (hurried.find("Many", where), hurried.count("Many", where)):
            with pytest.raises(ParseError) as caught:
                await attempt
            assert caught.value.code == ErrorCode.TIMEOUT
    finally:
        await hurried.close()
