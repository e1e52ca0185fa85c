"""`include` on a live subscription (our extension, parse-server #1686) over real websockets: events carry the
pointed objects as the subscriber reads them; what they may not read stays a plain pointer."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from livequery.include import MAX_INCLUDE_LISTS_PER_SOCKET, MAX_INCLUDE_PATHS
from tests.livequery.conftest import LiveClient, LiveServer
from tests.livequery.test_live_snapshot import connected, subscribe_with_snapshot


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


async def subscribed(client: LiveClient, request_id: int, class_name: str, where: dict[str, Any],
                     include: list[str] | str) -> None:
    reply = await client.subscribe(request_id, class_name, where, query_extra={"include": include})
    assert reply["op"] == "subscribed", reply


async def test_an_event_carries_the_objects_its_include_names(live_server: LiveServer) -> None:
    company = await live_server.call("POST", "/classes/Company", {"name": "Acme"})
    author = await live_server.call("POST", "/classes/Author", {
        "name": "Ann", "company": pointer("Company", company["objectId"])})
    client = await connected(live_server)
    await subscribed(client, 1, "Post", {}, ["author.company"])
    plain = await connected(live_server)
    await plain.subscribe(1, "Post", {})
    await live_server.call("POST", "/classes/Post", {"title": "hi", "author": pointer("Author", author["objectId"])})
    event = await client.receive()
    included = event["object"]["author"]
    assert included["__type"] == "Object" and included["className"] == "Author"
    assert included["objectId"] == author["objectId"] and included["name"] == "Ann"
    assert included["company"]["__type"] == "Object" and included["company"]["name"] == "Acme"
    assert not any(key.startswith("_") for key in included if key != "__type")
    assert (await plain.receive())["object"]["author"] == pointer("Author", author["objectId"])
    for each in (client, plain):
        await each.close()


async def test_an_update_includes_in_object_and_original_and_arrays_of_pointers(live_server: LiveServer) -> None:
    tags = [await live_server.call("POST", "/classes/Tag", {"label": label}) for label in ("a", "b")]
    post = await live_server.call("POST", "/classes/Post", {"n": 1, "tags": [
        pointer("Tag", tags[0]["objectId"])]})
    client = await connected(live_server)
    await subscribed(client, 1, "Post", {}, "tags")
    await live_server.call("PUT", f"/classes/Post/{post['objectId']}", {"n": 2, "tags": [
        pointer("Tag", t["objectId"]) for t in tags]})
    event = await client.receive()
    assert event["op"] == "update"
    assert [t["label"] for t in event["object"]["tags"]] == ["a", "b"]
    assert [t["label"] for t in event["original"]["tags"]] == ["a"]
    await client.close()


async def test_a_pointed_object_the_subscriber_may_not_read_stays_a_pointer(live_server: LiveServer) -> None:
    ann, bob = await live_server.sign_up("ann"), await live_server.sign_up("bob")
    secret = await live_server.call("POST", "/classes/Author", {"name": "hidden", "ACL": {
        ann["objectId"]: {"read": True, "write": True}}}, session=ann["sessionToken"])
    await live_server.call("POST", "/classes/Author", {"name": "x", "email": "e"})
    await live_server.call("PUT", "/schemas/Author", {"classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True},
        "delete": {"*": True}, "addField": {"*": True}, "protectedFields": {"*": ["email"]}}}, master=True)
    visible = await live_server.call("POST", "/classes/Author", {"name": "shown", "email": "a@b.c"})
    clients = {}
    for name, user in (("ann", ann), ("bob", bob)):
        clients[name] = await connected(live_server, sessionToken=user["sessionToken"])
        await subscribed(clients[name], 1, "Post", {}, ["author", "editor"])
    await live_server.call("POST", "/classes/Post", {"author": pointer("Author", secret["objectId"]),
                                                     "editor": pointer("Author", visible["objectId"])})
    ann_event, bob_event = await clients["ann"].receive(), await clients["bob"].receive()
    assert ann_event["object"]["author"]["name"] == "hidden"
    assert bob_event["object"]["author"] == pointer("Author", secret["objectId"])
    assert bob_event["object"]["editor"]["name"] == "shown" and "email" not in bob_event["object"]["editor"]
    for client in clients.values():
        await client.close()


async def test_one_read_per_event_serves_every_subscriber_reading_alike(live_server: LiveServer) -> None:
    author = await live_server.call("POST", "/classes/Author", {"name": "Ann"})
    reads = live_server.app.state.services.hub.reads
    real_get_many = reads.get_many
    calls: list[str] = []

    async def get_many(principal: Any, class_name: str, object_ids: Sequence[str]) -> list[dict[str, Any]]:
        calls.append(class_name)
        return await real_get_many(principal, class_name, object_ids)

    reads.get_many = get_many
    clients = [await connected(live_server) for _ in range(4)]
    for client in clients:
        await subscribed(client, 1, "Post", {}, ["author"])
    await live_server.call("POST", "/classes/Post", {"author": pointer("Author", author["objectId"])})
    events = await asyncio.gather(*(client.receive() for client in clients))
    assert all(event["object"]["author"]["name"] == "Ann" for event in events)
    assert calls == ["Author"]
    for client in clients:
        await client.close()


async def test_a_snapshot_carries_its_included_objects(live_server: LiveServer) -> None:
    author = await live_server.call("POST", "/classes/Author", {"name": "Ann"})
    await live_server.call("POST", "/classes/Post", {"author": pointer("Author", author["objectId"])})
    client = await connected(live_server)
    result = await subscribe_with_snapshot(client, 1, "Post", {}, include=["author"])
    assert result["results"][0]["author"]["name"] == "Ann"
    await client.close()


async def test_an_include_beyond_the_bounds_is_refused(live_server: LiveServer) -> None:
    client = await connected(live_server)
    for include in ([f"f{i}" for i in range(MAX_INCLUDE_PATHS + 1)], ["a.b.c.d"]):
        reply = await client.subscribe(1, "Post", {}, query_extra={"include": include})
        assert reply["op"] == "error" and reply["code"] == 102 and reply["requestId"] == 1, reply
    await client.close()


async def test_a_socket_may_use_only_so_many_different_include_lists(live_server: LiveServer) -> None:
    """Each different include list is one store read per event of the class: a socket holding a thousand
    subscriptions, each with a list of its own, made every write a thousand reads."""
    client = await connected(live_server)
    for request_id in range(1, MAX_INCLUDE_LISTS_PER_SOCKET + 1):
        await subscribed(client, request_id, "Post", {}, ["author", f"x{request_id}"])
    await subscribed(client, 100, "Post", {"n": 1}, ["author", "x1"])  # a list it uses already: no new read
    await subscribed(client, 101, "Post", {}, [])  # no include at all
    reply = await client.subscribe(102, "Post", {}, query_extra={"include": ["author", "x99"]})
    assert reply["op"] == "error" and reply["code"] == 102 and reply["requestId"] == 102, reply
    assert "include lists" in reply["error"]
    # an update may swap a subscription's list for another when no other subscription uses the old one
    await client.send({"op": "update", "requestId": 2,
                       "query": {"className": "Post", "where": {}, "include": ["author", "x99"]}})
    reply = await client.receive()
    assert reply["op"] == "subscribed" and reply["requestId"] == 2, reply
    other = await connected(live_server)  # the bound is per socket
    await subscribed(other, 1, "Post", {}, ["author", "x100"])
    for each in (client, other):
        await each.close()
