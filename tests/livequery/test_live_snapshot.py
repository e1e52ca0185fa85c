"""Subscribing with a snapshot (our extension, parse-server #9086) over real websockets: the `result` frame, then
live events, with no write lost or stale in between, whatever races the subscription."""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from livequery.reads import Reading
from tests.livequery.conftest import LiveClient, LiveServer

Applied = dict[str, dict[str, Any]]


def apply(state: Applied, frame: dict[str, Any]) -> None:
    """What a client does with a frame: `result` is the set, create/enter/update put, leave/delete remove."""
    op = frame["op"]
    if op == "result":
        state.clear()
        state.update({obj["objectId"]: obj for obj in frame["results"]})
    elif op in ("create", "enter", "update"):
        state[frame["object"]["objectId"]] = frame["object"]
    elif op in ("leave", "delete"):
        state.pop(frame["object"]["objectId"], None)


async def connected(server: LiveServer, **fields: Any) -> LiveClient:
    client = await server.client(**fields)
    assert (await client.receive())["op"] == "connected"
    return client


async def ask_snapshot(client: LiveClient, request_id: int, class_name: str, where: dict[str, Any],
                       **query: Any) -> None:
    """Send a subscribe with a snapshot (the next frame is `subscribed` or an error)."""
    await client.send({"op": "subscribe", "requestId": request_id, "snapshot": True,
                       "query": {"className": class_name, "where": where, **query}})


async def subscribe_with_snapshot(client: LiveClient, request_id: int, class_name: str, where: dict[str, Any],
                                  **query: Any) -> dict[str, Any]:
    await ask_snapshot(client, request_id, class_name, where, **query)
    assert (await client.receive())["op"] == "subscribed"
    result = await client.receive()
    assert result["op"] == "result" and result["requestId"] == request_id, result
    return result


