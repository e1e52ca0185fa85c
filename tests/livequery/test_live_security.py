"""What a LiveQuery subscriber must never learn: other users' objects and sessions, and anyone's credentials.

Each test ends with a fence: a public write the spy sees, so every frame sent before it has been read.
"""
from __future__ import annotations

import json

from tests.livequery.conftest import LiveServer

SYSTEM_CLASSES = ("_User", "_Session", "_Role", "_Installation")


async def _fence(live_server: LiveServer) -> str:
    return str((await live_server.call("POST", "/classes/Fence", {"public": True}, master=True))["objectId"])


async def _ann_lives_a_whole_life(live_server: LiveServer) -> tuple[str, list[str]]:
    """Sign-up, log-in, password change, log-out, role change; returns her objectId and every token she held."""
    ann = await live_server.sign_up("ann")
    ann_id, tokens = ann["objectId"], [ann["sessionToken"]]
    login = await live_server.call("POST", "/login", {"username": "ann", "password": "pw"})
    tokens.append(login["sessionToken"])
    await live_server.call("PUT", f"/users/{ann_id}", {"password": "pw2", "authData": None},
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
    for request_id, class_name in enumerate((*SYSTEM_CLASSES, "Fence"), start=1):
        assert (await spy.subscribe(request_id, class_name, {}))["op"] == "subscribed"
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

