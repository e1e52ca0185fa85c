"""Hostile requests against a real `livequery serve`: how long each takes to be answered, and the latency of
another client's `/health` while they run (issue 8). Prints one JSON object. Figures on a busy machine are
indicative only.

    .venv/bin/python -m benchmarks.hostile [--rounds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from benchmarks.server import APP_ID, MASTER_KEY, percentile_of, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "Content-Type": "text/plain"}
EVIL = "a" * 40 + "!"


def hostile_bodies() -> dict[str, dict[str, Any]]:
    nested: dict[str, Any] = {"a": 1}
    for _ in range(400):
        nested = {"$or": [nested, {"b": 2}]}
    bodies: dict[str, dict[str, Any]] = {
        f"regex {pattern}": {"_method": "GET", "where": {"s": {"$regex": pattern}}}
        for pattern in ("^(a+)+$", "^(a|aa)+$", "(a*)*b", "^(a|a?)+$", "(.*a){20}$")}
    bodies.update({
        "keys x100000": {"_method": "GET", "keys": ",".join(f"k{i}" for i in range(100_000))},
        "$or x993": {"_method": "GET", "where": {"$or": [{"a": i} for i in range(993)]}},
        "where 400 levels": {"_method": "GET", "where": nested},
        "$in x200000": {"_method": "GET", "where": {"a": {"$in": list(range(200_000))}}},
        "include 500 levels": {"_method": "GET", "include": ".".join(["self"] * 500)},
        "limit 10^30": {"_method": "GET", "limit": 10**30},
    })
    return bodies


async def main(rounds: int) -> dict[str, Any]:
    with running_server() as url:
        async with aiohttp.ClientSession() as http:
            master = {**HEADERS, "X-Parse-Master-Key": MASTER_KEY, "Content-Type": "application/json"}
            async with http.post(url + "/classes/Evil", data=json.dumps({"s": EVIL}), headers=master) as reply:
                assert reply.status == 201
            answers: dict[str, Any] = {}
            health: list[float] = []
            stop = asyncio.Event()

            async def probe() -> None:
                while not stop.is_set():
                    started = time.perf_counter()
                    async with http.get(url + "/health") as reply:
                        await reply.read()
                    health.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.005)

            encoded = {name: json.dumps(body) for name, body in hostile_bodies().items()}  # not on the probe's loop
            prober = asyncio.create_task(probe())
            for name, body in encoded.items():
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    async with http.post(url + "/classes/Evil", data=body, headers=HEADERS) as reply:
                        status = reply.status
                        await reply.read()
                    times.append((time.perf_counter() - started) * 1000)
                answers[name] = {"status": status, "median_ms": round(sorted(times)[len(times) // 2], 1)}
            stop.set()
            await prober
    return {"answers": answers,
            "health_during": {"samples": len(health), "p50_ms": round(percentile_of(health, 0.5), 1),
                              "p99_ms": round(percentile_of(health, 0.99), 1), "max_ms": round(max(health), 1)}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args().rounds)), indent=2))
