"""Store contract: inserts, every update operation, deletes, relations and unique values."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storage.adapter import StorageAdapter
from storage.changes import parse_changes
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL, parse_where


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


U1_ONLY = {"ACL": {"u1": {"read": True, "write": True}}, "_rperm": ["u1"], "_wperm": ["u1"]}
PUBLIC_READ_U1_WRITE = {"ACL": {"*": {"read": True}, "u1": {"write": True}}, "_rperm": ["*"], "_wperm": ["u1"]}


def relation_op(op: str, *ids: str) -> dict[str, Any]:
    return {"__op": op, "objects": [pointer("_User", i) for i in ids]}


async def test_insert_then_find_returns_the_document_as_stored(objects: Any) -> None:
    created = await objects.create("Post", "p1", {"title": "hi", "n": 1.5, "ok": True, "tags": ["a"],
                                                  "when": {"__type": "Date", "iso": "2024-01-02T03:04:05.6Z"},
                                                  "meta": {"x": None}}, **PUBLIC_READ_U1_WRITE)
    assert await objects.find("Post") == [created]
    assert created["when"] == {"__type": "Date", "iso": "2024-01-02T03:04:05.600Z"}


async def test_insert_with_an_existing_object_id_is_a_duplicate_value(objects: Any) -> None:
    await objects.create("Post", "p1", {"title": "a"})
    with pytest.raises(ParseError) as caught:
        await objects.create("Post", "p1", {"title": "b"})
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE
    assert [d["title"] for d in await objects.find("Post")] == ["a"]


async def test_insert_into_a_new_class_creates_it(store: StorageAdapter) -> None:
    await store.insert("Fresh", {"objectId": "f1", "createdAt": "2024-01-01T00:00:00.000Z",
                                 "updatedAt": "2024-01-01T00:00:00.000Z", "size": 3})
    schema = await store.get_schema("Fresh")
    assert schema is not None and schema.fields["size"].type == "Number"
    assert await store.count("Fresh", parse_where({"size": 3})) == 1


UPDATES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("set a value", {"title": "a"}, {"title": "b"}, {"title": "b"}),
    ("delete a field", {"title": "a", "n": 1}, {"title": {"__op": "Delete"}}, {"n": 1}),
    ("increment", {"n": 1}, {"n": {"__op": "Increment", "amount": 2}}, {"n": 3}),
    ("increment by a negative amount", {"n": 1}, {"n": {"__op": "Increment", "amount": -5}}, {"n": -4}),
    ("increment counts a missing field as zero", {}, {"n": {"__op": "Increment", "amount": 4}}, {"n": 4}),
    ("add appends", {"tags": ["a"]}, {"tags": {"__op": "Add", "objects": ["a", "b"]}}, {"tags": ["a", "a", "b"]}),
    ("add unique skips present items", {"tags": ["a", "b"]},
     {"tags": {"__op": "AddUnique", "objects": ["b", "c", "c"]}}, {"tags": ["a", "b", "c"]}),
    ("add unique to a missing field", {}, {"tags": {"__op": "AddUnique", "objects": ["x"]}}, {"tags": ["x"]}),
    ("remove every occurrence", {"tags": ["a", "b", "a", "c"]}, {"tags": {"__op": "Remove", "objects": ["a", "c"]}},
     {"tags": ["b"]}),
    ("remove pointers", {"people": [pointer("_User", "u1"), pointer("_User", "u2")]},
     {"people": {"__op": "Remove", "objects": [pointer("_User", "u1")]}}, {"people": [pointer("_User", "u2")]}),
    ("set a dotted key", {"stats": {"wins": 1, "losses": 2}}, {"stats.wins": 5}, {"stats": {"wins": 5, "losses": 2}}),
    ("increment a dotted key", {"stats": {"wins": 1}}, {"stats.wins": {"__op": "Increment", "amount": 1}},
     {"stats": {"wins": 2}}),
    ("set a deep dotted key into a missing object", {}, {"stats.season.wins": 1}, {"stats": {"season": {"wins": 1}}}),
    ("delete a dotted key", {"stats": {"wins": 1, "losses": 2}}, {"stats.wins": {"__op": "Delete"}},
     {"stats": {"losses": 2}}),
]


@pytest.mark.parametrize(("initial", "body", "expected"), [c[1:] for c in UPDATES], ids=[c[0] for c in UPDATES])
async def test_update_operation(objects: Any, initial: dict[str, Any], body: dict[str, Any],
                                expected: dict[str, Any]) -> None:
    created = await objects.create("Thing", "t1", initial)
    result = await objects.update("Thing", "t1", body)
    assert result is not None
    before, after = result
    assert before == created
    assert {k: v for k, v in after.items() if k not in ("objectId", "createdAt", "updatedAt")} == expected
    assert after["updatedAt"] > created["updatedAt"] and after["createdAt"] == created["createdAt"]
    assert await objects.get("Thing", "t1") == after


async def test_update_sets_and_removes_extra_stored_keys(objects: Any) -> None:
    await objects.create("Thing", "t1", {"a": 1}, _hashed_password="secret", **U1_ONLY)
    _, after = await objects.update("Thing", "t1", {"a": 2}, extra={**PUBLIC_READ_U1_WRITE, "_hashed_password": None})
    assert after["_rperm"] == ["*"] and after["ACL"] == PUBLIC_READ_U1_WRITE["ACL"]
    assert "_hashed_password" not in after
    assert await objects.get("Thing", "t1") == after


async def test_update_with_a_non_matching_where_returns_none_and_changes_nothing(objects: Any) -> None:
    created = await objects.create("Thing", "t1", {"n": 1}, **U1_ONLY)
    assert await objects.update("Thing", "t1", {"n": 2}, where={"_wperm": {"$in": ["u2", "*"]}}) is None
    assert await objects.get("Thing", "t1") == created
    assert await objects.update("Thing", "t1", {"n": 2}, where={"_wperm": {"$in": ["u1"]}}) is not None


async def test_update_of_a_missing_object_returns_none(objects: Any) -> None:
    await objects.create("Thing", "t1")
    assert await objects.update("Thing", "nope", {"n": 2}) is None
    assert await objects.store.update("Ghost", "nope", parse_changes({"n": 1}, is_create=False), MATCH_ALL,
                                      "2024-01-01T00:00:00.000Z") is None


async def test_increment_of_a_non_number_fails_and_changes_nothing(objects: Any) -> None:
    created = await objects.create("Thing", "t1", {"name": "x"})
    with pytest.raises(ParseError) as caught:
        await objects.store.update("Thing", "t1", parse_changes({"name": {"__op": "Increment"}}, is_create=False),
                                   MATCH_ALL, "2025-01-01T00:00:00.000Z")
    assert caught.value.code == ErrorCode.INVALID_JSON
    assert await objects.get("Thing", "t1") == created


async def test_increment_from_fifty_concurrent_writers_loses_none(objects: Any) -> None:
    await objects.create("Counter", "c1", {"n": 0})
    await asyncio.gather(*(objects.update("Counter", "c1", {"n": {"__op": "Increment", "amount": 1}})
                           for _ in range(50)))
    assert (await objects.get("Counter", "c1"))["n"] == 50


async def test_updated_at_grows_in_the_order_concurrent_writes_commit(objects: Any) -> None:
    """The LiveQuery bus orders an object's events by updatedAt (livequery/bus/order.py): each write's stamp is
    later than the state it replaced, whatever its request's clock said. Every write here is stamped with the
    same instant, before the object's own stamp (a clock behind), as concurrent requests can be."""
    await objects.create("Counter", "c1", {"n": 0, "tags": []})
    behind = "2000-01-01T00:00:00.000Z"
    increment, add = {"n": {"__op": "Increment", "amount": 1}}, {"tags": {"__op": "AddUnique", "objects": ["x"]}}
    changes = [parse_changes(body, is_create=False) for body in (increment, add)]
    results = await asyncio.gather(*(objects.store.update("Counter", "c1", changes[i % 2], MATCH_ALL, behind)
                                     for i in range(30)))
    stamps = {after["updatedAt"]: after for _before, after in results}  # type: ignore[misc]
    assert len(stamps) == 30  # no two writes share a stamp
    in_commit_order = sorted(results, key=lambda pair: pair[1]["updatedAt"])  # type: ignore[index]
    for (before, after), (next_before, _next_after) in zip(in_commit_order, in_commit_order[1:]):
        assert next_before == after  # each write replaced the state the previous one left
        assert before["updatedAt"] < after["updatedAt"]
    stored = await objects.get("Counter", "c1")
    assert stored is not None and stored["n"] == 15 and stored == in_commit_order[-1][1]


