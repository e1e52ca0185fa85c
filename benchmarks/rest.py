"""REST throughput and latency: creates at concurrency 32, and an equality+range+sort query on 10,000 objects.

Prints one JSON object. `--database-uri mongodb://...` runs against that store instead of the embedded one.
The load client is aiohttp (httpx costs ~8 ms of client CPU per request and would be what we measure).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

import aiohttp

from benchmarks.server import APP_ID, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed_requests(session: aiohttp.ClientSession, make_request: Any, total: int,
                         concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            method, url, body = make_request(index)
            start = time.perf_counter()
            async with session.request(method, url, data=json.dumps(body) if body is not None else None) as reply:
                await reply.read()
                if reply.status >= 300:
                    raise RuntimeError(f"{method} {url} -> {reply.status}")
            latencies.append((time.perf_counter() - start) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    elapsed = time.perf_counter() - began
    return {"per_second": round(total / elapsed, 1), "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2), "count": total}


async def run(url: str, creates: int, objects: int, queries: int, concurrency: int,
              create_class: str = "BenchCreate") -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as session:
        create_stats = await timed_requests(
            session, lambda i: ("POST", f"{url}/classes/{create_class}", {"n": i, "name": f"item{i}"}),
            creates, concurrency)
        if queries == 0:
            return {"creates": create_stats}
        rng = random.Random(7)
        batch: list[dict[str, Any]] = []
        for i in range(objects):
            batch.append({"method": "POST", "path": "/parse/classes/BenchQuery",
                          "body": {"room": f"room{i % 50}", "score": rng.randint(0, 10_000), "i": i}})
            if len(batch) == 500:
                async with session.post(f"{url}/batch", data=json.dumps({"requests": batch})) as reply:
                    await reply.read()
                batch = []

        def query(i: int) -> tuple[str, str, Any]:
            where = json.dumps({"room": f"room{i % 50}", "score": {"$gte": 2000}})
            return ("GET", f"{url}/classes/BenchQuery?where={where}&order=-score&limit=20", None)

        async with session.get(query(0)[1]) as reply:
            sample = await reply.json()
        query_stats = await timed_requests(session, query, queries, concurrency)
    return {"creates": create_stats, "queries": {**query_stats, "rows_per_query": len(sample["results"]),
                                                 "class_size": objects}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-uri", default="")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--cloud", default="", help="serve with this cloud code module (see benchmarks/cloud_*.py)")
    parser.add_argument("--create-class", default="BenchCreate", help="the class the create workload writes")
    args = parser.parse_args()
    extra = ["--database-uri", args.database_uri] if args.database_uri else []
    if args.cloud:
        extra += ["--cloud", args.cloud]
    with running_server(*extra) as url:
        result = asyncio.run(run(url, args.creates, args.objects, args.queries, args.concurrency, args.create_class))
    result["cloud"] = args.cloud or None
    result["store"] = args.database_uri.split(":", 1)[0] if args.database_uri else "sqlite"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
