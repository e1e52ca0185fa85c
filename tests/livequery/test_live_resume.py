"""A LiveQuery client that comes back gets what it missed, then live events, with no gap (livequery/resume.py).

The unchanged SDKs reconnect with a new socket, the same installationId and the same requestIds; the server
recognises that. Each test waits until the server has the client's acknowledgement of what it read (a ping
answered), closes the socket, writes, and reconnects; a fence write at the end shows nothing else arrived.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from livequery.cloud import Cloud
from livequery.protocol import LiveQueryErrorCode
from tests.livequery.conftest import APP_ID, LiveClient, LiveServer, live_settings, serving

ROOM = {"room": "r1"}


@pytest.fixture(params=["alone", "redis"])
async def server(request: pytest.FixtureRequest, tmp_path: Path, test_store: None) -> AsyncIterator[LiveServer]:
    """One process, alone or on Redis (where its subscriptions are shared too: the same behaviour)."""
    redis_url = ""
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_server")
        client = redis.Redis.from_url(redis_url)
        try:  # the records of earlier tests, whose installationIds and requestIds these tests use again
            for key in client.scan_iter(match=f"livequery:departed:{APP_ID}:*"):
                client.delete(key)
        finally:
            client.close()
    async with serving(live_settings(tmp_path, live_ack_seconds=0.05, live_history_events=20,
                                     redis_url=redis_url)) as live:
        yield live


async def acknowledged(server: LiveServer) -> None:
    """Wait until every open client with an installationId (the others are not asked) has acknowledged every
    event dispatched so far."""
    hub = server.app.state.services.hub

    async def poll() -> None:
        while any(client.acked < hub.position for client in hub._clients
                  if client.connection.subscriptions and client.connection.installation_id is not None):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 5)


async def away(server: LiveServer, client: LiveClient) -> None:
    """The client has acknowledged what it read, and its socket is gone (the server saw it go)."""
    await acknowledged(server)
    await client.close()
    await departed(server)


async def departed(server: LiveServer, count: int = 0) -> None:
    """Wait until the server has seen the socket go (only `count` clients left)."""
    hub = server.app.state.services.hub

    async def poll() -> None:
        while hub.client_count > count:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 5)


async def joined(server: LiveServer, installation: str | None = "inst-1", request_id: int = 1,
                 where: dict[str, Any] | None = None, **extra: Any) -> tuple[LiveClient, dict[str, Any]]:
    fields: dict[str, Any] = {"installationId": installation} if installation else {}
    if "sessionToken" in extra:
        fields["sessionToken"] = extra.pop("sessionToken")
    client = await server.client(**fields)
    assert (await client.receive())["op"] == "connected"
    reply = await client.subscribe(request_id, "Chat", ROOM if where is None else where, **extra)
    assert reply["op"] == "subscribed", reply
    return client, reply


async def create(server: LiveServer, **fields: Any) -> str:
    return str((await server.call("POST", "/classes/Chat", fields, master=True))["objectId"])


async def update(server: LiveServer, object_id: str, **fields: Any) -> None:
    await server.call("PUT", f"/classes/Chat/{object_id}", fields, master=True)


async def fence(server: LiveServer) -> str:
    return await create(server, room="r1", text="fence")


def kinds(frames: list[dict[str, Any]]) -> list[tuple[str, str | None, Any]]:
    return [(f["op"], f.get("object", {}).get("objectId"), f.get("object", {}).get("text")) for f in frames]


async def test_a_client_back_on_a_new_socket_gets_each_missed_change_once_then_live_events(
        server: LiveServer) -> None:
    client, _ = await joined(server)
    kept = await create(server, room="r1", text="kept")
    moved = await create(server, room="r1", text="moved")
    gone = await create(server, room="r1", text="gone")
    assert len(await client.frames_before(gone)) == 2
    await away(server, client)

    await update(server, kept, text="edited")
    await update(server, kept, text="edited twice")  # one update, with the latest state
    await update(server, moved, room="r2")  # leaves the query
    await server.call("DELETE", f"/classes/Chat/{gone}", master=True)
    born = await create(server, room="r1", text="born")
    await update(server, born, text="born and edited")  # one create, with the latest state
    brief = await create(server, room="r1", text="brief")
    await server.call("DELETE", f"/classes/Chat/{brief}", master=True)  # never known: nothing
    await create(server, room="r2", text="elsewhere")

    back, _ = await joined(server)
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("update", kept, "edited twice"), ("leave", moved, "moved"),
                             ("delete", gone, "gone"), ("create", born, "born and edited")]
    assert frames[0]["original"]["text"] == "kept" and frames[0]["requestId"] == 1
    assert "position" not in frames[0]  # only for clients that asked (resumeFrom)
    live = await create(server, room="r1", text="live")
    assert kinds([await back.receive()]) == [("create", live, "live")]
    await back.close()


async def test_a_reconnect_while_the_old_socket_still_looks_open_resumes_from_what_it_acknowledged(
        server: LiveServer) -> None:
    """A client whose network dropped: the server has not noticed yet when it comes back."""
    stale, _ = await joined(server)
    first = await create(server, room="r1", text="first")
    assert kinds([await stale.receive()]) == [("create", first, "first")]
    await acknowledged(server)
    stale.socket.transport.pause_reading()  # it reads no more, as if its network were gone
    second = await create(server, room="r1", text="second")

    back, _ = await joined(server)
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("create", second, "second")]
    await back.close()
    stale.socket.transport.abort()


async def test_read_access_revoked_while_away_yields_a_leave_with_the_last_state_they_could_read(
        server: LiveServer) -> None:
    ann, bob = await server.sign_up("ann"), await server.sign_up("bob")
    client, _ = await joined(server, sessionToken=ann["sessionToken"])
    both = {ann["objectId"]: {"read": True}, bob["objectId"]: {"read": True}}
    shared = await create(server, room="r1", text="shared", ACL=both)
    assert kinds([await client.receive()]) == [("create", shared, "shared")]
    await away(server, client)

    await update(server, shared, text="for bob only", ACL={bob["objectId"]: {"read": True}})

    back, _ = await joined(server, sessionToken=ann["sessionToken"])
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("leave", shared, "shared")]
    assert "for bob only" not in str(frames)
    await back.close()


async def test_a_role_lost_while_away_yields_a_leave(server: LiveServer) -> None:
    ann = await server.sign_up("ann")
    me = {"__type": "Pointer", "className": "_User", "objectId": ann["objectId"]}
    role = await server.call("POST", "/roles", {"name": "Readers", "ACL": {"*": {"read": True}},
                                                "users": {"__op": "AddRelation", "objects": [me]}}, master=True)
    client, _ = await joined(server, sessionToken=ann["sessionToken"])
    secret = await create(server, room="r1", text="for readers", ACL={"role:Readers": {"read": True}})
    assert kinds([await client.receive()]) == [("create", secret, "for readers")]
    await away(server, client)

    await server.call("PUT", f"/roles/{role['objectId']}", {
        "users": {"__op": "RemoveRelation", "objects": [me]}}, master=True)
    await update(server, secret, text="still for readers")

    back, _ = await joined(server, sessionToken=ann["sessionToken"])
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("leave", secret, "for readers")]
    await back.close()


async def test_a_client_back_after_more_changes_than_are_kept_is_told_explicitly(server: LiveServer) -> None:
    client, _ = await joined(server)
    await away(server, client)
    for n in range(25):  # the server keeps 20 per class
        await create(server, room="r1", text=f"n{n}")

    back, _ = await joined(server)
    lost = await back.receive()
    assert (lost["op"], lost["code"], lost["reconnect"], lost["requestId"]) == (
        "error", LiveQueryErrorCode.HISTORY_LOST, False, 1)
    live = await create(server, room="r1", text="live")  # and the subscription goes on live
    assert kinds([await back.receive()]) == [("create", live, "live")]
    await back.close()


async def test_another_installation_or_another_query_is_a_new_subscription(server: LiveServer) -> None:
    client, _ = await joined(server)
    await away(server, client)
    await create(server, room="r1", text="missed")

    other, _ = await joined(server, installation="inst-2")
    assert await other.frames_before(await fence(server)) == []
    changed, _ = await joined(server, where={"room": "r1", "text": {"$exists": True}})
    assert await changed.frames_before(await fence(server)) == []
    await other.close()
    await changed.close()


async def test_only_a_client_with_an_installation_id_is_asked_to_acknowledge(server: LiveServer) -> None:
    """Nothing resumes a client without an installationId from what it acknowledged (`resumeFrom` carries its own
    position), so it is spared the ack pings: a round trip each per interval, for nothing."""
    known, _ = await joined(server)
    anonymous, _ = await joined(server, installation=None, request_id=2)
    await create(server, room="r1", text="hello")
    assert (await known.receive())["op"] == "create" and (await anonymous.receive())["op"] == "create"
    await acknowledged(server)  # the client with an installationId answered a ping carrying the position
    hub = server.app.state.services.hub
    acked = {client.connection.installation_id: client.acked for client in hub._clients}
    assert acked["inst-1"] == hub.position and acked[None] == 0
    await asyncio.sleep(0.2)  # four more ack intervals
    assert next(c.acked for c in hub._clients if c.connection.installation_id is None) == 0
    await known.close()
    await anonymous.close()


async def test_resume_from_a_position_on_any_socket(server: LiveServer) -> None:
    client, reply = await joined(server, installation=None, resumeFrom=None)
    assert isinstance(reply["position"], str)
    first = await create(server, room="r1", text="first")
    event = await client.receive()
    assert event["object"]["objectId"] == first and isinstance(event["position"], str)
    await client.close()
    second = await create(server, room="r1", text="second")

    back, _ = await joined(server, installation=None, request_id=7, resumeFrom=event["position"])
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("create", second, "second")] and frames[0]["requestId"] == 7
    assert int(frames[0]["position"].split(".")[1]) > int(event["position"].split(".")[1])
    await back.close()


@pytest.mark.parametrize("token", ["someone-else.12", "garbage", "x.99999999999999999999"])
async def test_resume_from_a_position_the_server_cannot_vouch_for_is_told_explicitly(
        server: LiveServer, token: str) -> None:
    client, _ = await joined(server, installation=None, resumeFrom=token)
    lost = await client.receive()
    assert (lost["op"], lost["code"], lost["reconnect"]) == ("error", LiveQueryErrorCode.HISTORY_LOST, False)
    await client.close()


async def test_sockets_sharing_an_installation_are_never_resumed_past_what_they_read(server: LiveServer) -> None:
    """Browser tabs share an installationId and count requestIds alike: one tab's progress is not another's."""
    tab, other_tab = (await joined(server))[0], (await joined(server))[0]
    first = await create(server, room="r1", text="first")
    for client in (tab, other_tab):
        assert kinds([await client.receive()]) == [("create", first, "first")]
    await acknowledged(server)
    await other_tab.close()
    await departed(server, 1)
    second = await create(server, room="r1", text="second")
    assert kinds([await tab.receive()]) == [("create", second, "second")]
    await acknowledged(server)  # the open tab has read further than the one that went

    back, _ = await joined(server)
    frames = await back.frames_before(await fence(server))
    assert kinds(frames) == [("create", second, "second")]
    await back.close()
    await tab.close()


async def test_without_an_acknowledgement_a_change_may_come_twice_but_a_removal_is_never_lost(
        tmp_path: Path, test_store: None) -> None:
    async with serving(live_settings(tmp_path, live_ack_seconds=3600)) as slow_acks:
        client, _ = await joined(slow_acks)
        shown = await create(slow_acks, room="r1", text="shown")
        kept = await create(slow_acks, room="r1", text="kept")
        assert len(await client.frames_before(kept)) == 1  # both read, neither acknowledged
        await client.close()
        await departed(slow_acks)
        await slow_acks.call("DELETE", f"/classes/Chat/{shown}", master=True)

        back, _ = await joined(slow_acks)
        frames = await back.frames_before(await fence(slow_acks))
        assert kinds(frames) == [("create", kept, "kept"), ("delete", shown, "shown")]
        await back.close()


async def test_a_resumed_client_that_goes_again_before_acknowledging_gets_the_replay_again(
        tmp_path: Path, test_store: None) -> None:
    # A phone that reconnects and loses its network again at once: what it was replayed is not proven read
    async with serving(live_settings(tmp_path, live_ack_seconds=60)) as live:  # no acknowledgement in this test
        client, _ = await joined(live)
        await client.close()
        await departed(live)
        missed = await create(live, room="r1", text="missed")
        back, _ = await joined(live)
        assert kinds(await back.frames_before(await fence(live))) == [("create", missed, "missed")]
        await back.close()
        await departed(live)

        again, _ = await joined(live)
        assert ("create", missed, "missed") in kinds(await again.frames_before(await fence(live)))
        await again.close()


def _cloud_with(coalesce_ms: float | None = None, hooked: bool = False) -> Cloud:
    cloud = Cloud()
    if coalesce_ms is not None:
        cloud.live_query_options("Chat", coalesce_ms=coalesce_ms)
    if hooked:
        @cloud.after_live_query_event("Chat")
        def tag(request: Any) -> None:
            request.object["tagged"] = True
    return cloud


async def test_a_coalesced_update_still_held_back_when_the_socket_went_is_replayed(
        tmp_path: Path, test_store: None) -> None:
    settings = live_settings(tmp_path, live_ack_seconds=0.05)
    async with serving(settings, _cloud_with(coalesce_ms=60_000)) as live:
        client, _ = await joined(live)
        counter = await create(live, room="r1", text="0")
        await update(live, counter, text="1")  # the first update of a quiet object goes out at once
        assert [f["object"]["text"] for f in await client.frames_before(await fence(live))] == ["0", "1"]
        await acknowledged(live)
        await update(live, counter, text="2")  # held back for the rest of the window
        hub = live.app.state.services.hub
        handle = next(iter(hub._clients))
        await asyncio.wait_for(_until(lambda: hub.delivered_position() < hub.position), 5)  # held
        assert handle.unacknowledged() is None  # never acknowledged past what is held back
        await client.close()
        await departed(live)

        back, _ = await joined(live)
        frames = await back.frames_before(await fence(live))
        assert kinds(frames) == [("update", counter, "2")]
        await back.close()


async def test_a_class_with_an_after_live_query_event_hook_is_not_replayed_but_reset(
        tmp_path: Path, test_store: None) -> None:
    async with serving(live_settings(tmp_path, live_ack_seconds=0.05), _cloud_with(hooked=True)) as live:
        client, _ = await joined(live)
        await away(live, client)
        await create(live, room="r1", text="missed")

        back, _ = await joined(live)
        lost = await back.receive()
        assert (lost["op"], lost["code"], lost["requestId"]) == ("error", LiveQueryErrorCode.HISTORY_LOST, 1)
        await back.close()


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.01)
