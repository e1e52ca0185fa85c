"""LiveQuery fan-out through a real server process: prints one JSON object.

(a) `broadcast`: 200 subscribers on one query, 200 writes: delivered/expected, events/s, write-to-delivery p50/p99.
(b) `selective`: 2,000 and 100,000 subscriptions on distinct `room` values (over 100 connections), writes to
    random subscribed rooms: latency p50/p99 per delivered event, and server CPU per write (REST handling
    included, so compare the two sizes: flat means the matcher did not scan every subscription).
(c) `idle`: server memory for 10,000 idle connections with one subscription each.
`--redis-url redis://...` runs the same through Redis instead of the in-process bus.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from benchmarks.server import APP_ID, percentile_of, process_cpu_seconds, process_rss_mb, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}


async def open_client(ws_url: str) -> Any:
    socket_ = await connect(ws_url, open_timeout=30, max_queue=None, ping_interval=None)
    await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
    await asyncio.wait_for(socket_.recv(), 30)
    return socket_


async def subscribe(socket_: Any, request_id: int, where: dict[str, Any], class_name: str) -> None:
    await socket_.send(json.dumps({"op": "subscribe", "requestId": request_id,
                                   "query": {"className": class_name, "where": where}}))


async def collect(socket_: Any, expected: int, latencies: list[float], deadline: float) -> int:
    got = 0
    while got < expected:
        try:
            raw = await asyncio.wait_for(socket_.recv(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        frame = json.loads(raw)
        if frame.get("op") == "create":
            latencies.append((time.time() - frame["object"]["sentAt"]) * 1000)
            got += 1
    return got


async def write(http: aiohttp.ClientSession, url: str, class_name: str, body: dict[str, Any]) -> None:
    async with http.post(f"{url}/classes/{class_name}", data=json.dumps({**body, "sentAt": time.time()})) as reply:
        await reply.read()
        if reply.status != 201:
            raise RuntimeError(f"write failed: {reply.status}")


async def broadcast(url: str, pid: int, subscribers: int, writes: int, interval: float) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://")
    sockets = [await open_client(ws_url) for _ in range(subscribers)]
    for socket_ in sockets:
        await subscribe(socket_, 1, {"event": "live"}, "Reaction")
    for socket_ in sockets:
        await asyncio.wait_for(socket_.recv(), 30)  # subscribed
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        deadline = time.monotonic() + 60
        collectors = [asyncio.create_task(collect(s, writes, latencies, deadline)) for s in sockets]
        cpu_before = process_cpu_seconds(pid)
        began = time.perf_counter()
        pending = []
        for i in range(writes):
            pending.append(asyncio.create_task(write(http, url, "Reaction", {"event": "live", "i": i})))
            await asyncio.sleep(interval)
        await asyncio.gather(*pending)
        delivered = sum(await asyncio.gather(*collectors))
        elapsed = time.perf_counter() - began
        cpu = process_cpu_seconds(pid) - cpu_before
    for socket_ in sockets:
        await socket_.close()
    return {"subscribers": subscribers, "writes": writes, "delivered": delivered,
            "expected": subscribers * writes, "events_per_s": round(delivered / elapsed, 1),
            "latency_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
            "latency_p99_ms": round(percentile_of(latencies, 0.99), 2) if latencies else None,
            "server_cpu_us_per_delivered_event": round(cpu * 1e6 / max(delivered, 1), 1),
            "server_cpu_busy": round(cpu / elapsed, 2)}


async def selective(url: str, pid: int, subscriptions: int, connections: int, writes: int) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://")
    sockets = [await open_client(ws_url) for _ in range(connections)]
    owner: dict[int, Any] = {}
    for room in range(subscriptions):
        socket_ = sockets[room % connections]
        owner[room] = socket_
        await subscribe(socket_, room + 1, {"room": f"r{room}"}, f"Room{subscriptions}")
    for index, socket_ in enumerate(sockets):  # wait for every `subscribed`
        expected = len(range(index, subscriptions, connections))
        for _ in range(expected):
            await asyncio.wait_for(socket_.recv(), 120)
    rng = random.Random(11)
    rooms = [rng.randrange(subscriptions) for _ in range(writes)]
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        cpu_before = process_cpu_seconds(pid)
        began = time.perf_counter()
        delivered = 0
        for room in rooms:  # one write at a time: the latency of each is then the system's, not a queue's
            await write(http, url, f"Room{subscriptions}", {"room": f"r{room}"})
            delivered += await collect(owner[room], 1, latencies, time.monotonic() + 5)
        elapsed = time.perf_counter() - began
        cpu = process_cpu_seconds(pid) - cpu_before
    for socket_ in sockets:
        await socket_.close()
    return {"subscriptions": subscriptions, "connections": connections, "writes": writes,
            "delivered": delivered, "events_per_s": round(delivered / elapsed, 1),
            "latency_p50_ms": round(statistics.median(latencies), 2),
            "latency_p99_ms": round(percentile_of(latencies, 0.99), 2),
            "server_cpu_ms_per_write": round(cpu * 1000 / writes, 3)}


async def idle(url: str, pid: int, connections: int) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://")
    before = process_rss_mb(pid)
    sockets = []
    for start in range(0, connections, 200):
        batch = await asyncio.gather(*[open_client(ws_url) for _ in range(start, min(connections, start + 200))])
        for offset, socket_ in enumerate(batch):
            await subscribe(socket_, 1, {"room": f"idle{start + offset}"}, "Idle")
        sockets.extend(batch)
    for socket_ in sockets:
        await asyncio.wait_for(socket_.recv(), 60)
    await asyncio.sleep(1)
    after = process_rss_mb(pid)
    for socket_ in sockets:
        await socket_.close()
    return {"connections": connections, "server_rss_before_mb": before, "server_rss_after_mb": after,
            "kb_per_connection": round((after - before) * 1024 / connections, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    extra = ["--redis-url", args.redis_url] if args.redis_url else []
    sizes = (2_000, 10_000) if args.quick else (2_000, 100_000)
    result: dict[str, Any] = {"bus": "redis" if args.redis_url else "memory", "cores": os.cpu_count()}
    with running_server(*extra) as url:
        result["broadcast"] = asyncio.run(broadcast(url, running_server.last_pid, 200,
                                                    200 if not args.quick else 50, 0.005))
    for size in sizes:
        with running_server(*extra) as url:
            pid = running_server.last_pid
            result[f"selective_{size}"] = asyncio.run(selective(url, pid, size, 100, 500 if not args.quick else 100))
    with running_server(*extra) as url:
        result["idle"] = asyncio.run(idle(url, running_server.last_pid, 10_000 if not args.quick else 1_000))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
