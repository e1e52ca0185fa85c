"""Cloud code's LiveQuery hooks over real websockets: before_connect, before_subscribe, after_live_query_event
(per subscriber, without holding up the others) and after_live_query_write (once per write)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livequery.cloud import Cloud, CloudError
from tests.livequery.conftest import LiveServer

GATE = "gate"


@pytest.fixture
def live_cloud() -> Cloud:
    cloud = Cloud()
    cloud.gate = asyncio.Event()  # type: ignore[attr-defined]
    cloud.write_hook_runs = []  # type: ignore[attr-defined]

    @cloud.before_connect()
    def only_known_installations(request: Any) -> None:
        if request.installation_id == "banned":
            raise CloudError("this installation may not connect")

    @cloud.before_subscribe("Post")
    def visible_only(request: Any) -> None:
        if request.query.where.get("secret"):
            raise CloudError(119, "no subscribing to secrets")
        if not request.master:
            request.query.equal_to("visible", True)

    @cloud.after_live_query_event("Message")
    async def per_subscriber(request: Any) -> None:
        reader = request.user["username"] if request.user else None
        if reader == "slow":
            await cloud.gate.wait()  # type: ignore[attr-defined]
        if reader == "muted":
            request.send_event = False
        if reader == "broken":
            raise CloudError("cannot show this")
        if reader != "owner":
            request.object.pop("draft", None)
        request.object["seenBy"] = reader

    @cloud.after_live_query_write("Score")
    def once(request: Any) -> None:
        cloud.write_hook_runs.append(request.object["points"])  # type: ignore[attr-defined]
        if request.object["points"] < 0:
            request.send_event = False
        request.object["label"] = f"{request.object['points']} points"

    return cloud


async def _user_client(live_server: LiveServer, name: str) -> Any:
    user = await live_server.sign_up(name)
    client = await live_server.client(sessionToken=user["sessionToken"])
    assert (await client.receive())["op"] == "connected"
    return client


async def test_before_connect_refuses_with_an_error_frame_and_no_registration(live_server: LiveServer) -> None:
    client = await live_server.client(installationId="banned")
    refused = await client.receive()
    assert refused == {"op": "error", "error": "this installation may not connect", "code": 141,
                       "reconnect": False, "requestId": None}
    await client.send({"op": "subscribe", "requestId": 1, "query": {"className": "Post", "where": {}}})
    assert (await client.receive())["code"] == 2  # not connected
    await client.close()


async def test_before_subscribe_narrows_the_query_and_can_refuse(live_server: LiveServer) -> None:
    client = await live_server.client()
    await client.receive()
    refused = await client.subscribe(1, "Post", {"secret": True})
    assert refused["op"] == "error" and refused["code"] == 119 and refused["requestId"] == 1
    assert (await client.subscribe(2, "Post", {"topic": "news"}))["op"] == "subscribed"
    await live_server.call("POST", "/classes/Post", {"topic": "news", "visible": False})
    await live_server.call("POST", "/classes/Post", {"topic": "news", "visible": True, "n": 1})
    event = await client.receive()
    assert event["op"] == "create" and event["requestId"] == 2 and event["object"]["n"] == 1
    assert await client.nothing_within()
    await client.close()


async def test_after_live_query_event_changes_or_drops_per_subscriber(live_server: LiveServer) -> None:
    owner = await _user_client(live_server, "owner")
    reader = await _user_client(live_server, "reader")
    muted = await _user_client(live_server, "muted")
    broken = await _user_client(live_server, "broken")
    for client in (owner, reader, muted, broken):
        assert (await client.subscribe(1, "Message", {}))["op"] == "subscribed"
    await live_server.call("POST", "/classes/Message", {"text": "hi", "draft": "secret plan"})
    to_owner, to_reader = await owner.receive(), await reader.receive()
    assert to_owner["object"]["draft"] == "secret plan" and to_owner["object"]["seenBy"] == "owner"
    assert "draft" not in to_reader["object"] and to_reader["object"]["seenBy"] == "reader"
    failed = await broken.receive()
    assert failed == {"op": "error", "error": "cannot show this", "code": 141, "reconnect": False, "requestId": 1}
    assert await muted.nothing_within()
    stored = await live_server.call("GET", "/classes/Message")
    assert stored["results"][0]["draft"] == "secret plan" and "seenBy" not in stored["results"][0]


async def test_a_slow_hook_holds_up_only_its_own_subscriber_and_keeps_its_order(
        live_server: LiveServer, live_cloud: Cloud) -> None:
    slow = await _user_client(live_server, "slow")
    fast = await _user_client(live_server, "fast")
    for client in (slow, fast):
        await client.subscribe(1, "Message", {})
        await client.subscribe(2, "Other", {})
    await live_server.call("POST", "/classes/Message", {"text": "first"})
    await live_server.call("POST", "/classes/Other", {"text": "second"})
    assert (await fast.receive())["object"]["text"] == "first"
    assert (await fast.receive())["object"]["text"] == "second"
    assert await slow.nothing_within()  # its hook waits on the gate
    live_cloud.gate.set()  # type: ignore[attr-defined]
    assert (await slow.receive())["object"]["text"] == "first"
    assert (await slow.receive())["object"]["text"] == "second"  # not overtaken by the unhooked event


async def test_after_live_query_write_runs_once_per_write_for_every_subscriber(
        live_server: LiveServer, live_cloud: Cloud) -> None:
    clients = [await _user_client(live_server, f"u{i}") for i in range(3)]
    for client in clients:
        await client.subscribe(1, "Score", {})
    await live_server.call("POST", "/classes/Score", {"points": 3})
    await live_server.call("POST", "/classes/Score", {"points": -1})
    await live_server.call("POST", "/classes/Score", {"points": 5})
    for client in clients:
        assert (await client.receive())["object"]["label"] == "3 points"
        assert (await client.receive())["object"]["label"] == "5 points"  # the dropped one never came
    assert live_cloud.write_hook_runs == [3, -1, 5]  # type: ignore[attr-defined]


async def test_after_live_query_event_and_include_both_apply_to_an_event(live_server: LiveServer) -> None:
    """Our `include` extension with a hook: the hook's changes stay, and the pointers it leaves are included."""
    author = await live_server.call("POST", "/classes/Author", {"name": "Ann"})
    reader = await _user_client(live_server, "reader")
    subscribed = await reader.subscribe(1, "Message", {}, query_extra={"include": ["author"]})
    assert subscribed["op"] == "subscribed"
    await live_server.call("POST", "/classes/Message", {"text": "hi", "draft": "x", "author": {
        "__type": "Pointer", "className": "Author", "objectId": author["objectId"]}})
    event = await reader.receive()
    assert event["object"]["seenBy"] == "reader" and "draft" not in event["object"]
    assert event["object"]["author"]["__type"] == "Object" and event["object"]["author"]["name"] == "Ann"
    await reader.close()
