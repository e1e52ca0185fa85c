"""What a LiveQuery subscriber must never learn: other users' objects and sessions, and anyone's credentials.

Each test ends with a fence: a public write the spy sees, so every frame sent before it has been read.
"""
from __future__ import annotations

import json
from pathlib import Path

from api.live import build_hub
from api.settings import Settings
from auth.roles import RoleResolver
from auth.sessions import SessionStore
from livequery.bus import ChangeEvent
from storage.schema_cache import SchemaCache
from storage.sqlite import SqliteAdapter
from tests.livequery.conftest import LiveServer



async def _fence(live_server: LiveServer) -> str:
    return str((await live_server.call("POST", "/classes/Fence", {"public": True}, master=True))["objectId"])


async def _ann_lives_a_whole_life(live_server: LiveServer) -> tuple[str, list[str]]:
    """Sign-up, log-in, password change, log-out, role change; returns her objectId and every token she held."""
    ann = await live_server.sign_up("ann")
    ann_id, tokens = ann["objectId"], [ann["sessionToken"]]
    login = await live_server.call("POST", "/login", {"username": "ann", "password": "pw"})
    tokens.append(login["sessionToken"])
    await live_server.call("PUT", f"/users/{ann_id}", {"password": "pw2"},
                           session=login["sessionToken"])
    await live_server.call("POST", "/logout", {}, session=login["sessionToken"])
    again = await live_server.call("POST", "/login", {"username": "ann", "password": "pw2"})
    tokens.append(again["sessionToken"])
    me = {"__type": "Pointer", "className": "_User", "objectId": ann_id}
    role = await live_server.call("POST", "/roles", {
        "name": "AnnsTeam", "ACL": {ann_id: {"read": True}},
        "users": {"__op": "AddRelation", "objects": [me]}}, master=True)
    await live_server.call("PUT", f"/roles/{role['objectId']}", {
        "users": {"__op": "RemoveRelation", "objects": [me]}}, master=True)
    return ann_id, tokens


async def test_a_subscriber_to_every_system_class_learns_nothing_of_another_users_life(
        live_server: LiveServer) -> None:
    bob = await live_server.sign_up("bob")
    spy = await live_server.client(sessionToken=bob["sessionToken"])
    await spy.receive()
    for request_id, class_name in enumerate(("_User", "_Session", "_Role", "Fence"), start=1):
        assert (await spy.subscribe(request_id, class_name, {}))["op"] == "subscribed"
    refused = await spy.subscribe(9, "_Installation", {})  # clients may not list installations, live or not
    assert (refused["op"], refused["code"], refused["requestId"]) == ("error", 119, 9)
    ann_id, tokens = await _ann_lives_a_whole_life(live_server)
    frames = await spy.frames_before(await _fence(live_server))
    assert frames == []
    text = json.dumps(frames)
    assert ann_id not in text and not any(token in text for token in tokens)
    await spy.close()


async def test_a_user_watching_their_own_user_and_sessions_never_receives_a_credential(
        live_server: LiveServer) -> None:
    ann = await live_server.sign_up("ann")
    watcher = await live_server.client(sessionToken=ann["sessionToken"])
    await watcher.receive()
    for request_id, class_name in enumerate(("_User", "_Session", "Fence"), start=1):
        await watcher.subscribe(request_id, class_name, {})
    await live_server.call("PUT", f"/users/{ann['objectId']}", {
        "nickname": "a", "authData": {"anonymous": {"id": "ann-device-1"}}}, session=ann["sessionToken"])
    other = await live_server.call("POST", "/login", {"username": "ann", "password": "pw"})
    await live_server.call("PUT", f"/users/{ann['objectId']}", {"password": "pw2"}, session=ann["sessionToken"])
    await live_server.call("POST", "/logout", {}, session=ann["sessionToken"])
    frames = await watcher.frames_before(await _fence(live_server))
    assert frames, "ann sees her own user changing"
    for frame in frames:
        for state in (frame.get("object", {}), frame.get("original", {})):
            assert not any(key.startswith("_") or key in ("sessionToken", "password", "authData") for key in state)
    text = json.dumps(frames)
    assert ann["sessionToken"] not in text and other["sessionToken"] not in text and "ann-device-1" not in text
    await watcher.close()


