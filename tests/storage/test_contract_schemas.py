"""Store contract: class schemas, their fields, permissions and indexes, and the errors of each operation."""
from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from storage.adapter import StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.query import MATCH_ALL
from storage.schema import ClassSchema, FieldOptions, new_schema
from storage.values import FieldType

STRING, NUMBER = FieldType("String"), FieldType("Number")


async def raises(code: ErrorCode, awaitable: Any) -> str:
    with pytest.raises(ParseError) as caught:
        await awaitable
    assert caught.value.code == code, caught.value.message
    return caught.value.message


async def test_ensure_fields_creates_the_class_with_its_default_fields(store: StorageAdapter) -> None:
    schema = await store.ensure_fields("Post", {"title": STRING})
    assert set(schema.fields) == {"objectId", "createdAt", "updatedAt", "ACL", "title"}
    assert await store.get_schema("Post") == schema
    user = await store.ensure_fields("_User", {})
    assert {"username", "password", "email", "emailVerified", "authData"} <= set(user.fields)


async def test_ensure_fields_adds_only_what_is_missing(store: StorageAdapter) -> None:
    await store.ensure_fields("Post", {"title": STRING})
    schema = await store.ensure_fields("Post", {"title": STRING, "votes": NUMBER})
    assert schema.fields["votes"] == NUMBER
    assert (await store.get_schema("Post")).fields["title"] == STRING


async def test_ensure_fields_refuses_another_type(store: StorageAdapter) -> None:
    await store.ensure_fields("Post", {"title": STRING})
    message = await raises(ErrorCode.INCORRECT_TYPE, store.ensure_fields("Post", {"title": NUMBER, "x": NUMBER}))
    assert "title" in message
    assert "x" not in (await store.get_schema("Post")).fields


async def test_ensure_fields_from_concurrent_callers_agrees_on_one_type(store: StorageAdapter) -> None:
    attempts = [store.ensure_fields("Race", {"f": STRING if i % 2 else NUMBER, f"g{i}": NUMBER}) for i in range(10)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, ParseError) and r.code == ErrorCode.INCORRECT_TYPE]
    assert len(winners) == 5 and len(losers) == 5
    final = await store.get_schema("Race")
    assert {w.fields["f"] for w in winners} == {final.fields["f"]}


async def test_only_one_geopoint_field_per_class(store: StorageAdapter) -> None:
    await store.ensure_fields("Place", {"at": FieldType("GeoPoint")})
    await raises(ErrorCode.INCORRECT_TYPE, store.ensure_fields("Place", {"near": FieldType("GeoPoint")}))


async def test_schemas_are_listed_and_missing_ones_are_none(store: StorageAdapter) -> None:
    assert await store.get_schema("Nope") is None
    await store.ensure_fields("B", {})
    await store.ensure_fields("A", {})
    assert [s.class_name for s in await store.get_all_schemas()] == ["A", "B"]


async def test_create_class_stores_fields_permissions_and_indexes(store: StorageAdapter) -> None:
    schema = new_schema("Game", {"score": NUMBER, "player": FieldType("Pointer", "_User")})
    clp = {**schema.clp, "delete": {}}
    created = await store.create_class(ClassSchema("Game", schema.fields, clp, {"by_score": {"score": -1}}))
    assert created.fields["player"] == FieldType("Pointer", "_User")
    assert created.clp["delete"] == {} and created.indexes == {"by_score": {"score": -1}}
    assert await store.get_schema("Game") == created
    message = await raises(ErrorCode.INVALID_CLASS_NAME, store.create_class(new_schema("Game")))
    assert message == "Class Game already exists."


async def test_update_class_adds_and_deletes_fields(objects: Any) -> None:
    store = objects.store
    await objects.create("Post", "p1", {"title": "a", "body": "b"})
    schema = await store.update_class("Post", add_fields={"votes": NUMBER}, delete_fields=("body",))
    assert "votes" in schema.fields and "body" not in schema.fields
    assert "body" not in await objects.get("Post", "p1")
    schema = await store.update_class("Post", add_fields={"body": NUMBER})  # re-added with another type
    assert schema.fields["body"] == NUMBER
    await objects.update("Post", "p1", {"body": 3})


