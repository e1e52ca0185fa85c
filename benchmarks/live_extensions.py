"""LiveQuery's snapshot and include extensions through a real server process: prints one JSON object.

(a) `snapshot`: a subscribe with `"snapshot": true` over 1,000 stored objects (with and without `include` of one
    pointer each): milliseconds from the subscribe frame to the `result` frame, median of a few runs.
(b) `events`: 50 subscribers, 100 creates, each with a pointer: write-to-delivery p50/p99 without `include` and
    with it (the pointed object fetched once per event for the 50 alike readers).
Figures from a shared or busy machine are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
from benchmarks.fanout import open_client
from benchmarks.server import APP_ID, MASTER_KEY, percentile_of, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}


async def next_frame(socket_: Any, op: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(socket_.recv(), 30))
        if frame["op"] == op:
            return frame


async def batch_create(http: aiohttp.ClientSession, url: str, class_name: str, bodies: list[dict[str, Any]]) -> None:
    for start in range(0, len(bodies), 50):
        requests = [{"method": "POST", "path": f"/parse/classes/{class_name}", "body": body}
                    for body in bodies[start:start + 50]]
        async with http.post(f"{url}/batch", data=json.dumps({"requests": requests})) as reply:
            await reply.read()


async def snapshot_ms(ws_url: str, query: dict[str, Any], runs: int) -> float:
    times = []
    socket_ = await open_client(ws_url)
    for request_id in range(1, runs + 1):
        started = time.perf_counter()
        await socket_.send(json.dumps({"op": "subscribe", "requestId": request_id, "snapshot": True,
                                       "query": query}))
        result = await next_frame(socket_, "result")
        times.append((time.perf_counter() - started) * 1000)
        assert len(result["results"]) == query.get("limit", 100)
    await socket_.close()
    return round(statistics.median(times), 1)


async def event_latency(ws_url: str, http: aiohttp.ClientSession, url: str, author_id: str,
                        include: list[str] | None, subscribers: int, writes: int) -> dict[str, float]:
    class_name = f"Post{'Inc' if include else 'Plain'}"
    query: dict[str, Any] = {"className": class_name, "where": {}}
    if include:
        query["include"] = include
    sockets = [await open_client(ws_url) for _ in range(subscribers)]
    for socket_ in sockets:
        await socket_.send(json.dumps({"op": "subscribe", "requestId": 1, "query": query}))
        await next_frame(socket_, "subscribed")
    latencies: list[float] = []

    async def collect(socket_: Any) -> None:
        for _ in range(writes):
            frame = await next_frame(socket_, "create")
            latencies.append((time.time() - frame["object"]["sentAt"]) * 1000)

    readers = [asyncio.create_task(collect(s)) for s in sockets]
    for _ in range(writes):
        body = {"author": {"__type": "Pointer", "className": "Author", "objectId": author_id}, "sentAt": time.time()}
        async with http.post(f"{url}/classes/{class_name}", data=json.dumps(body)) as reply:
            await reply.read()
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    for socket_ in sockets:
        await socket_.close()
    return {"p50_ms": round(percentile_of(latencies, 0.5), 2), "p99_ms": round(percentile_of(latencies, 0.99), 2)}


async def main(quick: bool) -> dict[str, Any]:
    objects, subscribers, writes, runs = (200, 10, 20, 3) if quick else (1000, 50, 100, 5)
    with running_server() as url:
        ws_url = url.replace("http", "ws")
        async with aiohttp.ClientSession(headers={**HEADERS, "X-Parse-Master-Key": MASTER_KEY}) as http:
            async with http.post(f"{url}/classes/Author", data=json.dumps({"name": "Ann"})) as reply:
                author_id = (await reply.json())["objectId"]
            pointer = {"__type": "Pointer", "className": "Author", "objectId": author_id}
            await batch_create(http, url, "Item", [{"n": n, "author": pointer} for n in range(objects)])
            query = {"className": "Item", "where": {}, "limit": objects}
            return {
                "snapshot_ms": {"objects": objects,
                                "plain": await snapshot_ms(ws_url, query, runs),
                                "include": await snapshot_ms(ws_url, {**query, "include": ["author"]}, runs)},
                "events": {"subscribers": subscribers, "writes": writes,
                           "plain": await event_latency(ws_url, http, url, author_id, None, subscribers, writes),
                           "include": await event_latency(ws_url, http, url, author_id, ["author"], subscribers,
                                                          writes)},
            }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    print(json.dumps(asyncio.run(main(parser.parse_args().quick))))
