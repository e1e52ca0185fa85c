"""LiveQuery resumes through a real server process: prints one JSON object.

(a) `replay`: a client (installationId + requestId, as the SDKs reconnect) acknowledges, goes away, misses 1,000
    events, and comes back: ms from its `subscribe` to the last replayed frame, and the server CPU spent, for
    1,000 distinct objects (1,000 frames) and for 100 objects changed 10 times each (coalesced to 100 frames).
(b) `fanout`: the steady-state cost of keeping history: the same broadcast (subscribers on one query, writes at
    a steady rate) with resumes on (the default) and off (`--live-history-seconds 0`): server CPU per delivered
    event. The difference is the history append per event plus the acknowledgement pings.
(c) `record_us`: one `History.record` call in-process (the per-event append), in microseconds.
`--redis-url redis://...` runs (a) and (b) through Redis. Figures on a busy machine are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import timeit
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from benchmarks.fanout import broadcast
from benchmarks.server import APP_ID, process_cpu_seconds, running_server
from livequery.bus import ChangeEvent
from livequery.history import History

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}


async def joined(ws_url: str, installation: str) -> Any:
    socket_ = await connect(ws_url, open_timeout=30, max_queue=None, ping_interval=None)
    await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID, "installationId": installation}))
    await asyncio.wait_for(socket_.recv(), 30)
    return socket_


async def replay(url: str, pid: int, objects: int, events: int) -> dict[str, Any]:
    ws_url, class_name = url.replace("http://", "ws://"), f"Feed{objects}"
    subscribe = json.dumps({"op": "subscribe", "requestId": 1, "query": {"className": class_name, "where": {}}})
    socket_ = await joined(ws_url, "bench-installation")
    await socket_.send(subscribe)
    await asyncio.wait_for(socket_.recv(), 30)
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        async def post(path: str, body: dict[str, Any], method: str = "POST") -> Any:
            async with http.request(method, f"{url}{path}", data=json.dumps(body)) as reply:
                return await reply.json()

        first = await post(f"/classes/{class_name}", {"n": -1})
        await asyncio.wait_for(socket_.recv(), 30)
        await asyncio.sleep(2.5)  # the acknowledgement ping (every second by default) is answered
        await socket_.close()
        await asyncio.sleep(0.5)
        ids: list[str] = [first["objectId"]]
        changed: set[str] = set()  # the objects changed while it was away: one replayed frame each
        for n in range(events):
            if len(ids) < objects:
                ids.append((await post(f"/classes/{class_name}", {"n": n}))["objectId"])
                changed.add(ids[-1])
            else:
                await post(f"/classes/{class_name}/{ids[n % objects]}", {"n": n}, method="PUT")
                changed.add(ids[n % objects])
    expected = len(changed)
    back = await joined(ws_url, "bench-installation")
    cpu_before = process_cpu_seconds(pid)
    began = time.perf_counter()
    await back.send(subscribe)
    frames = 0
    while True:
        frame = json.loads(await asyncio.wait_for(back.recv(), 30))
        if frame.get("op") in ("create", "update", "enter"):
            frames += 1
        if frame.get("op") == "error" or frames >= expected:
            break
    elapsed_ms = (time.perf_counter() - began) * 1000
    cpu_ms = (process_cpu_seconds(pid) - cpu_before) * 1000
    await back.close()
    return {"missed_events": events, "objects": objects, "frames": frames, "replay_ms": round(elapsed_ms, 1),
            "server_cpu_ms": round(cpu_ms, 1)}


def record_microseconds() -> float:
    history = History("bench")
    events = [ChangeEvent(f"C{n % 10}", "update", {"objectId": f"o{n}"}, position=n + 1) for n in range(200_000)]
    feed = iter(events)
    runs = timeit.repeat(lambda: history.record(next(feed)), number=50_000, repeat=3)
    return round(min(runs) / 50_000 * 1e6, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    extra = ["--redis-url", args.redis_url] if args.redis_url else []
    result: dict[str, Any] = {"bus": "redis" if args.redis_url else "memory", "cores": os.cpu_count()}
    for objects in (1000, 100):
        with running_server(*extra) as url:
            result[f"replay_{objects}_objects"] = asyncio.run(replay(url, running_server.last_pid, objects, 1000))
    samples: dict[str, list[float]] = {"on": [], "off": []}
    for _round in range(2):
        for label, flags in (("on", []), ("off", ["--live-history-seconds", "0"])):
            with running_server(*extra, *flags) as url:
                run = asyncio.run(broadcast(url, running_server.last_pid, args.subscribers, args.writes, 0.01))
                samples[label].append(run["server_cpu_us_per_delivered_event"])
    on, off = statistics.median(samples["on"]), statistics.median(samples["off"])
    result["fanout"] = {"subscribers": args.subscribers, "writes": args.writes,
                        "history_on_cpu_us_per_delivered_event": on, "history_off_cpu_us_per_delivered_event": off,
                        "overhead_percent": round((on - off) * 100 / off, 1) if off else None,
                        "samples": samples}
    result["record_us"] = record_microseconds()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