async def test_update_class_errors(objects: Any) -> None:
    store = objects.store
    await objects.create("Post", "p1", {"title": "a"})
    assert await raises(ErrorCode.INVALID_CLASS_NAME, store.update_class("Nope", clp={})) == \
        "Class Nope does not exist."
    assert await raises(ErrorCode.INVALID_SCHEMA_OPERATION, store.update_class("Post", add_fields={"title": STRING})) \
        == "Field title exists, cannot update."
    assert await raises(ErrorCode.INVALID_SCHEMA_OPERATION, store.update_class("Post", delete_fields=("nope",))) \
        == "Field nope does not exist, cannot update."
    assert "title" in (await store.get_schema("Post")).fields


async def test_update_class_changes_permissions(store: StorageAdapter) -> None:
    await store.ensure_fields("Post", {})
    clp = {"find": {"role:admin": True}, "count": {}, "get": {"*": True}, "create": {}, "update": {},
           "delete": {}, "addField": {}, "protectedFields": {"*": []}}
    assert (await store.update_class("Post", clp=clp)).clp == clp
    assert (await store.get_schema("Post")).clp == clp


async def test_indexes_are_added_and_dropped(store: StorageAdapter) -> None:
    await store.ensure_fields("Post", {"title": STRING, "votes": NUMBER})
    schema = await store.update_class("Post", add_indexes={"title_votes": {"title": 1, "votes": -1}})
    assert schema.indexes == {"title_votes": {"title": 1, "votes": -1}}
    assert await raises(ErrorCode.INVALID_QUERY, store.update_class(
        "Post", add_indexes={"title_votes": {"title": 1}})) == "Index title_votes exists, cannot update."
    assert await raises(ErrorCode.INVALID_QUERY, store.update_class(
        "Post", add_indexes={"by_nope": {"nope": 1}})) == "Field nope does not exist, cannot add index."
    assert (await store.update_class("Post", drop_indexes=("title_votes",))).indexes == {}
    assert await raises(ErrorCode.INVALID_QUERY, store.update_class("Post", drop_indexes=("title_votes",))) == \
        "Index title_votes does not exist, cannot delete."


async def test_delete_class_needs_an_empty_existing_class(objects: Any) -> None:
    store = objects.store
    assert await raises(ErrorCode.INVALID_CLASS_NAME, store.delete_class("Nope")) == "Class Nope does not exist."
    await objects.create("Post", "p1")
    await objects.create("Post", "p2")
    assert await raises(ErrorCode.INVALID_SCHEMA_OPERATION, store.delete_class("Post")) == \
        "Class Post is not empty, contains 2 objects, cannot drop schema."
    await store.purge("Post")
    await store.delete_class("Post")
    assert await store.get_schema("Post") is None
    assert await store.find("Post", MATCH_ALL) == []
    await store.ensure_fields("Post", {"title": NUMBER})  # the name is free again, with new types


async def test_delete_class_drops_its_relations(objects: Any) -> None:
    store = objects.store
    users = {"__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "_User", "objectId": "u1"}]}
    await objects.create("Team", "t1", {"members": users})
    await store.purge("Team")
    await store.delete_class("Team")
    await objects.create("Team", "t1", {"members": users})
    assert await store.related_ids("Team", "members", ("t1",)) == ["u1"]


async def test_field_options_are_stored_with_the_class(store: StorageAdapter) -> None:
    base = new_schema("Review", {"stars": NUMBER, "status": STRING})
    options = {"stars": FieldOptions(required=True), "status": FieldOptions(default_value="new")}
    created = await store.create_class(msgspec.structs.replace(base, options=options))
    assert created.options == options
    assert (await store.get_schema("Review")).options == options
    assert created.to_json()["fields"]["stars"] == {"type": "Number", "required": True}
    assert created.to_json()["fields"]["status"] == {"type": "String", "defaultValue": "new"}


async def test_update_class_sets_clears_and_drops_field_options(store: StorageAdapter) -> None:
    await store.create_class(new_schema("Review", {"stars": NUMBER}))
    updated = await store.update_class("Review", add_fields={"when": FieldType("Date")}, field_options={
        "stars": FieldOptions(required=True),
        "when": FieldOptions(default_value={"__type": "Date", "iso": "2025-01-01T00:00:00.000Z"})})
    assert updated.options["stars"].required and updated.options["when"].default_value["iso"].startswith("2025")
    cleared = await store.update_class("Review", field_options={"stars": FieldOptions()})
    assert set(cleared.options) == {"when"}
    dropped = await store.update_class("Review", delete_fields=("when",))
    assert dropped.options == {} and (await store.get_schema("Review")).options == {}
    await raises(ErrorCode.INVALID_SCHEMA_OPERATION,
                 store.update_class("Review", field_options={"nowhere": FieldOptions(required=True)}))
