"""Two server processes behind one Redis act as one: a write through either reaches subscribers of both."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from benchmarks.server import APP_ID, MASTER_KEY, running_server


async def _subscribe(ws_url: str) -> Any:
    socket_ = await connect(ws_url, open_timeout=5)
    await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "connected"
    await socket_.send(json.dumps({"op": "subscribe", "requestId": 1,
                                   "query": {"className": "Reaction", "where": {"event": "e1"}}}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "subscribed"
    return socket_


async def _exchange(first: str, second: str) -> None:
    headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
    sockets = [await _subscribe(url.replace("http://", "ws://")) for url in (first, second)]
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as http:
        for writer, label in ((first, "via-first"), (second, "via-second")):
            async with http.post(f"{writer}/classes/Reaction", data=json.dumps({"event": "e1", "kind": label})) as r:
                assert r.status == 201, await r.text()
            for socket_ in sockets:
                frame = json.loads(await asyncio.wait_for(socket_.recv(), 5))
                assert frame["op"] == "create" and frame["object"]["kind"] == label
    for socket_ in sockets:
        await socket_.close()


def test_a_write_through_one_process_reaches_subscribers_of_the_other(redis_server: str, tmp_path: Path) -> None:
    shared = ["--database-uri", f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_server]
    with running_server(*shared) as first, running_server(*shared) as second:
        asyncio.run(asyncio.wait_for(_exchange(first, second), 30))


def _get(url: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-Parse-Application-Id": APP_ID})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _post(url: str, body: dict[str, Any]) -> int:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.status


def _wait_for_health(url: str, connected: bool) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 15
    while True:
        _status, body = _get(f"{url}/health")
        if body["bus"]["connected"] is connected or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_redis_going_away_keeps_rest_serving_and_shows_in_health(redis_server_control: Any) -> None:
    with running_server("--redis-url", redis_server_control.url) as url:
        assert _wait_for_health(url, True)["bus"]["connected"] is True
        redis_server_control.stop()
        assert _post(f"{url}/classes/Note", {"text": "during the outage"}) == 201
        health = _wait_for_health(url, False)
        assert health["status"] == "ok" and health["bus"]["connected"] is False
        assert _get(f"{url}/classes/Note")[1]["results"][0]["text"] == "during the outage"
        redis_server_control.start()
        assert _wait_for_health(url, True)["bus"]["connected"] is True


async def _log_out_elsewhere(first: str, second: str) -> None:
    headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def call(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
            extra = {"X-Parse-Session-Token": token} if token else {}
            async with http.post(f"{base}{path}", data=json.dumps(body), headers=extra) as reply:
                assert reply.status < 300, await reply.text()
                return await reply.json()

        ann = await call(first, "/users", {"username": "ann", "password": "pw"})
        socket_ = await connect(second.replace("http://", "ws://"), open_timeout=5)
        await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID, "sessionToken": ann["sessionToken"]}))
        await asyncio.wait_for(socket_.recv(), 5)
        await socket_.send(json.dumps({"op": "subscribe", "requestId": 1, "query": {"className": "Note", "where": {}}}))
        assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "subscribed"
        acl = {ann["objectId"]: {"read": True, "write": True}}
        await call(first, "/classes/Note", {"text": "before", "ACL": acl}, ann["sessionToken"])
        assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["object"]["text"] == "before"
        # logged out through the OTHER process: the log-out precedes the next writes on the bus, and the second
        # process applies it before delivering them, so no wait is needed
        await call(first, "/logout", {}, ann["sessionToken"])
        await call(first, "/classes/Note", {"text": "after"} | {"ACL": acl})
        await call(first, "/classes/Note", {"text": "public"})
        assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["object"]["text"] == "public"
        await socket_.close()


def test_a_log_out_through_one_process_ends_private_events_on_the_others_sockets(redis_server: str,
                                                                                   tmp_path: Path) -> None:
    shared = ["--database-uri", f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_server]
    with running_server(*shared) as first, running_server(*shared) as second:
        asyncio.run(asyncio.wait_for(_log_out_elsewhere(first, second), 30))


async def _role_and_clp_change_elsewhere(first: str, second: str) -> None:
    headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json", "X-Parse-Master-Key": MASTER_KEY}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def call(method: str, path: str, body: dict[str, Any]) -> Any:  # every write through `first`
            async with http.request(method, f"{first}{path}", data=json.dumps(body)) as reply:
                assert reply.status < 300, await reply.text()
                return await reply.json()

        async def next_text() -> str:
            return str(json.loads(await asyncio.wait_for(socket_.recv(), 5))["object"]["text"])

        ann = await call("POST", "/users", {"username": "ann", "password": "pw"})
        member = {"objects": [{"__type": "Pointer", "className": "_User", "objectId": ann["objectId"]}]}
        role = await call("POST", "/roles", {"name": "Staff", "ACL": {"*": {"read": True}}})
        await call("POST", "/schemas/Note", {"classLevelPermissions": {
            "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True}}})
        socket_ = await connect(second.replace("http://", "ws://"), open_timeout=5)  # ann's socket: the other one
        await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID, "sessionToken": ann["sessionToken"]}))
        await asyncio.wait_for(socket_.recv(), 5)
        await socket_.send(json.dumps({"op": "subscribe", "requestId": 1, "query": {"className": "Note", "where": {}}}))
        assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "subscribed"
        staff = {"role:Staff": {"read": True}}
        # each change precedes the next write on the bus and the second process applies it before delivering
        # that write: no wait is needed (REST reads through the second process may lag; its events do not)
        await call("PUT", f"/roles/{role['objectId']}", {"users": {"__op": "AddRelation", **member}})
        await call("POST", "/classes/Note", {"text": "staff, ann a member", "ACL": staff})
        assert await next_text() == "staff, ann a member"
        await call("PUT", f"/roles/{role['objectId']}", {"users": {"__op": "RemoveRelation", **member}})
        await call("POST", "/classes/Note", {"text": "staff, ann no longer a member", "ACL": staff})
        await call("PUT", "/schemas/Note", {"classLevelPermissions": {
            "find": {"role:Staff": True}, "get": {"role:Staff": True}, "create": {"*": True}, "update": {"*": True}}})
        await call("POST", "/classes/Note", {"text": "public, class for staff only", "ACL": {"*": {"read": True}}})
        await call("PUT", "/schemas/Note", {"classLevelPermissions": {
            "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True}}})
        await call("POST", "/classes/Note", {"text": "public, class open again", "ACL": {"*": {"read": True}}})
        assert await next_text() == "public, class open again"
        await socket_.close()


def test_role_and_clp_changes_through_one_process_apply_to_the_others_sockets_from_the_next_write(
        redis_server: str, tmp_path: Path) -> None:
    shared = ["--database-uri", f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_server]
    with running_server(*shared) as first, running_server(*shared) as second:
        asyncio.run(asyncio.wait_for(_role_and_clp_change_elsewhere(first, second), 30))
