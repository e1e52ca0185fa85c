"""Subscriptions over graphql-transport-ws on a real server (uvicorn over loopback), fed by REST writes through
the LiveQuery engine, with a real client (`gql`'s websockets transport) and with raw protocol frames."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import connect

from tests.livequery.conftest import APP_ID, MASTER_KEY, LiveServer

ITEMS = """subscription($where: ItemWhereInput) { items(where: $where) {
    event node { objectId status n } original { status n } } }"""


def transport(server: LiveServer, **headers: str) -> WebsocketsTransport:
    return WebsocketsTransport(url=f"ws://127.0.0.1:{server.port}/graphql",
                               init_payload={"X-Parse-Application-Id": APP_ID, **headers},
                               subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                               connect_timeout=60, ack_timeout=60)


async def collect(server: LiveServer, query: str, variables: dict[str, Any], count: int, started: asyncio.Event,
                  **headers: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with Client(transport=transport(server, **headers), execute_timeout=60) as session:
        request = gql(query)
        request.variable_values = variables
        stream = session.subscribe(request)
        index = server.app.state.services.hub.index
        before = len(index)
        first = asyncio.ensure_future(anext(stream))
        while len(index) == before:  # registered in the hub: events from now on reach it
            await asyncio.sleep(0.01)
        started.set()
        events.append(await asyncio.wait_for(first, 10))
        while len(events) < count:
            events.append(await asyncio.wait_for(anext(stream), 10))
        await stream.aclose()
    return events


async def test_a_subscription_receives_every_event_kind_for_rest_writes(live_server: LiveServer) -> None:
    await live_server.call("POST", "/schemas/Item", {"fields": {"status": {"type": "String"},
                                                                "n": {"type": "Number"}}}, master=True)
    started = asyncio.Event()
    listener = asyncio.create_task(collect(live_server, ITEMS, {"where": {"status": {"equalTo": "open"}}}, 5,
                                           started))
    await asyncio.wait_for(started.wait(), 10)
    item = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 1})
    oid = item["objectId"]
    await live_server.call("PUT", f"/classes/Item/{oid}", {"n": 2})
    await live_server.call("PUT", f"/classes/Item/{oid}", {"status": "closed"})
    await live_server.call("PUT", f"/classes/Item/{oid}", {"status": "open"})
    await live_server.call("DELETE", f"/classes/Item/{oid}")
    events = [e["items"] for e in await asyncio.wait_for(listener, 20)]
    assert [e["event"] for e in events] == ["create", "update", "leave", "enter", "delete"]
    assert events[0]["node"] == {"objectId": oid, "status": "open", "n": 1} and events[0]["original"] is None
    assert events[1]["node"]["n"] == 2 and events[1]["original"] == {"status": "open", "n": 1}
    assert events[2]["node"]["status"] == "closed"


async def test_a_subscriber_gets_no_event_for_an_object_it_cannot_read(live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    await live_server.call("POST", "/schemas/Item", {"fields": {"status": {"type": "String"},
                                                                "n": {"type": "Number"}}}, master=True)
    watchers = []
    for user in (ann, bob):  # one after the other: each is registered before the next starts
        started = asyncio.Event()
        watchers.append(asyncio.create_task(collect(live_server, ITEMS, {}, 1, started,
                                                    **{"X-Parse-Session-Token": user["sessionToken"]})))
        await asyncio.wait_for(started.wait(), 10)
    await live_server.call("POST", "/classes/Item", {"status": "private", "n": 1,
                                                     "ACL": {ann["objectId"]: {"read": True, "write": True}}},
                           session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Item", {"status": "public", "n": 2}, session=ann["sessionToken"])
    ann_events, bob_events = await asyncio.wait_for(asyncio.gather(*watchers), 20)
    assert ann_events[0]["items"]["node"]["status"] == "private"
    assert bob_events[0]["items"]["node"]["status"] == "public"  # bob's first event is the public one


async def test_after_a_log_out_a_subscriber_gets_no_more_private_events(live_server: LiveServer) -> None:
    ann = await live_server.sign_up("ann")
    await live_server.call("POST", "/schemas/Item", {"fields": {"status": {"type": "String"},
                                                                "n": {"type": "Number"}}}, master=True)
    started = asyncio.Event()
    watcher = asyncio.create_task(collect(live_server, ITEMS, {}, 2, started,
                                          **{"X-Parse-Session-Token": ann["sessionToken"]}))
    await asyncio.wait_for(started.wait(), 10)
    private = {"ACL": {ann["objectId"]: {"read": True, "write": True}}}
    await live_server.call("POST", "/classes/Item", {"status": "before", **private}, session=ann["sessionToken"])
    await live_server.call("POST", "/logout", {}, session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Item", {"status": "after", **private}, master=True)
    await live_server.call("POST", "/classes/Item", {"status": "public"}, master=True)
    events = await asyncio.wait_for(watcher, 20)
    assert [e["items"]["node"]["status"] for e in events] == ["before", "public"]


async def raw(server: LiveServer, init: dict[str, Any] | None = None):
    socket = await connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"],
                           open_timeout=5)
    if init is not None:
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
    return socket


async def receive(socket: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def test_the_protocol_acks_pongs_runs_queries_and_refuses_bad_keys(live_server: LiveServer) -> None:
    socket = await raw(live_server, {"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY})
    assert await receive(socket) == {"type": "connection_ack"}
    await socket.send(json.dumps({"type": "ping"}))
    assert await receive(socket) == {"type": "pong"}
    await socket.send(json.dumps({"type": "subscribe", "id": "q1", "payload": {"query": "{ health }"}}))
    assert await receive(socket) == {"type": "next", "id": "q1", "payload": {"data": {"health": True}}}
    assert await receive(socket) == {"type": "complete", "id": "q1"}
    await socket.send(json.dumps({"type": "subscribe", "id": "q2", "payload": {"query": "subscription { nope }"}}))
    failed = await receive(socket)
    assert failed["type"] == "error" and failed["id"] == "q2"
    assert failed["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    await socket.close()
    refused = await raw(live_server, {"X-Parse-Application-Id": "wrong"})
    await asyncio.wait_for(refused.wait_closed(), 5)
    assert refused.close_code == 4403
    early = await raw(live_server)
    await early.send(json.dumps({"type": "subscribe", "id": "x", "payload": {"query": "{ health }"}}))
    await asyncio.wait_for(early.wait_closed(), 5)
    assert early.close_code == 4401


async def test_a_where_livequery_cannot_evaluate_is_an_error_for_that_subscription(live_server: LiveServer) -> None:
    await live_server.call("POST", "/schemas/Item", {"fields": {"owner": {"type": "Pointer", "targetClass": "_User"}}},
                           master=True)
    socket = await raw(live_server, {"X-Parse-Application-Id": APP_ID})
    assert (await receive(socket))["type"] == "connection_ack"
    query = 'subscription { items(where: { owner: { have: { username: { equalTo: "x" } } } }) { event } }'
    await socket.send(json.dumps({"type": "subscribe", "id": "s1", "payload": {"query": query}}))
    failed = await receive(socket)
    assert failed["type"] == "error" and failed["id"] == "s1"
    await socket.close()
