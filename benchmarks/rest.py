"""REST throughput and latency: creates at concurrency 32, and an equality+range+sort query on 10,000 objects.

Prints one JSON object. By default it starts our server (embedded SQLite store; `--redis` starts a throwaway
redis-server and serves with the Redis bus on, `--redis-url URL` uses one that runs). `--target-url URL --app-id ID`
measures a server that is already running instead (Parse Server, say); `--target-pid PID` adds that server's CPU.
`--compare-parse URL --parse-app-id ID [--parse-pid PID]` measures ours and that server one after the other with
the same client and prints both and the ratios (ours / theirs). `--index` adds the compound index the query wants
(`{room: 1, score: -1}`, through the schemas API with the master key) on whichever server is measured.

The load client is aiohttp spread over `--client-processes` processes (httpx costs ~8 ms of client CPU per request
and would be what we measure). Each phase reports the server's CPU per operation from its own process times, and
`client_bound`: true when a client process was busy more than 85 % of the phase, so the figure measures the client.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp

from benchmarks.server import APP_ID, MASTER_KEY, free_port, process_cpu_seconds, running_server

CLIENT_BUSY_LIMIT = 0.85  # a client process busier than this share of the phase may be what limits it


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def create_request(url: str, class_name: str, index: int) -> tuple[str, str, Any]:
    return "POST", f"{url}/classes/{class_name}", {"n": index, "name": f"item{index}"}


def query_request(url: str, class_name: str, index: int) -> tuple[str, str, Any]:
    where = json.dumps({"room": f"room{index % 50}", "score": {"$gte": 2000}})
    return "GET", f"{url}/classes/{class_name}?where={urllib.parse.quote(where)}&order=-score&limit=20", None


WORKLOADS = {"create": create_request, "query": query_request}


async def _client(url: str, app_id: str, workload: str, class_name: str, indexes: list[int],
                  concurrency: int) -> list[float]:
    make = WORKLOADS[workload]
    latencies: list[float] = []
    todo = iter(indexes)
    headers = {"X-Parse-Application-Id": app_id, "Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for index in todo:
            method, target, body = make(url, class_name, index)
            start = time.perf_counter()
            async with session.request(method, target, data=json.dumps(body) if body is not None else None) as reply:
                await reply.read()
                if reply.status >= 300:
                    raise RuntimeError(f"{method} {target} -> {reply.status}")
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        await asyncio.gather(*[worker(session) for _ in range(concurrency)])
    return latencies


def _client_process(args: tuple[Any, ...]) -> tuple[list[float], float, float, float]:
    """One load process: its latencies, when it started and ended (wall clock), and the CPU it used."""
    url, app_id, workload, class_name, indexes, concurrency, start_at = args
    time.sleep(max(0.0, start_at - time.time()))  # every process starts together
    cpu = time.process_time()
    began = time.time()
    latencies = asyncio.run(_client(url, app_id, workload, class_name, indexes, concurrency))
    return latencies, began, time.time(), time.process_time() - cpu


def measure(pool: Any, url: str, app_id: str, workload: str, class_name: str, total: int, concurrency: int,
            processes: int, server_pid: int | None) -> dict[str, Any]:
    """Run `total` requests of the workload at `concurrency`, split over the pool's processes."""
    start_at = time.time() + 0.5
    shares = [list(range(i, total, processes)) for i in range(processes)]
    per_process = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    cpu_before = process_cpu_seconds(server_pid) if server_pid else None
    outcomes = pool.map(_client_process, [(url, app_id, workload, class_name, share, connections, start_at)
                                          for share, connections in zip(shares, per_process)])
    cpu_after = process_cpu_seconds(server_pid) if server_pid else None
    latencies = [latency for outcome in outcomes for latency in outcome[0]]
    elapsed = max(outcome[2] for outcome in outcomes) - min(outcome[1] for outcome in outcomes)
    client_busy = max(outcome[3] / (outcome[2] - outcome[1]) for outcome in outcomes)
    stats: dict[str, Any] = {
        "per_second": round(total / elapsed, 1), "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2), "count": total,
        "client_busiest_process": round(client_busy, 2), "client_bound": client_busy > CLIENT_BUSY_LIMIT}
    if cpu_before is not None and cpu_after is not None:
        # the server's whole CPU over the phase (its event loop and its store threads) per operation
        stats["server_cpu_us_per_op"] = round((cpu_after - cpu_before) / total * 1e6, 1)
        stats["server_busy"] = round((cpu_after - cpu_before) / elapsed, 2)
    return stats


async def add_index(url: str, app_id: str, master_key: str, class_name: str) -> None:
    """The query's compound index (room, score descending), through the schemas API as an app would add it."""
    headers = {"X-Parse-Application-Id": app_id, "X-Parse-Master-Key": master_key, "Content-Type": "application/json"}
    body = {"className": class_name, "indexes": {"room_score": {"room": 1, "score": -1}}}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.put(f"{url}/schemas/{class_name}", data=json.dumps(body)) as reply:
            if reply.status >= 300:
                raise RuntimeError(f"adding the index failed: {reply.status} {(await reply.text())[:300]}")


