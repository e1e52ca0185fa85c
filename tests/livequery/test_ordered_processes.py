"""Two server processes on one Redis: one order of events per object, resumes across processes, and a Redis
restart in the middle of a write stream that loses nothing a subscriber with an open socket was promised."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.server import APP_ID, MASTER_KEY, running_server
from livequery.bus import ChangeEvent
from livequery.bus.redis import channel_name
from tests.storage.mongo_server import fresh_database

HEADERS = {"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY, "Content-Type": "application/json"}
WAIT = 10.0


async def subscribe(url: str, where: dict[str, Any], **extra: Any) -> tuple[ClientConnection, dict[str, Any]]:
    socket_ = await connect(url.replace("http://", "ws://"), open_timeout=5)
    await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), WAIT))["op"] == "connected"
    await socket_.send(json.dumps({"op": "subscribe", "requestId": 1,
                                   "query": {"className": "Counter", "where": where}, **extra}))
    reply = json.loads(await asyncio.wait_for(socket_.recv(), WAIT))
    assert reply["op"] == "subscribed", reply
    return socket_, reply


async def frames_until(socket_: ClientConnection, done: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or not done(frames[-1]):
        frames.append(json.loads(await asyncio.wait_for(socket_.recv(), WAIT)))
    return frames


async def post(http: aiohttp.ClientSession, url: str, path: str, body: dict[str, Any], method: str = "POST") -> Any:
    async with http.request(method, f"{url}{path}", data=json.dumps(body), headers=HEADERS) as reply:
        assert reply.status < 300, await reply.text()
        return await reply.json()


async def _concurrent_writers(first: str, second: str) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        created = await post(http, first, "/classes/Counter", {"name": "c", "n": 0})
        path = f"/classes/Counter/{created['objectId']}"
        watchers = [(await subscribe(url, {"name": "c"}))[0] for url in (first, second)]

        async def increments(url: str) -> None:  # five at a time: requests stamped in one order commit in another
            for _ in range(3):
                await asyncio.gather(*(post(http, url, path, {"n": {"__op": "Increment", "amount": 1}}, method="PUT")
                                       for _ in range(5)))

        await asyncio.gather(increments(first), increments(second))
        for socket_ in watchers:
            frames = await frames_until(socket_, lambda frame: frame["object"]["n"] == 30)
            stamps = [frame["object"]["updatedAt"] for frame in frames]
            assert stamps == sorted(stamps), "an older state arrived after a newer one"
            assert all(frame["op"] == "update" for frame in frames), [f for f in frames if f["op"] != "update"]
            await socket_.close()


def on_two_processes(redis_url: str, tmp_path: Path, scenario: Any, *more: Any, database_uri: str = "") -> None:
    """Run `scenario(first_url, second_url, *more)` against two processes sharing a database (a SQLite file in
    `tmp_path` unless `database_uri`) and Redis."""
    shared = ["--database-uri", database_uri or f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_url]
    with running_server(*shared) as first, running_server(*shared) as second:
        asyncio.run(asyncio.wait_for(scenario(first, second, *more), 90))


@pytest.mark.parametrize("store", ["sqlite", "mongodb"])
def test_concurrent_writers_on_two_processes_reach_every_subscriber_in_commit_order(
        store: str, redis_server: str, tmp_path: Path) -> None:
    # On MongoDB (SecantusDB here) concurrent increments once committed in the other order than their stamps and
    # the order guard dropped the final state: the stamp is now taken inside the atomic update.
    if store == "mongodb":
        with fresh_database() as uri:
            on_two_processes(redis_server, tmp_path, _concurrent_writers, database_uri=uri)
    else:
        on_two_processes(redis_server, tmp_path, _concurrent_writers)


async def _resume_elsewhere(first: str, second: str) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        socket_, _ = await subscribe(first, {"name": "r"}, resumeFrom=None)
        one = await post(http, first, "/classes/Counter", {"name": "r", "n": 1})
        seen = json.loads(await asyncio.wait_for(socket_.recv(), WAIT))
        assert seen["object"]["objectId"] == one["objectId"]
        await socket_.close()
        two = await post(http, second, "/classes/Counter", {"name": "r", "n": 2})
        await post(http, first, f"/classes/Counter/{one['objectId']}", {"n": 10}, method="PUT")

        back, _ = await subscribe(second, {"name": "r"}, resumeFrom=seen["position"])
        fence = await post(http, first, "/classes/Counter", {"name": "r", "n": -1})
        frames = await frames_until(back, lambda frame: frame["object"]["objectId"] == fence["objectId"])
        assert [(f["op"], f["object"]["objectId"], f["object"]["n"]) for f in frames[:-1]] == [
            ("create", two["objectId"], 2), ("update", one["objectId"], 10)]
        await back.close()


def test_a_client_resumes_from_its_position_on_another_process(redis_server: str, tmp_path: Path) -> None:
    on_two_processes(redis_server, tmp_path, _resume_elsewhere)


async def _through_a_restart(writer: str, reader: str, redis: Any) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        watchers = [(await subscribe(url, {"name": "w"}))[0] for url in (writer, reader)]
        for n in range(1, 41):
            if n == 15:
                redis.restart()  # empty, as a Redis without persistence comes back
            await post(http, writer, "/classes/Counter", {"name": "w", "n": n})
        for socket_ in watchers:
            frames = await frames_until(socket_, lambda frame: frame["object"]["n"] == 40)
            assert [(f["op"], f["object"]["n"]) for f in frames] == [("create", n) for n in range(1, 41)]
            await socket_.close()


def test_a_redis_restart_in_the_middle_of_a_write_stream_loses_nothing_for_open_sockets(
        redis_server_control: Any, tmp_path: Path) -> None:
    on_two_processes(redis_server_control.url, tmp_path, _through_a_restart, redis_server_control)


async def _resume_on_a_fresh_process(first: str, second: str) -> None:
    """The stream already holds events when the processes start: a subscription made before either has
    dispatched anything resumes without a reset."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        socket_, reply = await subscribe(second, {"name": "f"}, resumeFrom=None)
        await socket_.close()
        missed = await post(http, first, "/classes/Counter", {"name": "f", "n": 1})
        back, _ = await subscribe(second, {"name": "f"}, resumeFrom=reply["position"])
        frame = json.loads(await asyncio.wait_for(back.recv(), WAIT))
        assert (frame["op"], frame["object"]["objectId"]) == ("create", missed["objectId"])
        await back.close()


def test_a_subscription_made_before_a_process_dispatched_anything_resumes(redis_server: str,
                                                                          tmp_path: Path) -> None:
    earlier = redis.Redis.from_url(redis_server)
    try:  # an event of an earlier life of the app: the processes start reading after it
        earlier.xadd(channel_name(APP_ID), {b"e": msgspec.json.encode(ChangeEvent("Old", "create", {}))})
    finally:
        earlier.close()
    on_two_processes(redis_server, tmp_path, _resume_on_a_fresh_process)