def pause_reads(server: LiveServer, *, before: asyncio.Event | None = None,
                after: asyncio.Event | None = None) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the hub's snapshot reads (the real REST read path) until `before` is set, or hold their answer until
    `after` is set: writes can then be made to land exactly before or after the read. Returns two events: set
    once a read has started, and once it has read."""
    reads = server.app.state.services.hub.reads
    real_find: Callable[..., Awaitable[list[dict[str, Any]]]] = reads.find
    started, read = asyncio.Event(), asyncio.Event()

    async def find(principal: Any, class_name: str, reading: Reading) -> list[dict[str, Any]]:
        started.set()
        if before is not None:
            await asyncio.wait_for(before.wait(), 5)
        found = await real_find(principal, class_name, reading)
        read.set()
        if after is not None:
            await asyncio.wait_for(after.wait(), 5)
        return found

    reads.find = find
    return started, read


async def open_items_with_paused_snapshot(server: LiveServer, *, before: asyncio.Event | None = None,
                                          after: asyncio.Event | None = None) -> LiveClient:
    """A client subscribed to open Items with a snapshot whose read waits for `before`, or whose answer waits for
    `after` (see pause_reads); returns once the read has started (`before`) or has been made (`after`)."""
    started, read = pause_reads(server, before=before, after=after)
    client = await connected(server)
    await ask_snapshot(client, 1, "Item", {"status": "open"})
    assert (await client.receive())["op"] == "subscribed"
    await asyncio.wait_for((started if before is not None else read).wait(), 5)
    return client


def slow_reads(server: LiveServer, seconds: float) -> None:
    """Make the snapshot reads (the real REST read path) take longer, before and after reading, as on a loaded
    store: concurrent writes then land on both sides of the read."""
    reads = server.app.state.services.hub.reads
    real_find: Callable[..., Awaitable[list[dict[str, Any]]]] = reads.find

    async def find(principal: Any, class_name: str, reading: Reading) -> list[dict[str, Any]]:
        await asyncio.sleep(seconds)
        found = await real_find(principal, class_name, reading)
        await asyncio.sleep(seconds)
        return found

    reads.find = find


def events_seen(server: LiveServer) -> int:
    return int(server.app.state.services.hub.events_seen)


async def dispatched(server: LiveServer, goal: int) -> None:
    """Until the hub has taken `goal` events off the bus (so those are queued behind the snapshot)."""
    hub = server.app.state.services.hub
    for _ in range(500):
        if hub.events_seen >= goal:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the hub did not see the writes")


async def test_snapshot_sends_the_matching_objects_then_live_events(live_server: LiveServer) -> None:
    first = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 1})
    await live_server.call("POST", "/classes/Item", {"status": "closed", "n": 2})
    client = await connected(live_server)
    result = await subscribe_with_snapshot(client, 7, "Item", {"status": "open"})
    assert set(result) == {"op", "clientId", "requestId", "results"}
    assert [(o["objectId"], o["n"], o["className"]) for o in result["results"]] == [(first["objectId"], 1, "Item")]
    assert not any(key.startswith("_") for key in result["results"][0])
    created = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 3})
    event = await client.receive()
    assert event["op"] == "create" and event["object"]["objectId"] == created["objectId"]
    await client.close()


async def test_snapshot_shows_only_what_the_subscriber_may_read(live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    await live_server.call("POST", "/classes/Note", {"text": "ann's", "secret": "s", "ACL": {
        ann["objectId"]: {"read": True, "write": True}}}, session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Note", {"text": "public", "secret": "s"})
    await live_server.call("PUT", "/schemas/Note", {"classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True},
        "delete": {"*": True}, "addField": {"*": True}, "protectedFields": {"*": ["secret"]}}}, master=True)
    bob_client = await connected(live_server, sessionToken=bob["sessionToken"])
    result = await subscribe_with_snapshot(bob_client, 1, "Note", {})
    assert [o["text"] for o in result["results"]] == ["public"]
    assert "secret" not in result["results"][0]
    ann_client = await connected(live_server, sessionToken=ann["sessionToken"])
    result = await subscribe_with_snapshot(ann_client, 1, "Note", {}, keys=["text"], order="text")
    assert [o["text"] for o in result["results"]] == ["ann's", "public"]
    assert all(set(o) - {"ACL"} == {"className", "objectId", "createdAt", "updatedAt", "text"}
               for o in result["results"])
    master = await connected(live_server, masterKey="lq-master")
    result = await subscribe_with_snapshot(master, 1, "Note", {}, order="-text")
    assert [(o["text"], o["secret"]) for o in result["results"]] == [("public", "s"), ("ann's", "s")]
    for client in (bob_client, ann_client, master):
        await client.close()


async def test_snapshot_refused_by_class_permissions_gets_no_subscription(live_server: LiveServer) -> None:
    await live_server.call("POST", "/classes/Vault", {"n": 1})
    await live_server.call("PUT", "/schemas/Vault", {"classLevelPermissions": {
        "find": {}, "get": {}, "create": {"*": True}, "update": {}, "delete": {}, "addField": {}}}, master=True)
    client = await connected(live_server)
    await ask_snapshot(client, 1, "Vault", {})
    refused = await client.receive()
    assert refused["op"] == "error" and refused["code"] == 119 and refused["requestId"] == 1
    assert await client.nothing_within()
    await client.close()


async def test_snapshot_takes_the_limit_and_order_of_its_query(live_server: LiveServer) -> None:
    for n in range(5):
        await live_server.call("POST", "/classes/Item", {"n": n})
    client = await connected(live_server)
    result = await subscribe_with_snapshot(client, 1, "Item", {"n": {"$gte": 1}}, limit=2, order="-n")
    assert [o["n"] for o in result["results"]] == [4, 3]
    result = await subscribe_with_snapshot(client, 2, "Item", {}, limit=0)
    assert result["results"] == []
    await client.close()


async def test_query_op_sends_a_live_subscription_its_current_objects(live_server: LiveServer) -> None:
    """What the JS SDK's `subscription.find()` sends."""
    client = await connected(live_server)
    await client.subscribe(3, "Item", {"status": "open"})
    item = await live_server.call("POST", "/classes/Item", {"status": "open"})
    assert (await client.receive())["op"] == "create"
    await client.send({"op": "query", "requestId": 3})
    result = await client.receive()
    assert result["op"] == "result" and [o["objectId"] for o in result["results"]] == [item["objectId"]]
    await client.send({"op": "query", "requestId": 4})
    unknown = await client.receive()
    assert unknown["op"] == "error" and unknown["requestId"] == 4 and unknown["reconnect"] is False
    await client.close()


async def test_snapshot_drops_the_events_of_writes_it_already_reflects(live_server: LiveServer) -> None:
    kept = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 0})
    release = asyncio.Event()
    client = await open_items_with_paused_snapshot(live_server, before=release)
    # committed before the snapshot reads, their events reach the hub while it waits to read
    seen = events_seen(live_server)
    created = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 1})
    await live_server.call("PUT", f"/classes/Item/{kept['objectId']}", {"n": 2})
    await dispatched(live_server, seen + 2)
    release.set()
    result = await client.receive()
    assert result["op"] == "result"
    assert {o["objectId"]: o["n"] for o in result["results"]} == {kept["objectId"]: 2, created["objectId"]: 1}
    fence = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 9})
    assert await client.frames_before(fence["objectId"]) == []  # neither the create nor the update again
    await client.close()


