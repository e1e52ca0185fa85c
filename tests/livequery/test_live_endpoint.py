"""The LiveQuery protocol over real websockets on the server's own port, fed by REST writes."""
from __future__ import annotations

import asyncio
import re

from tests.livequery.conftest import LiveServer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def test_connect_then_subscribe_answers_connected_and_subscribed(live_server: LiveServer) -> None:
    client = await live_server.client()
    connected = await client.receive()
    assert connected["op"] == "connected" and UUID.match(connected["clientId"])
    subscribed = await client.subscribe(1, "Item", {"status": "open"})
    assert subscribed == {"op": "subscribed", "clientId": connected["clientId"], "requestId": 1}
    await client.close()


async def test_every_event_kind_follows_the_object_in_and_out_of_the_query(live_server: LiveServer) -> None:
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Item", {"status": "open"})
    item = await live_server.call("POST", "/classes/Item", {"status": "open", "n": 1})
    oid = item["objectId"]
    created = await client.receive()
    assert created["op"] == "create" and created["requestId"] == 1 and "original" not in created
    assert created["object"]["objectId"] == oid and created["object"]["className"] == "Item"
    assert created["object"]["n"] == 1 and not any(k.startswith("_") for k in created["object"])
    await live_server.call("PUT", f"/classes/Item/{oid}", {"n": 2})
    updated = await client.receive()
    assert updated["op"] == "update" and updated["object"]["n"] == 2 and updated["original"]["n"] == 1
    await live_server.call("PUT", f"/classes/Item/{oid}", {"status": "closed"})
    left = await client.receive()
    assert left["op"] == "leave" and left["object"]["status"] == "closed" and left["original"]["status"] == "open"
    await live_server.call("PUT", f"/classes/Item/{oid}", {"n": 3})
    assert await client.nothing_within()
    await live_server.call("PUT", f"/classes/Item/{oid}", {"status": "open"})
    entered = await client.receive()
    assert entered["op"] == "enter" and entered["object"]["n"] == 3
    await live_server.call("DELETE", f"/classes/Item/{oid}")
    deleted = await client.receive()
    assert deleted["op"] == "delete" and deleted["object"]["objectId"] == oid
    await client.close()


async def test_keys_limit_fields_and_watch_limits_updates(live_server: LiveServer) -> None:
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Item", {}, query_extra={"keys": ["status"], "watch": ["status"]})
    item = await live_server.call("POST", "/classes/Item", {"status": "open", "secret": "x"})
    created = await client.receive()
    assert set(created["object"]) == {"className", "objectId", "createdAt", "updatedAt", "status"}
    await live_server.call("PUT", f"/classes/Item/{item['objectId']}", {"secret": "y"})
    assert await client.nothing_within()
    await live_server.call("PUT", f"/classes/Item/{item['objectId']}", {"status": "done"})
    assert (await client.receive())["object"]["status"] == "done"
    await client.close()


