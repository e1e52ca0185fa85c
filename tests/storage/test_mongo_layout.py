"""The MongoDB store keeps Parse Server's own layout: a database parse-server wrote reads back in REST form, and
what the store writes is what parse-server would have written (checked on the raw documents with pymongo)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import bcrypt
import pymongo
import pytest
from bson import Binary

from storage.adapter import FindOptions, SortKey
from storage.changes import parse_changes
from storage.mongo import MongoAdapter
from storage.query import MATCH_ALL, parse_where
from storage.schema import FieldOptions
from storage.values import FieldType
from tests.storage.mongo_server import fresh_database

CREATED = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
UPDATED = datetime(2024, 1, 3, 4, 5, 6, 789000, tzinfo=UTC)
EXPIRES = datetime(2025, 1, 2, 3, 4, 5, 0, tzinfo=UTC)
PASSWORD_HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


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


def write_parse_server_database(db: Any) -> None:
    """What parse-server 7 leaves in MongoDB for a small app (written directly, as it would)."""
    db["_SCHEMA"].insert_many([
        {"_id": "GameScore", "objectId": "string", "updatedAt": "date", "createdAt": "date",
         "score": "number", "player": "*_User", "location": "geopoint", "tags": "array", "avatar": "file",
         "area": "polygon", "fans": "relation<_User>", "playedAt": "date", "stats": "object", "raw": "bytes",
         "_metadata": {"class_permissions": {"find": {"*": True}, "get": {"*": True}, "create": {"*": True},
                                             "update": {"requiresAuthentication": True}, "delete": {},
                                             "addField": {}, "protectedFields": {"*": []}, "count": {"*": True}},
                       "indexes": {"_id_": {"_id": 1}, "score_1": {"score": 1}}}},
        {"_id": "_User", "objectId": "string", "updatedAt": "date", "createdAt": "date", "username": "string",
         "email": "string", "emailVerified": "boolean", "authData": "object", "nickname": "string"},
        {"_id": "_Session", "objectId": "string", "updatedAt": "date", "createdAt": "date",
         "sessionToken": "string", "user": "*_User", "createdWith": "object", "installationId": "string",
         "expiresAt": "date", "restricted": "boolean"},
    ])
    db["GameScore"].create_index([("location", "2dsphere")])
    db["GameScore"].insert_one({
        "_id": "g1", "_created_at": CREATED, "_updated_at": UPDATED, "score": 1337, "_p_player": "_User$u1",
        "location": [-122.4, 37.7], "tags": ["a", "b"], "avatar": "tfss-abc_file.txt",
        "area": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 0.0]]]},
        "playedAt": CREATED, "raw": Binary(b"\x00\x01hi"),
        "stats": {"best": CREATED, "rival": {"__type": "Pointer", "className": "_User", "objectId": "u2"}},
        "_rperm": ["*", "u1"], "_wperm": ["u1"], "_acl": {"*": {"r": True}, "u1": {"r": True, "w": True}},
    })
    db["GameScore"].insert_one({"_id": "g2", "_created_at": UPDATED, "_updated_at": UPDATED, "score": 10,
                                "location": [2.35, 48.85]})
    db["_Join:fans:GameScore"].insert_many([{"owningId": "g1", "relatedId": "u2"},
                                            {"owningId": "g1", "relatedId": "u3"}])
    db["_User"].insert_one({
        "_id": "u1", "_created_at": CREATED, "_updated_at": UPDATED, "username": "alice", "email": "a@example.com",
        "emailVerified": True, "_hashed_password": PASSWORD_HASH, "nickname": "Al",
        "_auth_data_facebook": {"id": "fb1", "access_token": "tok"},
        "_email_verify_token": "evt", "_perishable_token_expires_at": EXPIRES,
        "_rperm": ["*", "u1"], "_wperm": ["u1"], "_acl": {"*": {"r": True}, "u1": {"r": True, "w": True}},
    })
    db["_Session"].insert_one({
        "_id": "s1", "_created_at": CREATED, "_updated_at": CREATED, "_session_token": "r:abc123",
        "_p_user": "_User$u1", "createdWith": {"action": "login", "authProvider": "password"},
        "installationId": "inst-1", "restricted": False, "_expiresAt": EXPIRES,
        "_rperm": ["u1"], "_wperm": ["u1"], "_acl": {"u1": {"r": True, "w": True}},
    })


async def test_parse_server_schema_reads_as_class_schema(raw: Any, store: MongoAdapter) -> None:
    write_parse_server_database(raw)
    schema = await store.get_schema("GameScore")
    assert schema is not None
    assert schema.fields["player"] == FieldType("Pointer", "_User")
    assert schema.fields["fans"] == FieldType("Relation", "_User")
    assert {name: schema.fields[name].type for name in ("score", "location", "tags", "avatar", "area",
                                                         "playedAt", "stats", "raw", "createdAt", "ACL")} == {
        "score": "Number", "location": "GeoPoint", "tags": "Array", "avatar": "File", "area": "Polygon",
        "playedAt": "Date", "stats": "Object", "raw": "Bytes", "createdAt": "Date", "ACL": "ACL"}
    assert schema.clp["update"] == {"requiresAuthentication": True}
    assert schema.indexes == {"score_1": {"score": 1}}
    user = await store.get_schema("_User")
    assert user is not None and user.fields["password"] == FieldType("String")
    assert user.fields["nickname"] == FieldType("String")
    assert [s.class_name for s in await store.get_all_schemas()] == ["GameScore", "_Session", "_User"]


async def test_parse_server_object_reads_in_rest_form(raw: Any, store: MongoAdapter) -> None:
    write_parse_server_database(raw)
    [game] = await store.find("GameScore", parse_where({"objectId": "g1"}))
    assert game == {
        "objectId": "g1", "createdAt": "2024-01-02T03:04:05.678Z", "updatedAt": "2024-01-03T04:05:06.789Z",
        "score": 1337, "player": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
        "location": {"__type": "GeoPoint", "latitude": 37.7, "longitude": -122.4}, "tags": ["a", "b"],
        "avatar": {"__type": "File", "name": "tfss-abc_file.txt"},
        "area": {"__type": "Polygon", "coordinates": [[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [0.0, 0.0]]},
        "playedAt": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"},
        "raw": {"__type": "Bytes", "base64": "AAFoaQ=="},
        "stats": {"best": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"},
                  "rival": {"__type": "Pointer", "className": "_User", "objectId": "u2"}},
        "ACL": {"*": {"read": True}, "u1": {"read": True, "write": True}},
        "_rperm": ["*", "u1"], "_wperm": ["u1"],
        "fans": {"__type": "Relation", "className": "_User"},
    }


async def test_parse_server_data_answers_queries(raw: Any, store: MongoAdapter) -> None:
    write_parse_server_database(raw)

    async def ids(where: dict[str, Any], **options: Any) -> list[str]:
        found = await store.find("GameScore", parse_where(where, internal=True), FindOptions(**options))
        return [d["objectId"] for d in found]

    alice = {"__type": "Pointer", "className": "_User", "objectId": "u1"}
    assert await ids({"player": alice}) == ["g1"]
    assert await ids({"player": {"$exists": False}}) == ["g2"]
    assert await ids({"fans": {"__type": "Pointer", "className": "_User", "objectId": "u3"}}) == ["g1"]
    assert await ids({"createdAt": {"$gt": {"__type": "Date", "iso": "2024-01-02T12:00:00Z"}}}) == ["g2"]
    assert await ids({"stats.best": {"$lte": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}}}) == ["g1"]
    assert await ids({"_rperm": {"$in": [None, "*"]}}) == ["g1", "g2"]
    assert await ids({"_wperm": {"$in": [None, "u9"]}}) == ["g2"]
    paris = {"__type": "GeoPoint", "latitude": 48.0, "longitude": 2.0}
    assert await ids({"location": {"$nearSphere": paris}}) == ["g2", "g1"]
    assert await ids({"location": {"$nearSphere": paris, "$maxDistanceInKilometers": 500}}) == ["g2"]
    assert await ids({}, order=(SortKey(("score",), descending=True),)) == ["g1", "g2"]
    assert await store.related_ids("GameScore", "fans", ("g1",)) == ["u2", "u3"]


async def test_parse_server_user_and_session_read_in_rest_form(raw: Any, store: MongoAdapter) -> None:
    write_parse_server_database(raw)
    [user] = await store.find("_User", parse_where({"username": "alice"}))
    assert user["authData"] == {"facebook": {"id": "fb1", "access_token": "tok"}}
    assert bcrypt.checkpw(b"s3cret", user["_hashed_password"].encode())
    assert user["_email_verify_token"] == "evt"
    assert user["_perishable_token_expires_at"] == {"__type": "Date", "iso": "2025-01-02T03:04:05.000Z"}
    assert user["ACL"] == {"*": {"read": True}, "u1": {"read": True, "write": True}}
    assert "password" not in user and "_acl" not in user
    assert [u["objectId"] for u in await store.find("_User", parse_where({"authData.facebook.id": "fb1"}))] == ["u1"]

    [session] = await store.find("_Session", parse_where({"sessionToken": "r:abc123"}))
    assert session["sessionToken"] == "r:abc123"
    assert session["user"] == {"__type": "Pointer", "className": "_User", "objectId": "u1"}
    assert session["expiresAt"] == {"__type": "Date", "iso": "2025-01-02T03:04:05.000Z"}
    assert session["createdWith"] == {"action": "login", "authProvider": "password"}
    assert session["ACL"] == {"u1": {"read": True, "write": True}}


async def test_parse_server_object_updates_in_place(raw: Any, store: MongoAdapter) -> None:
    write_parse_server_database(raw)
    changes = parse_changes({"score": {"__op": "Increment", "amount": 1}, "tags": {"__op": "Add", "objects": ["c"]},
                             "fans": {"__op": "RemoveRelation",
                                      "objects": [{"__type": "Pointer", "className": "_User", "objectId": "u2"}]}},
                            is_create=False)
    result = await store.update("GameScore", "g1", changes, MATCH_ALL, "2024-05-01T00:00:00.000Z")
    assert result is not None
    assert result[1]["score"] == 1338 and result[1]["tags"] == ["a", "b", "c"]
    stored = raw["GameScore"].find_one({"_id": "g1"})
    assert stored["_p_player"] == "_User$u1" and stored["score"] == 1338
    assert stored["_updated_at"] == datetime(2024, 5, 1, tzinfo=UTC)
    assert [r["relatedId"] for r in raw["_Join:fans:GameScore"].find({"owningId": "g1"})] == ["u3"]


# --- what the store writes -----------------------------------------------------------------------------

GAME_FIELDS = {"score": FieldType("Number"), "player": FieldType("Pointer", "_User"),
               "location": FieldType("GeoPoint"), "avatar": FieldType("File"), "area": FieldType("Polygon"),
               "raw": FieldType("Bytes"), "playedAt": FieldType("Date"), "stats": FieldType("Object"),
               "fans": FieldType("Relation", "_User"), "tags": FieldType("Array")}


def game_document() -> dict[str, Any]:
    return {
        "objectId": "g9", "createdAt": "2024-01-02T03:04:05.678Z", "updatedAt": "2024-01-02T03:04:05.678Z",
        "score": 7, "player": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
        "location": {"__type": "GeoPoint", "latitude": 37.7, "longitude": -122.4},
        "avatar": {"__type": "File", "name": "tfss-abc_file.txt"},
        "area": {"__type": "Polygon", "coordinates": [[0.0, 0.0], [0.0, 10.0], [10.0, 10.0], [0.0, 0.0]]},
        "raw": {"__type": "Bytes", "base64": "AAFoaQ=="},
        "playedAt": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"},
        "stats": {"best": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"},
                  "rival": {"__type": "Pointer", "className": "_User", "objectId": "u2"}},
        "tags": [{"__type": "Pointer", "className": "_User", "objectId": "u3"}],
        "ACL": {"*": {"read": True}, "u1": {"read": True, "write": True}},
        "_rperm": ["*", "u1"], "_wperm": ["u1"],
    }


async def test_written_object_has_parse_server_layout(raw: Any, store: MongoAdapter) -> None:
    await store.ensure_fields("GameScore", GAME_FIELDS)
    relation = parse_changes({"fans": {"__op": "AddRelation", "objects": [
        {"__type": "Pointer", "className": "_User", "objectId": "u2"}]}}, is_create=True)
    await store.insert("GameScore", game_document(), relation)

    stored = raw["GameScore"].find_one({"_id": "g9"})
    assert stored == {
        "_id": "g9", "_created_at": CREATED, "_updated_at": CREATED, "score": 7, "_p_player": "_User$u1",
        "location": [-122.4, 37.7], "avatar": "tfss-abc_file.txt",
        "area": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 0.0]]]},
        "raw": b"\x00\x01hi", "playedAt": CREATED,
        "stats": {"best": CREATED, "rival": {"__type": "Pointer", "className": "_User", "objectId": "u2"}},
        "tags": [{"__type": "Pointer", "className": "_User", "objectId": "u3"}],
        "_rperm": ["*", "u1"], "_wperm": ["u1"], "_acl": {"*": {"r": True}, "u1": {"r": True, "w": True}},
    }
    assert [(r["owningId"], r["relatedId"]) for r in raw["_Join:fans:GameScore"].find()] == [("g9", "u2")]
    assert any(info["key"] == [("location", "2dsphere")]
               for info in raw["GameScore"].index_information().values())
    [found] = await store.find("GameScore", MATCH_ALL)
    assert found == {**game_document(), "fans": {"__type": "Relation", "className": "_User"}}


async def test_written_schema_has_parse_server_layout(raw: Any, store: MongoAdapter) -> None:
    await store.ensure_fields("GameScore", GAME_FIELDS)
    await store.update_class("GameScore", clp={"find": {"*": True}, "get": {"*": True}},
                             add_indexes={"score_1": {"score": 1}, "player_1": {"player": 1}})
    document = raw["_SCHEMA"].find_one({"_id": "GameScore"})
    assert {key: document[key] for key in (*GAME_FIELDS, "objectId", "createdAt", "updatedAt")} == {
        "score": "number", "player": "*_User", "location": "geopoint", "avatar": "file", "area": "polygon",
        "raw": "bytes", "playedAt": "date", "stats": "object", "fans": "relation<_User>", "tags": "array",
        "objectId": "string", "createdAt": "date", "updatedAt": "date"}
    assert "ACL" not in document
    # what the CLP leaves out, everyone may do (as on SQLite): written out, since Parse Server reads a missing
    # operation as `{}` (master key only)
    assert document["_metadata"]["class_permissions"] == {
        "find": {"*": True}, "get": {"*": True}, "count": {"*": True}, "create": {"*": True},
        "update": {"*": True}, "delete": {"*": True}, "addField": {"*": True}}
    assert document["_metadata"]["indexes"] == {"score_1": {"score": 1}, "player_1": {"player": 1}}
    keys = {name: info["key"] for name, info in raw["GameScore"].index_information().items()}
    assert keys["player_1"] == [("_p_player", 1)]

    await store.ensure_fields("_User", {"nickname": FieldType("String")})
    user_schema = raw["_SCHEMA"].find_one({"_id": "_User"})
    assert user_schema["_hashed_password"] == "string" and "password" not in user_schema
    assert user_schema["username"] == "string" and user_schema["nickname"] == "string"


async def test_written_user_and_session_have_parse_server_layout(raw: Any, store: MongoAdapter) -> None:
    await store.ensure_fields("_User", {})
    await store.insert("_User", {
        "objectId": "u1", "createdAt": "2024-01-02T03:04:05.678Z", "updatedAt": "2024-01-02T03:04:05.678Z",
        "username": "alice", "_hashed_password": PASSWORD_HASH,
        "authData": {"facebook": {"id": "fb1"}}, "ACL": {"u1": {"read": True, "write": True}},
        "_rperm": ["u1"], "_wperm": ["u1"]})
    await store.ensure_fields("_Session", {})
    await store.insert("_Session", {
        "objectId": "s1", "createdAt": "2024-01-02T03:04:05.678Z", "updatedAt": "2024-01-02T03:04:05.678Z",
        "sessionToken": "r:abc123", "user": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
        "expiresAt": {"__type": "Date", "iso": "2025-01-02T03:04:05.000Z"}, "restricted": False})

    user = raw["_User"].find_one({"_id": "u1"})
    assert user["_hashed_password"] == PASSWORD_HASH and "password" not in user
    assert user["_auth_data_facebook"] == {"id": "fb1"} and "authData" not in user
    session = raw["_Session"].find_one({"_id": "s1"})
    assert session["_session_token"] == "r:abc123" and "sessionToken" not in session
    assert session["_p_user"] == "_User$u1"
    assert session["expiresAt"] == EXPIRES  # parse-server writes `expiresAt`; it reads `_expiresAt` too

    changes = parse_changes({"authData": {"github": {"id": "gh1"}}}, is_create=False)
    result = await store.update("_User", "u1", changes, MATCH_ALL, "2024-05-01T00:00:00.000Z")
    assert result is not None and result[1]["authData"] == {"github": {"id": "gh1"}}
    user = raw["_User"].find_one({"_id": "u1"})
    assert user["_auth_data_github"] == {"id": "gh1"} and "_auth_data_facebook" not in user


async def test_field_options_use_parse_servers_fields_options(raw: Any, store: MongoAdapter) -> None:
    raw["_SCHEMA"].insert_one({
        "_id": "Review", "objectId": "string", "updatedAt": "date", "createdAt": "date", "stars": "number",
        "status": "string", "_metadata": {"fields_options": {
            "stars": {"required": True}, "status": {"required": False, "defaultValue": "new"},
            "gone": {"required": True}}}})
    schema = await store.get_schema("Review")
    assert schema.to_json()["fields"]["stars"] == {"type": "Number", "required": True}
    assert schema.to_json()["fields"]["status"] == {"type": "String", "required": False, "defaultValue": "new"}
    assert "gone" not in schema.options  # left behind by a deleted field
    await store.update_class("Review", add_fields={"title": FieldType("String")},
                             field_options={"title": FieldOptions(required=True), "stars": FieldOptions()})
    stored = raw["_SCHEMA"].find_one({"_id": "Review"})
    assert stored["title"] == "string"
    assert stored["_metadata"]["fields_options"] == {"status": {"required": False, "defaultValue": "new"},
                                                     "title": {"required": True}}