async def test_a_failing_write_among_concurrent_writes_fails_alone(objects: Any) -> None:
    await objects.create("Post", "taken")
    attempts = [objects.create("Post", f"p{i}") for i in range(20)] + [objects.create("Post", "taken")]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], ParseError)
    assert failures[0].code == ErrorCode.DUPLICATE_VALUE
    assert await objects.store.count("Post", MATCH_ALL) == 21


async def test_delete_returns_the_document_when_it_matches(objects: Any) -> None:
    created = await objects.create("Thing", "t1", {"a": 1}, **U1_ONLY)
    assert await objects.store.delete("Thing", "t1", parse_where({"_wperm": "u2"}, internal=True)) is None
    assert await objects.store.delete("Thing", "t1", parse_where({"_wperm": "u1"}, internal=True)) == created
    assert await objects.store.delete("Thing", "t1", MATCH_ALL) is None
    assert await objects.find("Thing") == []


async def test_purge_deletes_every_object_and_keeps_the_schema(objects: Any) -> None:
    for i in range(3):
        await objects.create("Thing", f"t{i}", {"likes": relation_op("AddRelation", "u1")})
    await objects.store.purge("Thing")
    assert await objects.find("Thing") == []
    assert await objects.store.owning_ids("Thing", "likes", ("u1",)) == []
    assert "likes" in (await objects.store.get_schema("Thing")).fields