async def test_a_private_object_reaches_its_owner_and_no_one_else(live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    ann_client = await live_server.client(sessionToken=ann["sessionToken"])
    bob_client = await live_server.client(sessionToken=bob["sessionToken"])
    for client in (ann_client, bob_client):
        await client.receive()
        await client.subscribe(1, "Note", {})
    await live_server.call("POST", "/classes/Note", {"text": "private", "ACL": {
        ann["objectId"]: {"read": True, "write": True}}}, session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Note", {"text": "public"}, session=ann["sessionToken"])
    assert (await ann_client.receive())["object"]["text"] == "private"
    assert (await ann_client.receive())["object"]["text"] == "public"
    assert (await bob_client.receive())["object"]["text"] == "public"  # bob never got the private one
    for client in (ann_client, bob_client):
        await client.close()


async def test_a_role_member_receives_role_protected_objects(live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    await live_server.call("POST", "/roles", {"name": "Hosts", "ACL": {"*": {"read": True}}, "users": {
        "__op": "AddRelation", "objects": [{"__type": "Pointer", "className": "_User", "objectId": bob["objectId"]}]}},
        master=True)
    bob_client = await live_server.client()
    await bob_client.receive()
    await bob_client.subscribe(1, "Note", {}, sessionToken=bob["sessionToken"])
    await live_server.call("POST", "/classes/Note", {"text": "hosts only", "ACL": {"role:Hosts": {"read": True}}},
                           session=ann["sessionToken"])
    assert (await bob_client.receive())["object"]["text"] == "hosts only"
    await bob_client.close()


async def test_class_level_permissions_apply_to_subscribers(live_server: LiveServer) -> None:
    clp = {"find": {}, "get": {}, "create": {"*": True}, "protectedFields": {"*": []}}
    await live_server.call("POST", "/schemas/Audit", {"fields": {"what": {"type": "String"}},
                                                      "classLevelPermissions": clp}, master=True)
    anonymous = await live_server.client()
    master = await live_server.client(masterKey="lq-master")
    for client in (anonymous, master):
        await client.receive()
        await client.subscribe(1, "Audit", {})
    await live_server.call("POST", "/classes/Audit", {"what": "login"})
    assert (await master.receive())["object"]["what"] == "login"
    assert await anonymous.nothing_within()
    for client in (anonymous, master):
        await client.close()


async def test_protocol_errors(live_server: LiveServer) -> None:
    client = await live_server.client(applicationId="wrong")
    error = await client.receive()
    assert error["op"] == "error" and error["code"] == 4 and error["reconnect"] is True
    await client.close()
    early = await live_server.client()
    await early.receive()
    await early.send({"op": "unsubscribe", "requestId": 9})
    unknown = await early.receive()
    assert unknown["op"] == "error" and unknown["code"] == 2
    await early.send("{not json")
    not_json = await early.receive()
    assert not_json["op"] == "error" and not_json["code"] == 1
    await early.send({"op": "subscribe", "requestId": 1, "query": {"className": "Item", "where": {"a": {"$bogus": 1}}}})
    bad = await early.receive()
    assert bad["op"] == "error" and bad["requestId"] == 1
    assert (await early.subscribe(2, "Item", {}))["op"] == "subscribed"  # the connection still serves
    await early.close()


async def test_unsubscribe_stops_events_and_a_dropped_connection_frees_its_subscriptions(
        live_server: LiveServer) -> None:
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Item", {})
    await client.send({"op": "unsubscribe", "requestId": 1})
    assert (await client.receive())["op"] == "unsubscribed"
    await live_server.call("POST", "/classes/Item", {"n": 1})
    assert await client.nothing_within()
    await client.subscribe(2, "Item", {})
    hub = live_server.app.state.services.hub
    assert hub.client_count == 1
    await client.close()
    for _ in range(100):
        if hub.client_count == 0:
            break
        await asyncio.sleep(0.02)
    assert hub.client_count == 0


async def test_health_counts_live_clients(live_server: LiveServer) -> None:
    client = await live_server.client()
    await client.receive()
    health = await live_server.call("GET", "/health")
    assert health["status"] == "ok" and health["liveQueryClients"] == 1
    await client.close()


async def test_after_log_out_an_open_socket_no_longer_receives_the_users_private_objects(
        live_server: LiveServer) -> None:
    ann = await live_server.sign_up("ann")
    client = await live_server.client(sessionToken=ann["sessionToken"])
    await client.receive()
    await client.subscribe(1, "Note", {})
    acl = {ann["objectId"]: {"read": True, "write": True}}
    await live_server.call("POST", "/classes/Note", {"text": "before", "ACL": acl}, master=True)
    assert (await client.receive())["object"]["text"] == "before"
    await live_server.call("POST", "/logout", {}, session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Note", {"text": "after", "ACL": acl}, master=True)
    await live_server.call("POST", "/classes/Note", {"text": "public"}, master=True)
    assert (await client.receive())["object"]["text"] == "public"  # the private one never came
    await client.close()


async def test_a_default_value_is_in_the_create_event_and_matches_queries_on_it(live_server: LiveServer) -> None:
    await live_server.call("POST", "/schemas/Ticket", {"fields": {
        "title": {"type": "String", "required": True}, "status": {"type": "String", "defaultValue": "open"}}},
        master=True)
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Ticket", {"status": "open"})
    ticket = await live_server.call("POST", "/classes/Ticket", {"title": "printer on fire"})
    created = await client.receive()
    assert created["op"] == "create" and created["object"]["objectId"] == ticket["objectId"]
    assert created["object"]["status"] == "open"
    await client.close()


async def test_events_of_every_frame_size_arrive_whole_and_in_order(live_server: LiveServer) -> None:
    """Frames are written to the socket by the server itself: payloads under 126 bytes, up to 64 KiB and beyond
    (the three websocket length encodings), several in one write, each arrive as one intact text frame."""
    client = await live_server.client()
    await client.receive()
    await client.subscribe(1, "Blob", {})
    sizes = [1, 200, 70_000, 5]
    for size in sizes:
        await live_server.call("POST", "/classes/Blob", {"text": "é" * size})
    for size in sizes:
        created = await client.receive()
        assert created["op"] == "create" and created["object"]["text"] == "é" * size
    await client.close()
