"""LiveQuery fan-out through a real server process: prints one JSON object, its `goals` first (issue 18).

(a) `broadcast`: 200 subscribers on one query, writes paced so that 10,000 events/s are offered (50 writes/s):
    server CPU per delivered event (from the server process's own times), delivered/expected, write-to-delivery
    p50/p99. The subscribers are spread over several client processes, each of which reports how busy it was: a
    run whose clients were saturated, or that lost events, says `client_bound` and is no server figure.
(b) `selective`: 2,000 and 100,000 subscriptions on distinct `room` values (over 100 connections), writes to
    random subscribed rooms: latency p50/p99 per delivered event, and server CPU per write (REST handling
    included, so compare the two sizes: flat means the matcher did not scan every subscription).
(c) `idle`: server memory for 10,000 idle connections with one subscription each.
`--redis-url redis://...` runs the same through Redis instead of the in-process bus; `--metrics-off` repeats the
broadcast with `--metrics off` to show what metrics cost per event. The machine is shared: repeat short runs
(`--runs`) and compare ratios, not absolute figures from different sittings.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time
import uuid
from typing import Any

import aiohttp
import msgspec
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from benchmarks.server import APP_ID, MASTER_KEY, percentile_of, process_cpu_seconds, process_rss_mb, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
CLIENT_BUSY_LIMIT = 0.85  # a client process busier than this share of a core may be what limits the run


async def open_client(ws_url: str, installation_id: str | None = None) -> Any:
    """A connected LiveQuery socket; `installation_id` as the Parse SDKs send one (the server then has the client
    acknowledge what it read, for resumes, with a websocket ping per second: see livequery/resume.py)."""
    socket_ = await connect(ws_url, open_timeout=60, max_queue=None, ping_interval=None, compression=None)
    connect_message = {"op": "connect", "applicationId": APP_ID}
    if installation_id is not None:
        connect_message["installationId"] = installation_id
    await socket_.send(json.dumps(connect_message))
    await asyncio.wait_for(socket_.recv(), 60)
    return socket_


async def subscribe(socket_: Any, request_id: int, where: dict[str, Any], class_name: str) -> None:
    await socket_.send(json.dumps({"op": "subscribe", "requestId": request_id,
                                   "query": {"className": class_name, "where": where}}))


async def collect(socket_: Any, expected: int, latencies: list[float], deadline: float) -> int:
    got = 0
    decode = msgspec.json.decode
    while got < expected:
        try:
            raw = await asyncio.wait_for(socket_.recv(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        frame = decode(raw)
        if frame.get("op") == "create":
            latencies.append((time.time() - frame["object"]["sentAt"]) * 1000)
            got += 1
    return got


async def write(http: aiohttp.ClientSession, url: str, class_name: str, body: dict[str, Any]) -> None:
    async with http.post(f"{url}/classes/{class_name}", data=json.dumps({**body, "sentAt": time.time()})) as reply:
        await reply.read()
        if reply.status != 201:
            raise RuntimeError(f"write failed: {reply.status}")


# --- (a) broadcast: subscribers in client processes ------------------------------------------------------------

def _subscriber_process(ws_url: str, count: int, writes: int, ready: Any, start: Any, results: Any,
                        finish: Any, installation_ids: bool) -> None:
    """One load-client process: `count` sockets subscribed to the broadcast query; reports what it received, and
    closes its sockets when told to (after the server's CPU was read: closing is not fanning out)."""

    async def run() -> None:
        sockets = [await open_client(ws_url, str(uuid.uuid4()) if installation_ids else None) for _ in range(count)]
        for socket_ in sockets:
            await subscribe(socket_, 1, {"event": "live"}, "Reaction")
        for socket_ in sockets:
            await asyncio.wait_for(socket_.recv(), 60)  # subscribed
        ready.release()
        await asyncio.get_running_loop().run_in_executor(None, start.wait)
        latencies: list[float] = []
        cpu_before, began = time.process_time(), time.perf_counter()
        deadline = time.monotonic() + 30 + writes * 0.05
        got = await asyncio.gather(*[collect(s, writes, latencies, deadline) for s in sockets])
        busy = (time.process_time() - cpu_before) / (time.perf_counter() - began)
        results.put((sum(got), latencies, busy))
        await asyncio.get_running_loop().run_in_executor(None, finish.wait, 120)
        for socket_ in sockets:
            await socket_.close()

    asyncio.run(run())


async def _paced_writes(url: str, writes: int, interval: float, event: str = "live") -> float:
    """Writes at a steady pace (catching up if a sleep overslept); returns the seconds it took."""
    async with aiohttp.ClientSession(headers=HEADERS) as http:
        began = time.perf_counter()
        pending = []
        for i in range(writes):
            delay = began + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(write(http, url, "Reaction", {"event": event, "i": i})))
        await asyncio.gather(*pending)
        return time.perf_counter() - began