# --- relations ------------------------------------------------------------------------------------------------

@pytest.fixture
async def liked(objects: Any) -> Any:
    """p1 is liked by u1 and u2; p2 by u2; p3 by nobody (but has the relation); the users exist."""
    for user in ("u1", "u2", "u3"):
        await objects.create("_User", user, {"username": user})
    await objects.create("Post", "p1", {"likes": relation_op("AddRelation", "u1", "u2")})
    await objects.create("Post", "p2", {"likes": relation_op("AddRelation", "u2")})
    await objects.create("Post", "p3", {"likes": relation_op("AddRelation", "u3")})
    await objects.update("Post", "p3", {"likes": relation_op("RemoveRelation", "u3")})
    return objects


async def test_relation_field_is_stored_with_its_target(liked: Any) -> None:
    post = await liked.get("Post", "p1")
    assert post["likes"] == {"__type": "Relation", "className": "_User"}
    schema = await liked.store.get_schema("Post")
    assert schema.fields["likes"].type == "Relation" and schema.fields["likes"].target_class == "_User"


async def test_relation_rows_are_added_and_removed(liked: Any) -> None:
    store = liked.store
    assert await store.related_ids("Post", "likes", ("p1",)) == ["u1", "u2"]
    assert await store.related_ids("Post", "likes", ("p3",)) == []
    assert await store.owning_ids("Post", "likes", ("u2",)) == ["p1", "p2"]
    await liked.update("Post", "p1", {"likes": {"__op": "Batch", "ops": [relation_op("RemoveRelation", "u1"),
                                                                          relation_op("AddRelation", "u3")]}})
    assert await store.related_ids("Post", "likes", ("p1",)) == ["u2", "u3"]


async def test_query_on_a_relation_field_matches_owners_containing_the_pointer(liked: Any) -> None:
    assert await liked.matching("Post", {"likes": pointer("_User", "u1")}) == {"p1"}
    assert await liked.matching("Post", {"likes": {"$in": [pointer("_User", "u1"), pointer("_User", "u2")]}}) == \
        {"p1", "p2"}
    assert await liked.matching("Post", {"likes": {"$nin": [pointer("_User", "u1")]}}) == {"p2", "p3"}
    assert await liked.matching("Post", {"likes": {"$all": [pointer("_User", "u1"), pointer("_User", "u2")]}}) == \
        {"p1"}
    assert await liked.matching("Post", {"likes": pointer("Team", "u1")}) == set()


async def test_related_to_finds_the_objects_in_an_owners_relation(liked: Any) -> None:
    related = {"$relatedTo": {"object": pointer("Post", "p1"), "key": "likes"}}
    assert await liked.matching("_User", related) == {"u1", "u2"}
    assert await liked.matching("_User", {**related, "username": {"$ne": "u1"}}) == {"u2"}
    assert await liked.matching("_User", {"$relatedTo": {"object": pointer("Post", "p1"), "key": "nope"}}) == set()
    assert await liked.store.count("_User", parse_where(related)) == 2


async def test_deleting_an_owner_removes_its_relation_rows(liked: Any) -> None:
    await liked.store.delete("Post", "p1", MATCH_ALL)
    assert await liked.store.owning_ids("Post", "likes", ("u1", "u2")) == ["p2"]


async def test_relation_ops_on_insert_commit_with_the_object(liked: Any) -> None:
    with pytest.raises(ParseError):
        await liked.create("Post", "p1", {"likes": relation_op("AddRelation", "u3")})  # duplicate objectId
    assert await liked.store.related_ids("Post", "likes", ("p1",)) == ["u1", "u2"]


# --- unique values --------------------------------------------------------------------------------------------

async def test_unique_index_refuses_a_duplicate_value(objects: Any) -> None:
    await objects.store.ensure_unique("_User", "username")
    await objects.create("_User", "u1", {"username": "ann"})
    with pytest.raises(ParseError) as caught:
        await objects.create("_User", "u2", {"username": "ann"})
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE
    assert caught.value.message == "A duplicate value for a field with unique values was provided"
    await objects.create("_User", "u3", {"username": "bob"})
    with pytest.raises(ParseError) as caught:
        await objects.update("_User", "u3", {"username": "ann"})
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE
    assert (await objects.get("_User", "u3"))["username"] == "bob"


async def test_unique_index_ignores_missing_values_and_can_ignore_case(objects: Any) -> None:
    await objects.store.ensure_unique("_User", "email", case_insensitive=True)
    await objects.create("_User", "u1", {"username": "a"})
    await objects.create("_User", "u2", {"username": "b"})
    await objects.create("_User", "u3", {"email": "Ann@Example.com"})
    with pytest.raises(ParseError) as caught:
        await objects.create("_User", "u4", {"email": "ann@example.COM"})
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE


async def test_unique_index_over_existing_duplicates_is_refused(objects: Any) -> None:
    await objects.create("Tag", "t1", {"name": "x"})
    await objects.create("Tag", "t2", {"name": "x"})
    with pytest.raises(ParseError) as caught:
        await objects.store.ensure_unique("Tag", "name")
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE
