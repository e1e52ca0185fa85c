"""The server takes over a database Parse Server wrote, as it is: the `_SCHEMA`, objects, pointers, ACLs, users
with bcrypt hashes, roles and GridFS files are written here with pymongo in Parse Server's own layout, then read
and used through the REST API.

Always on MongoDB (the session's SecantusDB, or the server in MONGODB_URI), whatever LIVEQUERY_TEST_STORE says.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import gridfs
import httpx
import pymongo
import pytest

from api.app import create_app
from tests.api.conftest import APP_ID, ParseClient, make_settings
from tests.storage.mongo_server import fresh_database

CREATED = datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
UPDATED = datetime(2022, 6, 7, 8, 9, 10, 120000, tzinfo=UTC)
PUBLISHED = datetime(2021, 1, 1, 0, 0, 0, 0, tzinfo=UTC)
CREATED_ISO, UPDATED_ISO = "2021-03-04T05:06:07.890Z", "2022-06-07T08:09:10.120Z"
ALICE_PASSWORD, BOB_PASSWORD = "old password of alice", "bob's old password"

# parse-server's defaultCLPS, as it stores them for a class created without explicit permissions
OPEN = {"find": {"*": True}, "count": {"*": True}, "get": {"*": True}, "create": {"*": True},
        "update": {"*": True}, "delete": {"*": True}, "addField": {"*": True}, "protectedFields": {"*": []}}
EDITORS_WRITE = {"find": {"*": True}, "count": {"*": True}, "get": {"*": True}, "create": {"role:editors": True},
                 "update": {"role:editors": True}, "delete": {"role:editors": True}, "addField": {},
                 "protectedFields": {"*": []}}


def ptr(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def legacy_acl(read: list[str], write: list[str]) -> dict[str, dict[str, bool]]:
    acl: dict[str, dict[str, bool]] = {key: {"w": True} for key in write}
    for key in read:
        acl.setdefault(key, {})["r"] = True
    return acl


def stored(object_id: str, read: list[str], write: list[str], **fields: Any) -> dict[str, Any]:
    """An object as parse-server 7 stores it: `_id`, BSON dates, `_rperm`/`_wperm` and the legacy `_acl`."""
    return {"_id": object_id, "_created_at": CREATED, "_updated_at": UPDATED, **fields,
            "_rperm": read, "_wperm": write, "_acl": legacy_acl(read, write)}


def bcrypt_hash(password: str) -> str:
    # parse-server hashes with bcryptjs: `$2a$` or `$2b$`, cost 10; cost 4 keeps the test fast
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()


def write_parse_server_app(db: Any) -> None:
    """A small blog, as parse-server 7 leaves it in MongoDB: alice owns a private draft, bob is an editor."""
    db["_SCHEMA"].insert_many([
        # no `_metadata`: parse-server created the class itself (its default CLPs are not stored)
        {"_id": "_User", "objectId": "string", "updatedAt": "date", "createdAt": "date", "username": "string",
         "email": "string", "emailVerified": "boolean", "authData": "object", "_hashed_password": "string",
         "_rperm": "array", "_wperm": "array", "nickname": "string"},
        {"_id": "_Role", "objectId": "string", "updatedAt": "date", "createdAt": "date", "name": "string",
         "users": "relation<_User>", "roles": "relation<_Role>", "_rperm": "array", "_wperm": "array",
         "_metadata": {"class_permissions": OPEN}},
        {"_id": "_Session", "objectId": "string", "updatedAt": "date", "createdAt": "date",
         "sessionToken": "string", "user": "*_User", "createdWith": "object", "installationId": "string",
         "expiresAt": "date", "restricted": "boolean", "_rperm": "array", "_wperm": "array"},
        {"_id": "Category", "objectId": "string", "updatedAt": "date", "createdAt": "date", "name": "string",
         "_rperm": "array", "_wperm": "array", "_metadata": {"class_permissions": OPEN}},
        {"_id": "Post", "objectId": "string", "updatedAt": "date", "createdAt": "date", "title": "string",
         "author": "*_User", "category": "*Category", "tags": "array", "publishedAt": "date",
         "_rperm": "array", "_wperm": "array",
         "_metadata": {"class_permissions": EDITORS_WRITE, "indexes": {"_id_": {"_id": 1}}}},
    ])
    # the indexes parse-server creates at start-up
    db["_User"].create_index([("username", 1)], name="username_1", unique=True, sparse=True)
    db["_User"].create_index([("email", 1)], name="email_1", unique=True, sparse=True)
    db["_User"].create_index([("username", 1)], name="case_insensitive_username",
                             collation={"locale": "en_US", "strength": 2})
    db["_Role"].create_index([("name", 1)], name="name_1", unique=True, sparse=True)

    db["_User"].insert_many([
        stored("u1alice", ["*", "u1alice"], ["u1alice"], username="alice", email="alice@example.com",
               emailVerified=True, nickname="Al", _hashed_password=bcrypt_hash(ALICE_PASSWORD)),
        stored("u2bob", ["*", "u2bob"], ["u2bob"], username="bob", email="bob@example.com",
               _hashed_password=bcrypt_hash(BOB_PASSWORD)),
    ])
    db["_Role"].insert_one(stored("r1editors", ["*"], [], name="editors"))
    db["_Join:users:_Role"].insert_one({"owningId": "r1editors", "relatedId": "u2bob"})  # bob is an editor
    db["Category"].insert_one(stored("c1news", ["*"], [], name="News"))
    db["Post"].insert_many([
        stored("p1public", ["*"], ["u1alice"], title="Hello", _p_author="_User$u1alice",
               _p_category="Category$c1news", tags=["intro"], publishedAt=PUBLISHED),
        stored("p2draft", ["u1alice"], ["u1alice"], title="Alice's draft", _p_author="_User$u1alice"),
        stored("p3review", ["role:editors"], ["role:editors"], title="For editors", _p_author="_User$u1alice"),
    ])


@pytest.fixture
def database_uri() -> Iterator[str]:
    with fresh_database() as uri:
        yield uri


@pytest.fixture
def raw(database_uri: str) -> Iterator[Any]:
    client: pymongo.MongoClient = pymongo.MongoClient(database_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()
    finally:
        client.close()


@asynccontextmanager
async def serving(database_uri: str, tmp_path: Path) -> AsyncIterator[ParseClient]:
    """The real app, started on the database as parse-server left it."""
    application = create_app(make_settings(tmp_path, database_uri=database_uri, allow_client_class_creation=False))
    await application.state.services.start()
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield ParseClient(http)
    finally:
        await application.state.services.stop()


@pytest.fixture
async def parse_app(raw: Any, database_uri: str, tmp_path: Path) -> AsyncIterator[ParseClient]:
    write_parse_server_app(raw)
    async with serving(database_uri, tmp_path) as client:
        yield client


async def log_in(client: ParseClient, username: str, password: str) -> str:
    response = await client.request("POST", "/login", {"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["sessionToken"])


async def titles(client: ParseClient, session: str | None = None) -> set[str]:
    response = await client.request("GET", "/classes/Post", session=session)
    assert response.status_code == 200, response.text
    return {post["title"] for post in response.json()["results"]}


async def test_objects_and_pointers_read_in_parse_rest_form(parse_app: ParseClient) -> None:
    response = await parse_app.request("GET", "/classes/Post/p1public")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "objectId": "p1public", "createdAt": CREATED_ISO, "updatedAt": UPDATED_ISO, "title": "Hello",
        "author": ptr("_User", "u1alice"), "category": ptr("Category", "c1news"), "tags": ["intro"],
        "publishedAt": {"__type": "Date", "iso": "2021-01-01T00:00:00.000Z"},
        "ACL": {"*": {"read": True}, "u1alice": {"write": True}}}
    by_pointer = await parse_app.find("Post", where={"author": ptr("_User", "u1alice")})
    assert [post["objectId"] for post in by_pointer] == ["p1public"]
    by_date = await parse_app.find("Post", where={"createdAt": {"$lt": {"__type": "Date", "iso": UPDATED_ISO}}})
    assert [post["objectId"] for post in by_date] == ["p1public"]


async def test_the_schema_reads_as_parse_server_wrote_it(parse_app: ParseClient) -> None:
    response = await parse_app.request("GET", "/schemas/Post", master=True)
    assert response.status_code == 200, response.text
    schema = response.json()
    assert schema["fields"]["author"] == {"type": "Pointer", "targetClass": "_User"}
    assert schema["fields"]["category"] == {"type": "Pointer", "targetClass": "Category"}
    assert schema["fields"]["publishedAt"] == {"type": "Date"}
    assert not any(name.startswith("_") for name in schema["fields"])
    assert schema["classLevelPermissions"]["create"] == {"role:editors": True}


async def test_include_expands_pointers_to_the_objects(parse_app: ParseClient) -> None:
    [post] = await parse_app.find("Post", include="author,category")
    assert post["category"] == {"__type": "Object", "className": "Category", "objectId": "c1news", "name": "News",
                                "createdAt": CREATED_ISO, "updatedAt": UPDATED_ISO, "ACL": {"*": {"read": True}}}
    author = post["author"]
    assert author["__type"] == "Object" and author["className"] == "_User" and author["objectId"] == "u1alice"
    assert author["username"] == "alice" and author["nickname"] == "Al"
    assert not any(key.startswith("_") for key in author if key != "__type")
    assert "password" not in author and "email" not in author  # parse-server's default protectedFields


async def test_a_private_object_is_hidden_from_anonymous_and_shown_to_its_owner(parse_app: ParseClient) -> None:
    assert await titles(parse_app) == {"Hello"}
    hidden = await parse_app.request("GET", "/classes/Post/p2draft")
    assert hidden.status_code == 404 and hidden.json()["code"] == 101
    alice = await log_in(parse_app, "alice", ALICE_PASSWORD)
    assert await titles(parse_app, alice) == {"Hello", "Alice's draft"}
    mine = await parse_app.request("GET", "/classes/Post/p2draft", session=alice)
    assert mine.status_code == 200 and mine.json()["ACL"] == {"u1alice": {"read": True, "write": True}}
    bob = await log_in(parse_app, "bob", BOB_PASSWORD)
    assert (await parse_app.request("GET", "/classes/Post/p2draft", session=bob)).status_code == 404


async def test_a_user_logs_in_with_the_old_password_and_the_hash_becomes_argon2id(parse_app: ParseClient,
                                                                                  raw: Any) -> None:
    wrong = await parse_app.request("POST", "/login", {"username": "alice", "password": "not it"})
    assert wrong.status_code == 404 and wrong.json()["code"] == 101
    assert raw["_User"].find_one({"_id": "u1alice"})["_hashed_password"].startswith("$2a$")
    response = await parse_app.request("POST", "/login", {"username": "alice", "password": ALICE_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["objectId"] == "u1alice" and body["username"] == "alice" and body["sessionToken"].startswith("r:")
    user = raw["_User"].find_one({"_id": "u1alice"})
    assert user["_hashed_password"].startswith("$argon2id$") and "password" not in user
    assert user["_updated_at"] == UPDATED  # rehashing is no change of the user's
    session = raw["_Session"].find_one({"_session_token": body["sessionToken"]})
    assert session["_p_user"] == "_User$u1alice" and isinstance(session["expiresAt"], datetime)
    assert await log_in(parse_app, "alice", ALICE_PASSWORD)  # and again, now against the argon2id hash
    me = await parse_app.request("GET", "/users/me", session=body["sessionToken"])
    assert me.json()["email"] == "alice@example.com"


async def test_a_role_member_sees_the_role_protected_objects(parse_app: ParseClient) -> None:
    alice = await log_in(parse_app, "alice", ALICE_PASSWORD)
    bob = await log_in(parse_app, "bob", BOB_PASSWORD)
    assert await titles(parse_app, bob) == {"Hello", "For editors"}
    assert "For editors" not in await titles(parse_app, alice)
    role = await parse_app.request("GET", "/roles/r1editors")
    assert role.json()["name"] == "editors" and role.json()["users"] == {"__type": "Relation", "className": "_User"}
    members = await parse_app.find("_User", where={"$relatedTo": {"object": ptr("_Role", "r1editors"),
                                                                  "key": "users"}}, master=True)
    assert [user["username"] for user in members] == ["bob"]


async def test_class_level_permissions_hold_and_new_objects_keep_parse_server_layout(parse_app: ParseClient,
                                                                                     raw: Any) -> None:
    alice = await log_in(parse_app, "alice", ALICE_PASSWORD)
    bob = await log_in(parse_app, "bob", BOB_PASSWORD)
    refused = await parse_app.request("POST", "/classes/Post", {"title": "x"}, session=alice)
    assert refused.json() == {"code": 119, "error": "Permission denied for action create on class Post."}
    no_new_field = await parse_app.request("POST", "/classes/Post", {"title": "x", "mood": "up"}, session=bob)
    assert no_new_field.json()["code"] == 119
    created = await parse_app.create("Post", {"title": "Bob's", "author": ptr("_User", "u2bob"),
                                              "ACL": {"u2bob": {"read": True, "write": True}}}, session=bob)
    document = raw["Post"].find_one({"_id": created["objectId"]})
    assert document["_p_author"] == "_User$u2bob" and "author" not in document
    assert isinstance(document["_created_at"], datetime) and isinstance(document["_updated_at"], datetime)
    assert document["_rperm"] == ["u2bob"] and document["_wperm"] == ["u2bob"]
    assert document["_acl"] == {"u2bob": {"r": True, "w": True}}
    updated = await parse_app.request("PUT", "/classes/Post/p3review", {"title": "Reviewed"}, session=bob)
    assert updated.status_code == 200, updated.text
    assert raw["Post"].find_one({"_id": "p3review"})["title"] == "Reviewed"


async def test_a_session_parse_server_issued_stays_valid(raw: Any, database_uri: str, tmp_path: Path) -> None:
    write_parse_server_app(raw)
    token = "r:" + "5e" * 16
    raw["_Session"].insert_one(stored(
        "s1alice", ["u1alice"], ["u1alice"], _session_token=token, _p_user="_User$u1alice",
        createdWith={"action": "login", "authProvider": "password"}, restricted=False, installationId="i1",
        expiresAt=datetime.now(UTC) + timedelta(days=30)))
    async with serving(database_uri, tmp_path) as client:
        me = await client.request("GET", "/users/me", session=token)
        assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["sessionToken"] == token
        assert await titles(client, token) == {"Hello", "Alice's draft"}
        [session] = (await client.request("GET", "/sessions", session=token)).json()["results"]
        assert session["objectId"] == "s1alice" and session["user"] == ptr("_User", "u1alice")


async def test_the_config_parse_server_stored_is_read_and_updated(raw: Any, database_uri: str,
                                                                  tmp_path: Path) -> None:
    write_parse_server_app(raw)
    raw["_GlobalConfig"].insert_one({"_id": "1", "params": {"greeting": "hi"}, "masterKeyOnly": {}})
    async with serving(database_uri, tmp_path) as client:
        assert (await client.request("GET", "/config")).json() == {"params": {"greeting": "hi"}}
        put = await client.request("PUT", "/config", {"params": {"more": 1}}, master=True)
        assert put.json() == {"result": True}
        assert raw["_GlobalConfig"].find_one({"_id": "1"})["params"] == {"greeting": "hi", "more": 1}


async def test_emails_stay_hidden_when_the_user_class_has_stored_permissions(raw: Any, database_uri: str,
                                                                             tmp_path: Path) -> None:
    write_parse_server_app(raw)
    raw["_SCHEMA"].update_one({"_id": "_User"}, {"$set": {"_metadata": {"class_permissions": OPEN}}})
    async with serving(database_uri, tmp_path) as client:
        [alice] = await client.find("_User", where={"username": "alice"})
        assert alice["username"] == "alice" and "email" not in alice


# --- files: GridFS documents written as Parse Server's GridFSBucketAdapter writes them ----------------------------

@pytest.fixture
async def client(database_uri: str, tmp_path: Path) -> AsyncIterator[ParseClient]:
    async with serving(database_uri, tmp_path) as parse_client:
        yield parse_client


def parse_server_upload(db: Any, name: str, data: bytes, metadata: dict[str, Any] | None = None) -> None:
    """What GridFSBucketAdapter.createFile does: the default bucket, `openUploadStream(name, {metadata})`."""
    gridfs.GridFSBucket(db).upload_from_stream(name, data, metadata=metadata or {})


async def test_a_file_parse_server_stored_in_gridfs_downloads_through_our_url(raw: Any, client: ParseClient) -> None:
    data = os.urandom(600_000)  # three GridFS chunks
    name = "d41d8cd98f00b204e9800998ecf8427e_scan.pdf"
    parse_server_upload(raw, name, data, {"owner": "u1"})
    raw["Booking"].insert_one({"_id": "b1", "_created_at": datetime.now(UTC), "_updated_at": datetime.now(UTC),
                               "document": name})
    raw["_SCHEMA"].insert_one({"_id": "Booking", "objectId": "string", "updatedAt": "date", "createdAt": "date",
                               "document": "file"})
    booking = (await client.request("GET", "/classes/Booking/b1", master=True)).json()
    url = booking["document"]["url"]
    assert booking["document"]["name"] == name and url.endswith(f"/files/{APP_ID}/{name}")
    got = await client.http.get(url.replace("http://127.0.0.1:1337", ""))
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    part = await client.http.get(url.replace("http://127.0.0.1:1337", ""), headers={"Range": "bytes=261000-261200"})
    assert part.status_code == 206 and part.content == data[261000:261201]
    meta = await client.http.get(f"/parse/files/{APP_ID}/metadata/{name}")
    assert meta.json() == {"metadata": {"owner": "u1"}}


async def test_the_newest_revision_of_a_name_is_served_as_parse_server_reads_it(raw: Any,
                                                                                client: ParseClient) -> None:
    parse_server_upload(raw, "same.txt", b"old")
    parse_server_upload(raw, "same.txt", b"new")
    assert (await client.http.get(f"/parse/files/{APP_ID}/same.txt")).content == b"new"
    deleted = await client.http.delete("/parse/files/same.txt", headers=client.headers(master=True))
    assert deleted.status_code == 200 and raw["fs.files"].count_documents({"filename": "same.txt"}) == 0


async def test_a_file_uploaded_here_is_in_parse_servers_layout(raw: Any, client: ParseClient) -> None:
    data = b"written here, read by Parse Server"
    response = await client.http.post("/parse/files/note.txt", content=data,
                                      headers=client.headers(master=True, **{"Content-Type": "text/plain"}))
    name = response.json()["name"]
    [document] = list(raw["fs.files"].find({"filename": name}))
    assert document["length"] == len(data) and document["metadata"] == {}
    assert isinstance(document["uploadDate"], datetime) and document["chunkSize"] == 255 * 1024
    assert gridfs.GridFSBucket(raw).open_download_stream_by_name(name).read() == data