def broadcast(url: str, pid: int, subscribers: int, rate: float, seconds: float, processes: int,
              installation_ids: bool = True) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://")
    writes = max(1, round(rate / subscribers * seconds))
    interval = subscribers / rate
    # the class exists before the measured part: creating it (schema, indexes) is not fanning out
    asyncio.run(_paced_writes(url, 1, 0.0, event="warm-up"))
    context = multiprocessing.get_context("spawn")
    ready, start, finish, results = context.Semaphore(0), context.Event(), context.Event(), context.Queue()
    shares = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
    workers = [context.Process(target=_subscriber_process, args=(ws_url, n, writes, ready, start, results, finish,
                                                                      installation_ids))
               for n in shares if n]
    for worker in workers:
        worker.start()
    for _ in workers:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a client process did not subscribe in time")
    cpu_before = process_cpu_seconds(pid)
    began = time.perf_counter()
    start.set()
    write_seconds = asyncio.run(_paced_writes(url, writes, interval))
    outcomes = [results.get(timeout=120 + writes * 0.05) for _ in workers]
    elapsed = time.perf_counter() - began
    cpu = process_cpu_seconds(pid) - cpu_before
    finish.set()
    for worker in workers:
        worker.join(30)
    delivered = sum(got for got, _, _ in outcomes)
    latencies = [ms for _, samples, _ in outcomes for ms in samples]
    client_busy = max(busy for _, _, busy in outcomes)
    expected = subscribers * writes
    return {"subscribers": subscribers, "writes": writes, "offered_events_per_s": round(expected / write_seconds),
            "delivered": delivered, "expected": expected,
            "latency_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
            "latency_p99_ms": round(percentile_of(latencies, 0.99), 2) if latencies else None,
            "server_cpu_us_per_delivered_event": round(cpu * 1e6 / max(delivered, 1), 1),
            "server_cpu_busy": round(cpu / elapsed, 2),
            "client_processes": len(workers), "client_busiest_cpu": round(client_busy, 2),
            "installation_ids": installation_ids,
            # the writer is part of the load client: one that could not keep the pace offered less than asked
            "client_bound": client_busy > CLIENT_BUSY_LIMIT or delivered < expected
            or expected / write_seconds < 0.9 * rate}


# --- (b) selective ---------------------------------------------------------------------------------------------

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
    collections = await server_gc(url)
    for socket_ in sockets:
        await socket_.close()
    return {**collections, "subscriptions": subscriptions, "connections": connections, "writes": writes,
            "delivered": delivered, "events_per_s": round(delivered / elapsed, 1),
            "latency_p50_ms": round(statistics.median(latencies), 2),
            "latency_p99_ms": round(percentile_of(latencies, 0.99), 2),
            "server_cpu_ms_per_write": round(cpu * 1000 / writes, 3)}


async def server_gc(url: str) -> dict[str, Any]:
    """The server's full garbage collections so far (its /metrics): each held its event loop while it walked the
    heap, which the sockets and subscriptions made."""
    base = url[:url.index("/", len("http://"))]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/metrics", headers={"X-Parse-Master-Key": MASTER_KEY}) as reply:
            text = await reply.text()
    values = {sample.name: sample.value for family in text_string_to_metric_families(text)
              for sample in family.samples}
    return {"server_gc_full_collections": int(values.get("livequery_gc_full_collections_total", 0)),
            "server_gc_full_seconds": round(values.get("livequery_gc_full_pause_seconds_total", 0.0), 2),
            "server_gc_longest_pause_ms": round(values.get("livequery_gc_full_pause_longest_seconds", 0.0) * 1000, 1)}


