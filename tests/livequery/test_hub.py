"""The hub end to end with the in-process MemoryBus and fake sockets that collect the bytes they are sent."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from auth.principal import Principal
from livequery.bus import ChangeEvent
from livequery.bus.memory import MemoryBus
from livequery.connection import ConfiguredKeys
from livequery.hub import TOO_SLOW, Close, Hub

ANN = Principal(user_id="ann", session_token="t-ann")
BOB = Principal(user_id="bob", session_token="t-bob")
CARL = Principal(user_id="carl", session_token="t-carl", roles=frozenset({"Staff"}))


class DictSessions:
    """A dict-backed session resolver: token -> principal."""

    def __init__(self, sessions: dict[str, Principal]) -> None:
        self.sessions = sessions

    async def __call__(self, token: str) -> Principal | None:
        return self.sessions.get(token)


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


class FakeSocket:
    """A client socket: collects what the hub sends; `blocked` ones never finish a send (a peer not reading)."""

    def __init__(self, hub: Hub, *, blocked: bool = False) -> None:
        self.received: list[bytes] = []
        self.gate = asyncio.Event()
        if not blocked:
            self.gate.set()
        self.handle = hub.connect(self.send)
        self.pump: asyncio.Task[Close] = asyncio.create_task(self.handle.pump())

    async def send(self, data: bytes) -> None:
        await self.gate.wait()
        self.received.append(data)

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(data) for data in self.received]

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames() if f["op"] in ("create", "enter", "update", "leave", "delete")]

    def ops(self) -> list[str]:
        return [f["op"] for f in self.events()]

    async def subscribe(self, where: dict[str, Any], *, request_id: int = 1, class_name: str = "Msg",
                        **extra: Any) -> None:
        query = {"className": class_name, "where": where, **extra.pop("query", {})}
        await self.handle.receive(json.dumps({"op": "subscribe", "requestId": request_id, "query": query, **extra}))


class Harness:
    def __init__(self, **hub_options: Any) -> None:
        self.bus = MemoryBus()
        self.sessions = DictSessions({p.session_token: p for p in (ANN, BOB, CARL)})  # type: ignore[misc]
        self.hub = Hub(check_keys=ConfiguredKeys("app", master_key="mk"), resolve_session=self.sessions,
                       **hub_options)
        self.sockets: list[FakeSocket] = []
        self.published = 0

    async def start(self) -> None:
        self.task = asyncio.create_task(self.hub.run(self.bus))
        while self.hub.events_seen == 0:  # until the hub is subscribed to the bus
            await self.bus.publish(ChangeEvent("_Probe", "create", {"objectId": "p"}))
            await asyncio.sleep(0.001)
        self.published = self.hub.events_seen

    async def client(self, *, blocked: bool = False, **connect: Any) -> FakeSocket:
        socket = FakeSocket(self.hub, blocked=blocked)
        self.sockets.append(socket)
        await socket.handle.receive(json.dumps({"op": "connect", "applicationId": "app", **connect}))
        return socket

    async def publish(self, kind: str, obj: dict[str, Any], original: dict[str, Any] | None = None,
                      class_name: str = "Msg") -> None:
        """Publish one write and wait until the hub has handled it and every open socket has been written."""
        await self.bus.publish(ChangeEvent(class_name, kind, obj, original))  # type: ignore[arg-type]
        self.published += 1
        await eventually(lambda: self.hub.events_seen >= self.published)
        await eventually(lambda: all(s.handle.outbox.empty() for s in self.sockets
                                     if s.gate.is_set() and not s.handle.closed))
        await asyncio.sleep(0)

    async def stop(self) -> None:
        self.task.cancel()
        for socket in self.sockets:
            socket.handle.close()
        await asyncio.gather(self.task, *(s.pump for s in self.sockets), return_exceptions=True)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.start()
    yield h
    await h.stop()


def msg(object_id: str = "m1", *, room: str = "r1", acl: Mapping[str, Any] | None = None,
        **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"objectId": object_id, "createdAt": "2024-01-01T00:00:00.000Z",
                           "updatedAt": "2024-01-01T00:00:00.000Z", "room": room, **fields}
    if acl is not None:
        doc["ACL"] = dict(acl)
        doc["_rperm"] = [k for k, v in acl.items() if v.get("read")]
        doc["_wperm"] = [k for k, v in acl.items() if v.get("write")]
    return doc


PRIVATE_TO_ANN = {"ann": {"read": True, "write": True}}


async def test_a_subscriber_sees_create_update_leave_enter_and_delete(harness: Harness) -> None:
    ann = await harness.client(installationId="inst")
    await ann.subscribe({"room": "r1"}, request_id=3)
    await harness.publish("create", msg(text="hi"))
    await harness.publish("update", msg(text="edited"), msg(text="hi"))
    await harness.publish("update", msg(room="r2", text="moved"), msg(text="edited"))
    await harness.publish("update", msg(room="r1", text="back"), msg(room="r2", text="moved"))
    await harness.publish("create", msg("m2", room="r2"))
    await harness.publish("delete", msg(text="back"))
    assert ann.ops() == ["create", "update", "leave", "enter", "delete"]
    client_id = ann.frames()[0]["clientId"]
    create, update, leave, enter, delete = ann.events()
    assert create == {"op": "create", "clientId": client_id, "installationId": "inst", "requestId": 3,
                      "object": {"className": "Msg", **msg(text="hi")}}
    assert update["object"]["text"] == "edited" and update["original"]["text"] == "hi"
    assert leave["object"]["room"] == "r2" and leave["original"]["room"] == "r1"
    assert enter["object"]["room"] == "r1" and enter["original"]["room"] == "r2"
    assert "original" not in delete and delete["object"]["objectId"] == "m1"


async def test_keys_trim_object_and_original(harness: Harness) -> None:
    ann = await harness.client()
    await ann.subscribe({"room": "r1"}, query={"keys": ["text"]})
    await harness.publish("update", msg(text="b", secret=1, acl={"*": {"read": True}}), msg(text="a", secret=1))
    [event] = ann.events()
    base = {"className", "objectId", "createdAt", "updatedAt"}
    assert set(event["object"]) == base | {"text", "ACL"}
    assert set(event["original"]) == base | {"text"}


async def test_watch_holds_back_updates_that_do_not_touch_watched_fields(harness: Harness) -> None:
    ann = await harness.client()
    await ann.subscribe({"room": "r1"}, query={"watch": ["text"]})
    await harness.publish("update", msg(text="a", likes=2), msg(text="a", likes=1))
    await harness.publish("update", msg(text="b", likes=2), msg(text="a", likes=2))
    await harness.publish("update", msg("m2", text="b"), msg("m2", room="r9", text="b"))
    assert ann.ops() == ["update", "enter"]


async def test_a_private_object_reaches_its_owner_and_the_master_key_only(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    bob = await harness.client(sessionToken="t-bob")
    anonymous = await harness.client()
    master = await harness.client(masterKey="mk")
    for socket in (ann, bob, anonymous, master):
        await socket.subscribe({"room": "r1"})
    await harness.publish("create", msg(acl=PRIVATE_TO_ANN))
    assert ann.ops() == ["create"] and master.ops() == ["create"]
    assert bob.ops() == [] and anonymous.ops() == []


async def test_the_subscription_session_token_decides_visibility(harness: Harness) -> None:
    socket = await harness.client()
    await socket.subscribe({"room": "r1"}, sessionToken="t-ann")
    await harness.publish("create", msg(acl=PRIVATE_TO_ANN))
    assert socket.ops() == ["create"]


async def test_a_role_member_sees_a_role_readable_object(harness: Harness) -> None:
    carl = await harness.client(sessionToken="t-carl")
    bob = await harness.client(sessionToken="t-bob")
    for socket in (carl, bob):
        await socket.subscribe({"room": "r1"})
    await harness.publish("create", msg(acl={"role:Staff": {"read": True}}))
    assert carl.ops() == ["create"] and bob.ops() == []


async def test_an_acl_change_alone_makes_leave_and_enter(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    bob = await harness.client(sessionToken="t-bob")
    for socket in (ann, bob):
        await socket.subscribe({"room": "r1"})
    await harness.publish("update", msg(acl=PRIVATE_TO_ANN, text="private"), msg(text="public"))
    await harness.publish("update", msg(acl={"*": {"read": True}}, text="open again"),
                          msg(acl=PRIVATE_TO_ANN, text="private meanwhile"))
    assert ann.ops() == ["update", "update"]
    assert bob.ops() == ["leave", "enter"]
    left, entered = bob.events()
    # the leave shows bob the last state he could read, never the one he lost access to
    assert left["object"]["text"] == "public" and "ACL" not in left["object"]
    assert left["original"]["text"] == "public"
    # the enter has no `original`: the state before was not bob's to see
    assert entered["object"]["text"] == "open again" and "original" not in entered
    assert "private" not in json.dumps(bob.frames())


async def test_a_query_enter_keeps_its_original_and_a_query_leave_its_new_state(harness: Harness) -> None:
    bob = await harness.client(sessionToken="t-bob")
    await bob.subscribe({"room": "r1"})
    await harness.publish("update", msg(room="r2", text="moved"), msg(text="here"))
    await harness.publish("update", msg(text="back"), msg(room="r2", text="moved"))
    left, entered = bob.events()
    assert (left["op"], left["object"]["text"], left["original"]["text"]) == ("leave", "moved", "here")
    assert (entered["op"], entered["object"]["text"], entered["original"]["text"]) == ("enter", "back", "moved")


async def test_an_empty_acl_is_master_only(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    await ann.subscribe({"room": "r1"})
    await harness.publish("create", msg(acl={}))
    assert ann.ops() == []


async def test_hidden_fields_never_leave_the_server(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    await ann.subscribe({"room": "r1"})
    await harness.publish("create", msg(acl={"*": {"read": True}}, _hashed_password="h", password="p",
                                        sessionToken="s", _email_verify_token="e"))
    [event] = ann.events()
    assert not any(k.startswith("_") for k in event["object"])
    assert "password" not in event["object"] and "sessionToken" not in event["object"]
    assert event["object"]["ACL"] == {"*": {"read": True}}


async def test_auth_data_reaches_no_subscriber_not_even_its_own_user(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    master = await harness.client(masterKey="mk")
    for socket in (ann, master):
        await socket.subscribe({}, class_name="_User")
    await harness.publish("update", {"objectId": "ann", "username": "ann", "authData": {"x": {"id": "1"}}},
                          {"objectId": "ann", "username": "a", "authData": {"x": {"id": "0"}}}, class_name="_User")
    for socket in (ann, master):
        [event] = socket.events()
        assert event["object"]["username"] == "ann" and "authData" not in event["object"]
        assert "authData" not in event["original"]


async def test_a_bus_notice_is_never_delivered_whatever_it_carries(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    master = await harness.client(masterKey="mk", sessionToken="t-bob")
    for socket in (ann, master):
        await socket.subscribe({}, class_name="_Session")
    await harness.bus.publish(ChangeEvent("_Session", "delete", {"user": {"__type": "Pointer", "className": "_User",
                                                                          "objectId": "ann"}}, notice=True))
    harness.published += 1
    await harness.publish("delete", {"objectId": "s1", "user": {"__type": "Pointer", "className": "_User",
                                                                "objectId": "ann"}}, class_name="_Session")
    for socket in (ann, master):
        assert [event["object"]["objectId"] for event in socket.events()] == ["s1"], socket.frames()


async def test_unsubscribe_stops_events_and_closing_frees_the_index(harness: Harness) -> None:
    ann = await harness.client()
    await ann.subscribe({"room": "r1"}, request_id=1)
    await ann.subscribe({"room": "r2"}, request_id=2)
    await ann.handle.receive('{"op":"unsubscribe","requestId":1}')
    await harness.publish("create", msg())
    assert ann.ops() == [] and ann.frames()[-1]["op"] == "unsubscribed"
    assert len(harness.hub.index) == 1
    ann.handle.close()
    assert len(harness.hub.index) == 0 and harness.hub.index.query_count == 0
    assert harness.hub.client_count == 0
    assert await ann.pump == Close(1000)


async def test_identical_queries_share_a_matcher_and_get_the_same_object_bytes(harness: Harness) -> None:
    sockets = [await harness.client() for _ in range(3)]
    for socket in sockets:
        await socket.subscribe({"room": "r1"})
    assert harness.hub.index.query_count == 1
    await harness.publish("create", msg(text="same"))
    objects = {s.received[-1].split(b'"object":', 1)[1] for s in sockets}
    assert len(objects) == 1


async def test_the_object_is_filtered_and_encoded_once_per_audience() -> None:
    calls: list[str | None] = []

    def visible_fields(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        calls.append(principal.user_id)
        return {k: v for k, v in doc.items() if k != "secret" and not k.startswith("_")}

    def audience(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> Any:
        return "everyone"

    harness = Harness(visible_fields=visible_fields, audience=audience)
    await harness.start()
    try:
        sockets = [await harness.client(sessionToken=t) for t in ("t-ann", "t-bob", "t-carl")]
        for socket in sockets:
            await socket.subscribe({"room": "r1"})
        await harness.publish("create", msg(secret="x"))
        assert len(calls) == 1
        assert all("secret" not in s.events()[0]["object"] for s in sockets)
    finally:
        await harness.stop()


async def test_protected_fields_without_an_audience_hook_are_filtered_per_subscriber() -> None:
    def visible_fields(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        hidden = set() if principal.user_id == doc.get("owner") else {"phone"}
        return {k: v for k, v in doc.items() if k not in hidden and not k.startswith("_")}

    harness = Harness(visible_fields=visible_fields)
    await harness.start()
    try:
        ann = await harness.client(sessionToken="t-ann")
        bob = await harness.client(sessionToken="t-bob")
        for socket in (ann, bob):
            await socket.subscribe({"room": "r1"})
        await harness.publish("create", msg(owner="ann", phone="555"))
        assert ann.events()[0]["object"]["phone"] == "555"
        assert "phone" not in bob.events()[0]["object"]
    finally:
        await harness.stop()


async def test_a_custom_field_filter_never_sees_internal_fields() -> None:
    seen: list[set[str]] = []

    def visible_fields(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        seen.append(set(doc))
        return doc  # a careless hook that keeps everything

    harness = Harness(visible_fields=visible_fields)
    await harness.start()
    try:
        ann = await harness.client(sessionToken="t-ann")
        await ann.subscribe({"room": "r1"})
        await harness.publish("create", msg(acl={"*": {"read": True}}, _hashed_password="h", sessionToken="s"))
        assert seen and not any(k.startswith("_") or k == "sessionToken" for k in seen[0])
        assert set(ann.events()[0]["object"]) == {"className", *seen[0]}
    finally:
        await harness.stop()


async def test_the_can_see_hook_adds_to_the_acl_but_not_for_the_master_key() -> None:
    harness = Harness(can_see=lambda principal, class_name, doc: principal.user_id == "ann")
    await harness.start()
    try:
        ann = await harness.client(sessionToken="t-ann")
        bob = await harness.client(sessionToken="t-bob")
        master = await harness.client(masterKey="mk")
        for socket in (ann, bob, master):
            await socket.subscribe({"room": "r1"})
        await harness.publish("create", msg())
        assert (ann.ops(), bob.ops(), master.ops()) == (["create"], [], ["create"])
    finally:
        await harness.stop()


async def test_classes_not_live_are_not_delivered() -> None:
    harness = Harness(live_classes={"Msg"})
    await harness.start()
    try:
        ann = await harness.client()
        await ann.subscribe({}, class_name="Note")
        await ann.subscribe({}, class_name="Msg", request_id=2)
        await harness.publish("create", msg(), class_name="Note")
        await harness.publish("create", msg(), class_name="Msg")
        assert [e["requestId"] for e in ann.events()] == [2]
    finally:
        await harness.stop()


async def test_a_slow_client_is_closed_and_never_delays_the_others(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(outbox_size=8)
    await harness.start()
    try:
        slow = await harness.client(blocked=True)
        fast = await harness.client()
        for socket in (slow, fast):
            await socket.subscribe({"room": "r1"})
        with caplog.at_level(logging.WARNING, logger="livequery.hub"):
            for n in range(40):
                await harness.publish("create", msg(f"m{n}"))
        assert len(fast.events()) == 40
        close = await asyncio.wait_for(slow.pump, 2)
        assert (close.code, close.reason) == (TOO_SLOW, "too slow")
        assert slow.handle.closed and harness.hub.slow_clients == 1
        assert len(harness.hub.index) == 1  # the slow client's subscription is gone
        assert "too slow" in caplog.text
    finally:
        await harness.stop()


async def test_one_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    def can_see(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> bool:
        if principal.user_id == "bob":
            raise RuntimeError("policy exploded")
        return True

    harness = Harness(can_see=can_see)
    await harness.start()
    try:
        bob = await harness.client(sessionToken="t-bob")
        ann = await harness.client(sessionToken="t-ann")
        for socket in (bob, ann):
            await socket.subscribe({"room": "r1"})
        with caplog.at_level(logging.ERROR, logger="livequery.hub"):
            await harness.publish("create", msg())
        assert ann.ops() == ["create"] and bob.ops() == []
        assert "policy exploded" in caplog.text
    finally:
        await harness.stop()


async def test_one_failing_query_does_not_stop_the_others(harness: Harness,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    broken = await harness.client()
    working = await harness.client()
    await broken.subscribe({"room": "r1", "n": 1})
    await working.subscribe({"room": "r1"})
    [query] = [q for q in harness.hub.index.candidates("Msg", {"room": "r1"}) if b'"n"' in q.key]

    def explode(doc: Mapping[str, Any]) -> bool:
        raise RuntimeError("matcher bug")

    query.matches = explode
    with caplog.at_level(logging.ERROR, logger="livequery.hub"):
        await harness.publish("create", msg(n=1))
    assert working.ops() == ["create"] and broken.ops() == []
    assert "matcher bug" in caplog.text


async def test_refreshing_sessions_stops_private_events_after_logout(harness: Harness) -> None:
    ann = await harness.client(sessionToken="t-ann")
    await ann.subscribe({"room": "r1"})
    await harness.publish("create", msg("m1", acl=PRIVATE_TO_ANN))
    del harness.sessions.sessions["t-ann"]
    await harness.hub.refresh_sessions("ann")
    await harness.publish("create", msg("m2", acl=PRIVATE_TO_ANN))
    await harness.publish("create", msg("m3"))
    assert [e["object"]["objectId"] for e in ann.events()] == ["m1", "m3"]


async def test_serve_runs_a_connection_until_the_client_goes(harness: Harness) -> None:
    incoming: asyncio.Queue[str | None] = asyncio.Queue()

    async def messages() -> AsyncIterator[str]:
        while (text := await incoming.get()) is not None:
            yield text

    sent: list[bytes] = []

    async def send(data: bytes) -> None:
        sent.append(data)

    handle = harness.hub.connect(send)
    serving = asyncio.create_task(handle.serve(messages()))
    incoming.put_nowait('{"op":"connect","applicationId":"app"}')
    incoming.put_nowait('{"op":"subscribe","requestId":1,"query":{"className":"Msg","where":{"room":"r1"}}}')
    await eventually(lambda: len(harness.hub.index) == 1)
    await harness.publish("create", msg())
    await eventually(lambda: len(sent) == 3)
    incoming.put_nowait(None)  # the socket closed
    assert await asyncio.wait_for(serving, 2) == Close(1000)
    assert [json.loads(s)["op"] for s in sent] == ["connected", "subscribed", "create"]
    assert len(harness.hub.index) == 0 and harness.hub.client_count == 0