async def test_a_password_change_tells_no_subscriber_about_the_kept_session(live_server: LiveServer) -> None:
    """The bus notice that ends a user's other sessions is for the servers, never for subscribers."""
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    watchers = [await live_server.client(sessionToken=user["sessionToken"]) for user in (ann, bob)]
    for watcher in watchers:
        await watcher.receive()
        await watcher.subscribe(1, "_Session", {})
        await watcher.subscribe(2, "Fence", {})
    await live_server.call("PUT", f"/users/{ann['objectId']}", {"password": "new"}, session=ann["sessionToken"])
    assert (await live_server.call("GET", "/users/me", session=ann["sessionToken"]))["username"] == "ann"
    fence = await _fence(live_server)
    for watcher in watchers:
        assert await watcher.frames_before(fence) == []
        await watcher.close()



async def _protect_secret(live_server: LiveServer, **clp: object) -> None:
    await live_server.call("POST", "/schemas/Vault", {"fields": {"secret": {"type": "String"}},
                                                      "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True},
        "protectedFields": {"*": ["secret"]}, **clp}}, master=True)


async def test_a_where_or_watch_on_a_protected_field_is_refused_with_119(live_server: LiveServer) -> None:
    await _protect_secret(live_server)
    client = await live_server.client()
    await client.receive()
    for request_id, (where, extra) in enumerate([
            ({"secret": {"$regex": "^s3"}}, {}),
            ({"$or": [{"name": "a"}, {"secret": "x"}]}, {}),
            ({}, {"query_extra": {"watch": ["secret"]}})], start=1):
        refused = await client.subscribe(request_id, "Vault", where, **extra)
        assert refused["op"] == "error" and refused["code"] == 119 and refused["requestId"] == request_id
        assert refused["error"] == "This user is not allowed to query secret on class Vault"
    assert (await client.subscribe(9, "Vault", {}))["op"] == "subscribed"
    vault = await live_server.call("POST", "/classes/Vault", {"secret": "s3cr3t", "name": "v"})
    event = await client.receive()
    assert event["requestId"] == 9 and event["object"]["objectId"] == vault["objectId"]
    assert "secret" not in event["object"]  # only the plain subscription got it, without the secret
    master = await live_server.client(masterKey="lq-master")
    await master.receive()
    assert (await master.subscribe(1, "Vault", {"secret": {"$regex": "^s3"}}))["op"] == "subscribed"
    for socket in (client, master):
        await socket.close()


async def test_class_level_find_permission_is_checked_at_subscribe(live_server: LiveServer) -> None:
    await live_server.call("POST", "/schemas/Members", {"classLevelPermissions": {
        "find": {"requiresAuthentication": True}, "create": {"*": True}}}, master=True)
    await live_server.call("POST", "/schemas/Audit", {"classLevelPermissions": {"find": {}, "create": {"*": True}}},
                           master=True)
    bob = await live_server.sign_up("bob")
    anonymous = await live_server.client()
    signed_in = await live_server.client(sessionToken=bob["sessionToken"])
    master = await live_server.client(masterKey="lq-master")
    for socket in (anonymous, signed_in, master):
        await socket.receive()
    refused = await anonymous.subscribe(4, "Members", {})
    assert (refused["op"], refused["code"], refused["requestId"]) == ("error", 101, 4)
    assert (await signed_in.subscribe(4, "Members", {}))["op"] == "subscribed"
    for socket in (anonymous, signed_in):
        refused = await socket.subscribe(5, "Audit", {})
        assert (refused["op"], refused["code"], refused["requestId"]) == ("error", 119, 5)
    assert (await master.subscribe(5, "Audit", {}))["op"] == "subscribed"
    for socket in (anonymous, signed_in, master):
        await socket.close()


