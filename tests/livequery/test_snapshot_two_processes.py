"""A snapshot subscription on one server process while writers go through another, over Redis: the events come
later than the writes through the bus, and the client still ends with the stored state."""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.server import APP_ID, MASTER_KEY, running_server
from tests.livequery.test_live_snapshot import Applied, apply

HEADERS = {"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY, "Content-Type": "application/json"}


async def _frame(socket_: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket_.recv(), 5))  # type: ignore[no-any-return]


async def _race(writes_url: str, live_url: str) -> None:
    async with aiohttp.ClientSession(headers=HEADERS, timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            async with http.request(method, f"{writes_url}{path}", data=json.dumps(body or {})) as reply:
                return await reply.json()  # type: ignore[no-any-return]

        ids = [(await call("POST", "/classes/Race", {"status": "open", "n": 0}))["objectId"] for _ in range(4)]

        async def writer(seed: int) -> None:
            local = random.Random(seed)
            for step in range(15):
                await asyncio.sleep(local.random() * 0.02)
                status = "open" if local.random() < 0.6 else "closed"
                await call("PUT", f"/classes/Race/{local.choice(ids)}", {"status": status, "n": step})

        async def subscriber(delay: float) -> tuple[ClientConnection, dict[str, Any]]:
            await asyncio.sleep(delay)
            socket_ = await connect(live_url.replace("http://", "ws://"), open_timeout=5)
            await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
            assert (await _frame(socket_))["op"] == "connected"
            await socket_.send(json.dumps({"op": "subscribe", "requestId": 1, "snapshot": True,
                                           "query": {"className": "Race", "where": {"status": "open"}}}))
            assert (await _frame(socket_))["op"] == "subscribed"
            result = await _frame(socket_)
            assert result["op"] == "result"
            return socket_, result

        writers = [asyncio.create_task(writer(seed)) for seed in range(5)]
        clients = await asyncio.gather(*(subscriber(i * 0.03) for i in range(8)))
        await asyncio.gather(*writers)
        fence = await call("POST", "/classes/Race", {"status": "open", "fence": True})
        stored = (await call("GET", "/classes/Race?limit=1000"))["results"]
        expected = {o["objectId"]: o["n"] for o in stored if o.get("status") == "open" and not o.get("fence")}
        for socket_, result in clients:
            state: Applied = {}
            apply(state, result)
            while True:
                frame = await _frame(socket_)
                if frame.get("object", {}).get("objectId") == fence["objectId"]:
                    break
                assert frame["op"] in ("create", "enter", "update", "leave", "delete"), frame
                apply(state, frame)
            assert {oid: obj["n"] for oid, obj in state.items()} == expected
            await socket_.close()


def test_snapshot_subscribers_of_one_process_end_with_the_state_written_through_another(
        redis_server: str, tmp_path: Path) -> None:
    shared = ["--database-uri", f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_server]
    with running_server(*shared) as writes, running_server(*shared) as live:
        asyncio.run(asyncio.wait_for(_race(writes, live), 60))