async def fill(url: str, app_id: str, class_name: str, objects: int) -> int:
    """Write the query workload's objects through /batch (100 a request, 4 requests at once); returns the rows one
    query finds. The first object is written alone: it creates the class."""
    mount = urllib.parse.urlparse(url).path
    headers = {"X-Parse-Application-Id": app_id, "Content-Type": "application/json"}
    rng = random.Random(7)
    bodies = [{"room": f"room{i % 50}", "score": rng.randint(0, 10_000), "i": i} for i in range(objects)]
    async with aiohttp.ClientSession(headers=headers) as session:

        async def post_batch(first: int, last: int) -> None:
            batch = [{"method": "POST", "path": f"{mount}/classes/{class_name}", "body": bodies[i]}
                     for i in range(first, last)]
            async with session.post(f"{url}/batch", data=json.dumps({"requests": batch})) as reply:
                answer = await reply.json()
                if reply.status >= 300 or any("error" in item for item in answer):
                    raise RuntimeError(f"batch failed: {reply.status} {str(answer)[:300]}")

        await post_batch(0, 1)
        starts = list(range(1, objects, 100))
        for group in range(0, len(starts), 4):
            await asyncio.gather(*[post_batch(first, min(objects, first + 100)) for first in starts[group:group + 4]])
        async with session.get(query_request(url, class_name, 0)[1]) as reply:
            return len((await reply.json())["results"])


def run(url: str, app_id: str, server_pid: int | None, args: argparse.Namespace,
        master_key: str = MASTER_KEY) -> dict[str, Any]:
    suffix = f"{os.getpid()}x{random.randrange(10**6)}"  # a fresh class per run: a server measured twice
    creates_class = args.create_class or f"BenchCreate{suffix}"
    query_class = f"BenchQuery{suffix}"
    context = multiprocessing.get_context("fork")
    with context.Pool(args.client_processes) as pool:
        result: dict[str, Any] = {"url": url, "client_processes": args.client_processes}
        # a few requests first so both servers have made the class and warmed their caches
        measure(pool, url, app_id, "create", creates_class, 64, args.concurrency, args.client_processes, None)
        result["creates"] = measure(pool, url, app_id, "create", creates_class, args.creates, args.concurrency,
                                    args.client_processes, server_pid)
        if args.queries:
            rows = asyncio.run(fill(url, app_id, query_class, args.objects))
            if args.index:
                asyncio.run(add_index(url, app_id, master_key, query_class))
            measure(pool, url, app_id, "query", query_class, 64, args.concurrency, args.client_processes, None)
            result["queries"] = {**measure(pool, url, app_id, "query", query_class, args.queries, args.concurrency,
                                           args.client_processes, server_pid),
                                 "rows_per_query": rows, "class_size": args.objects, "compound_index": args.index}
    return result


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("--redis needs redis-server on PATH (scripts/test installs it)")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen([executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait(timeout=10)


def ours(args: argparse.Namespace) -> dict[str, Any]:
    extra = ["--database-uri", args.database_uri] if args.database_uri else []
    if args.cloud:
        extra += ["--cloud", args.cloud]
    if args.workers > 1:
        extra += ["--workers", str(args.workers)]
    with contextlib.ExitStack() as stack:
        redis_url = args.redis_url or (stack.enter_context(throwaway_redis()) if args.redis else "")
        if redis_url:
            extra += ["--redis-url", redis_url]
        url = stack.enter_context(running_server(*extra))
        result = run(url, APP_ID, running_server.last_pid, args)  # type: ignore[attr-defined]
    result.update(server="livequery", cloud=args.cloud or None, redis_bus=bool(redis_url),
                  store=args.database_uri.split(":", 1)[0] if args.database_uri else "sqlite")
    return result


def ratios(ours_result: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase in ("creates", "queries"):
        if phase in ours_result and phase in theirs:
            out[f"{phase}_per_second"] = round(ours_result[phase]["per_second"] / theirs[phase]["per_second"], 2)
            if "server_cpu_us_per_op" in ours_result[phase] and "server_cpu_us_per_op" in theirs[phase]:
                out[f"{phase}_server_cpu"] = round(ours_result[phase]["server_cpu_us_per_op"]
                                                   / theirs[phase]["server_cpu_us_per_op"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-uri", default="")
    parser.add_argument("--workers", type=int, default=1,
                        help="serve ours with this many worker processes (needs --redis or --redis-url)")
    parser.add_argument("--redis", action="store_true", help="serve ours with the Redis bus on a throwaway redis")
    parser.add_argument("--redis-url", default="", help="serve ours with the Redis bus on this Redis")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client-processes", type=int, default=2, help="load client processes (default 2)")
    parser.add_argument("--cloud", default="", help="serve with this cloud code module (see benchmarks/cloud_*.py)")
    parser.add_argument("--create-class", default="", help="the class the create workload writes (default: new)")
    parser.add_argument("--target-url", default="", help="measure this running server instead of starting ours")
    parser.add_argument("--app-id", default=APP_ID, help="the target's application id")
    parser.add_argument("--target-pid", type=int, default=0, help="the target server's process id, for its CPU")
    parser.add_argument("--master-key", default=MASTER_KEY, help="the target's master key (for --index)")
    parser.add_argument("--index", action="store_true",
                        help="add the compound index {room: 1, score: -1} through the schemas API before querying")
    parser.add_argument("--compare-parse", default="", metavar="URL", help="also measure this Parse Server")
    parser.add_argument("--parse-app-id", default="parsebench")
    parser.add_argument("--parse-pid", type=int, default=0, help="Parse Server's process id, for its CPU")
    parser.add_argument("--parse-master-key", default="parsebench-master", help="Parse Server's master key")
    args = parser.parse_args()
    if args.target_url:
        result = {**run(args.target_url.rstrip("/"), args.app_id, args.target_pid or None, args, args.master_key),
                  "server": "target"}
    elif args.compare_parse:
        mine = ours(args)
        parse = {**run(args.compare_parse.rstrip("/"), args.parse_app_id, args.parse_pid or None, args,
                       args.parse_master_key), "server": "parse"}
        result = {"livequery": mine, "parse": parse, "ratio": ratios(mine, parse)}
    else:
        result = ours(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