async def test_snapshot_keeps_the_events_of_writes_after_its_read(live_server: LiveServer) -> None:
    item = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 0})
    release = asyncio.Event()
    client = await open_items_with_paused_snapshot(live_server, after=release)  # read made, its answer waits
    seen = events_seen(live_server)
    await live_server.call("PUT", f"/classes/Item/{item['objectId']}", {"n": 1})
    await live_server.call("PUT", f"/classes/Item/{item['objectId']}", {"status": "closed"})
    await dispatched(live_server, seen + 2)
    release.set()
    frames = [await client.receive() for _ in range(3)]
    assert [f["op"] for f in frames] == ["result", "update", "leave"]
    assert frames[0]["results"][0]["n"] == 0 and frames[1]["object"]["n"] == 1
    state: Applied = {}
    for frame in frames:
        apply(state, frame)
    assert state == {}
    await client.close()


async def test_clients_subscribing_amid_concurrent_writers_end_with_the_stored_state(
        live_server: LiveServer) -> None:
    rng = random.Random(9086)
    slow_reads(live_server, 0.03)
    ids = [(await live_server.call("POST", "/classes/Race", {"status": "open", "n": 0}))["objectId"]
           for _ in range(4)]
    alive = set(ids)

    async def writer(seed: int) -> None:
        local = random.Random(seed)
        for step in range(12):
            await asyncio.sleep(local.random() * 0.02)  # spread over the time clients subscribe
            choice = local.random()
            target = local.choice(ids)
            if choice < 0.1:
                created = await live_server.call("POST", "/classes/Race", {"status": "open", "n": step})
                ids.append(created["objectId"])
                alive.add(created["objectId"])
            elif choice < 0.2 and target in alive:
                alive.discard(target)
                await live_server.call("DELETE", f"/classes/Race/{target}")
            elif target in alive:
                status = "open" if local.random() < 0.6 else "closed"
                try:
                    await live_server.call("PUT", f"/classes/Race/{target}", {"status": status, "n": step})
                except AssertionError:  # deleted by another writer meanwhile
                    pass

    async def subscriber(delay: float) -> tuple[LiveClient, dict[str, Any]]:
        await asyncio.sleep(delay)
        client = await connected(live_server)
        return client, await subscribe_with_snapshot(client, 1, "Race", {"status": "open"})

    writers = [asyncio.create_task(writer(rng.randrange(1 << 30))) for _ in range(6)]
    subscribed = await asyncio.gather(*(subscriber(i * 0.025) for i in range(12)))
    await asyncio.gather(*writers)
    # after every snapshot and write: its event reaches each client after all the events under test
    fence = await live_server.call("POST", "/classes/Race", {"status": "open", "fence": True})
    stored = (await live_server.call("GET", "/classes/Race?where=%7B%22status%22%3A%22open%22%7D&limit=1000",
                                     master=True))["results"]
    expected = {o["objectId"]: o["n"] for o in stored if o["objectId"] != fence["objectId"]}
    for client, result in subscribed:
        events = await client.frames_before(fence["objectId"])
        assert all(f["op"] not in ("result", "subscribed", "error") for f in events)
        state: Applied = {}
        for frame in [result, *events]:
            apply(state, frame)
        assert {oid: obj["n"] for oid, obj in state.items()} == expected
        await client.close()


async def test_a_failing_snapshot_read_answers_an_error_and_the_events_still_flow(live_server: LiveServer) -> None:
    reads = live_server.app.state.services.hub.reads

    async def broken_find(principal: Any, class_name: str, reading: Reading) -> list[dict[str, Any]]:
        raise RuntimeError("the store went away (made up by this test)")

    reads.find = broken_find
    client = await connected(live_server)
    await ask_snapshot(client, 1, "Item", {})
    assert (await client.receive())["op"] == "subscribed"
    failed = await client.receive()
    assert failed["op"] == "error" and failed["code"] == 1 and failed["requestId"] == 1
    item = await live_server.call("POST", "/classes/Item", {"n": 1})
    assert (await client.receive())["object"]["objectId"] == item["objectId"]
    await client.close()