async def test_acl_driven_enter_and_leave_show_only_states_the_subscriber_could_read(
        live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    spy = await live_server.client(sessionToken=bob["sessionToken"])
    await spy.receive()
    await spy.subscribe(1, "Note", {"room": "r1"})
    note = await live_server.call("POST", "/classes/Note", {"room": "r1", "text": "hello"},
                                  session=ann["sessionToken"])
    assert (await spy.receive())["op"] == "create"
    path = f"/classes/Note/{note['objectId']}"
    private = {ann["objectId"]: {"read": True, "write": True}}
    await live_server.call("PUT", path, {"text": "private plans", "ACL": private}, session=ann["sessionToken"])
    left = await spy.receive()
    assert left["op"] == "leave" and left["object"]["text"] == "hello" and left["original"]["text"] == "hello"
    await live_server.call("PUT", path, {"text": "more private plans"}, session=ann["sessionToken"])
    await live_server.call("PUT", path, {"text": "public again", "ACL": {"*": {"read": True}}},
                           session=ann["sessionToken"])
    entered = await spy.receive()
    assert entered["op"] == "enter" and entered["object"]["text"] == "public again" and "original" not in entered
    assert "private" not in json.dumps([left, entered])
    await spy.close()


async def test_protected_fields_are_hidden_in_object_and_original(live_server: LiveServer) -> None:
    await _protect_secret(live_server)
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Vault", {"name": "v"})
    vault = await live_server.call("POST", "/classes/Vault", {"secret": "one", "name": "v"})
    await client.receive()
    await live_server.call("PUT", f"/classes/Vault/{vault['objectId']}", {"secret": "two", "name": "w"})
    left = await client.receive()
    assert left["op"] == "leave" and "secret" not in left["object"] and "secret" not in left["original"]
    await live_server.call("PUT", f"/classes/Vault/{vault['objectId']}", {"secret": "three", "name": "v"})
    entered = await client.receive()
    assert entered["op"] == "enter" and "secret" not in entered["object"] and "secret" not in entered["original"]
    await client.close()


async def test_a_role_change_ends_delivery_of_role_protected_objects_at_once(live_server: LiveServer) -> None:
    bob = await live_server.sign_up("bob")
    member = {"__type": "Pointer", "className": "_User", "objectId": bob["objectId"]}
    role = await live_server.call("POST", "/roles", {"name": "Staff", "ACL": {"*": {"read": True}}, "users": {
        "__op": "AddRelation", "objects": [member]}}, master=True)
    client = await live_server.client(sessionToken=bob["sessionToken"])
    await client.receive()
    await client.subscribe(1, "Note", {})
    staff_only = {"role:Staff": {"read": True}}
    await live_server.call("POST", "/classes/Note", {"text": "for staff", "ACL": staff_only}, master=True)
    assert (await client.receive())["object"]["text"] == "for staff"
    await live_server.call("PUT", f"/roles/{role['objectId']}", {"users": {
        "__op": "RemoveRelation", "objects": [member]}}, master=True)
    await live_server.call("POST", "/classes/Note", {"text": "staff secret", "ACL": staff_only}, master=True)
    fence = await live_server.call("POST", "/classes/Note", {"text": "public"}, master=True)
    assert await client.frames_before(fence["objectId"]) == []
    await client.close()


async def test_a_user_email_stays_hidden_even_before_the_user_schema_is_cached(tmp_path: Path) -> None:
    """The hub reads schemas from the cache only; with none cached, the default rules still hide emails."""
    store = SqliteAdapter(str(tmp_path / "empty.db"))
    await store.open()
    try:
        schemas = SchemaCache(store)
        hub = build_hub(Settings(app_id="app", master_key="mk"), schemas, SessionStore(store, RoleResolver(store)))
        assert schemas.cached("_User") is None
        handle = hub.connect(_never_sent)
        await handle.receive(json.dumps({"op": "connect", "applicationId": "app"}))
        await handle.receive(json.dumps({"op": "subscribe", "requestId": 1,
                                         "query": {"className": "_User", "where": {}}}))
        hub.dispatch(ChangeEvent("_User", "create", {"objectId": "u1", "username": "ann", "email": "a@x.io",
                                                     "_rperm": ["*"], "ACL": {"*": {"read": True}}}))
        frames = [json.loads(handle.outbox.get_nowait()) for _ in range(handle.outbox.qsize())]
        [event] = [frame for frame in frames if frame["op"] == "create"]
        assert event["object"]["username"] == "ann" and "email" not in event["object"]
        handle.close()
    finally:
        await store.close()


async def _never_sent(frame: bytes) -> None:
    raise AssertionError("the outbox is read directly")