# --- (c) idle --------------------------------------------------------------------------------------------------

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
    collections = await server_gc(url)
    for socket_ in sockets:
        await socket_.close()
    return {**collections, "connections": connections, "server_rss_before_mb": before, "server_rss_after_mb": after,
            "kb_per_connection": round((after - before) * 1024 / connections, 1)}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU per event among those not client-bound (all runs if every one was)."""
    usable = [run for run in runs if not run["client_bound"]] or runs
    usable.sort(key=lambda run: run["server_cpu_us_per_delivered_event"])
    chosen = dict(usable[len(usable) // 2])
    chosen["cpu_us_per_event_of_each_run"] = [run["server_cpu_us_per_delivered_event"] for run in runs]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", default="broadcast,selective,idle", help="comma-separated parts to run")
    parser.add_argument("--runs", type=int, default=3, help="broadcast runs (the median is reported)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one broadcast run")
    parser.add_argument("--rate", type=float, default=10_000, help="events/s offered in the broadcast")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--metrics-off", action="store_true", help="also run the broadcast with --metrics off")
    parser.add_argument("--server-arg", action="append", default=[], help="an extra `livequery serve` argument")
    parser.add_argument("--no-installation-ids", action="store_true",
                        help="broadcast subscribers connect without an installationId (the SDKs send one; such a "
                        "client is not asked to acknowledge what it read, so it cannot be resumed implicitly)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    extra = (["--redis-url", args.redis_url] if args.redis_url else []) + args.server_arg
    sizes = (2_000, 10_000) if args.quick else (2_000, 100_000)
    result: dict[str, Any] = {"goals": {}, "bus": "redis" if args.redis_url else "memory", "cores": os.cpu_count()}
    goals = result["goals"]

    def broadcast_runs(*server_args: str) -> dict[str, Any]:
        runs = []
        for _ in range(args.runs):
            with running_server(*extra, *server_args) as url:
                runs.append(broadcast(url, running_server.last_pid, args.subscribers, args.rate,  # type: ignore[attr-defined]
                                      args.seconds if not args.quick else 1.0, args.client_processes,
                                      installation_ids=not args.no_installation_ids))
        return _best(runs)

    if "broadcast" in parts:
        result["broadcast"] = chosen = broadcast_runs()
        goals["fanout_cpu_us_per_delivered_event"] = chosen["server_cpu_us_per_delivered_event"]
        goals["fanout_delivered"] = f"{chosen['delivered']}/{chosen['expected']}"
        goals["fanout_p99_ms"] = chosen["latency_p99_ms"]
        goals["fanout_client_bound"] = chosen["client_bound"]
        if args.metrics_off:
            result["broadcast_metrics_off"] = off = broadcast_runs("--metrics", "off")
            goals["fanout_cpu_us_per_delivered_event_metrics_off"] = off["server_cpu_us_per_delivered_event"]
    if "selective" in parts:
        for size in sizes:
            # 1,000 subscribes per socket keep a socket's reads busy for long on a loaded machine: pings wait longer
            with running_server(*extra, "--websocket-ping-seconds", "120") as url:
                pid = running_server.last_pid  # type: ignore[attr-defined]
                result[f"selective_{size}"] = asyncio.run(selective(url, pid, size, 100,
                                                                    500 if not args.quick else 100))
        small, large = (result[f"selective_{size}"] for size in sizes)
        goals[f"selective_cpu_ms_per_write_{sizes[0]}_vs_{sizes[1]}"] = [
            small["server_cpu_ms_per_write"], large["server_cpu_ms_per_write"]]
        goals[f"selective_p50_ms_{sizes[0]}_vs_{sizes[1]}"] = [small["latency_p50_ms"], large["latency_p50_ms"]]
    if "idle" in parts:
        with running_server(*extra) as url:
            result["idle"] = asyncio.run(idle(url, running_server.last_pid,  # type: ignore[attr-defined]
                                              10_000 if not args.quick else 1_000))
        goals["idle_kb_per_socket"] = result["idle"]["kb_per_connection"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
