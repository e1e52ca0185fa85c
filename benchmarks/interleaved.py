"""Two checkouts of this server side by side on the same work, measured in turns: prints JSON.

This machine's speed changes by up to two times from one minute to the next (other tenants' load on the same
host), so two benchmark runs made a minute apart compare the minutes, not the code. Here each checkout serves
in a process of its own, through ASGI (benchmarks.idle_gap's caller: no sockets, no load client), on the data of
benchmarks.rest (10,000 objects in 50 rooms). The two take turns on batches of the same requests, alternating
which goes first, and each batch's CPU (the process's, SQLite's threads included) is paired with the other's
batch next to it. The paired ratio's median is the figure: below 1, `--new` costs less.

    python -m benchmarks.interleaved --base ../other-checkout [--new .] [--work query|create] [--batches 16]
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOMS = 50


def query_string(room: int) -> bytes:
    where = json.dumps({"room": f"room{room}", "score": {"$gte": 2000}})
    return f"where={urllib.parse.quote(where)}&order=-score&limit=20".encode()


async def serve_turns(work: str, objects: int) -> None:
    """In a checkout's process: fill the class, say `ready`, then run each batch size read from stdin and print
    its CPU per request in microseconds."""
    here = Path(__file__).resolve().parent  # run by path, this folder came first: its graphql.py hides the library
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    from api.app import create_app
    from api.settings import Settings

    # this file's own caller, whatever the checkout has: run by path, the checkout's packages come first
    spec = importlib.util.spec_from_file_location("_idle_gap", Path(__file__).with_name("idle_gap.py"))
    assert spec is not None and spec.loader is not None
    idle_gap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(idle_gap)
    app_id, master_key, caller = idle_gap.APP_ID, idle_gap.MASTER_KEY, idle_gap.AsgiCaller

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(app_id=app_id, master_key=master_key, data_dir=folder,
                                  allow_client_class_creation=True))
        async with app.router.lifespan_context(app):
            call = caller(app)
            rng = random.Random(7)
            for first in range(0, objects, 100):
                batch = [{"method": "POST", "path": "/parse/classes/Bench",
                          "body": {"room": f"room{i % ROOMS}", "score": rng.randint(0, 10_000), "i": i}}
                         for i in range(first, min(objects, first + 100))]
                await call("POST", "/parse/batch", json.dumps({"requests": batch}).encode())
            queries = [query_string(room) for room in range(ROOMS)]
            for i in range(200):  # warm: statements prepared, caches filled
                await call("GET", "/parse/classes/Bench", query=queries[i % ROOMS])
            print("ready", flush=True)
            loop = asyncio.get_running_loop()
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                count = int(line)
                started = time.process_time()
                for i in range(count):
                    if work == "query":
                        await call("GET", "/parse/classes/Bench", query=queries[i % ROOMS])
                    else:
                        await call("POST", "/parse/classes/Bench",
                                   json.dumps({"room": f"room{i % ROOMS}", "score": i, "i": i}).encode())
                print(round((time.process_time() - started) / count * 1e6, 1), flush=True)


def start(checkout: Path, work: str, objects: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", work,
                                "--objects", str(objects)], cwd=checkout, text=True,
                               env={**os.environ, "PYTHONPATH": str(checkout)},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise SystemExit(f"{checkout} did not start: {line!r}")
    return process


def compare(base: Path, new: Path, work: str, batches: int, per_batch: int, objects: int) -> dict[str, object]:
    sides = {"base": start(base, work, objects), "new": start(new, work, objects)}
    costs: dict[str, list[float]] = {"base": [], "new": []}
    try:
        for turn in range(batches):
            for side in ("base", "new") if turn % 2 == 0 else ("new", "base"):
                process = sides[side]
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(f"{per_batch}\n")
                process.stdin.flush()
                costs[side].append(float(process.stdout.readline()))
    finally:
        for process in sides.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=60)
    ratios = [n / b for n, b in zip(costs["new"], costs["base"])]
    return {"work": work, "base": str(base), "new": str(new), "batches": batches, "requests_per_batch": per_batch,
            "base_cpu_us_median": statistics.median(costs["base"]),
            "new_cpu_us_median": statistics.median(costs["new"]),
            "new_over_base_paired_median": round(statistics.median(ratios), 3),
            "base_cpu_us": costs["base"], "new_cpu_us": costs["new"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="the checkout to compare against (e.g. a `git worktree`)")
    parser.add_argument("--new", type=Path, default=Path.cwd(), help="the checkout measured (default: this one)")
    parser.add_argument("--work", choices=("query", "create"), default="query",
                        help="query: benchmarks.rest's 20-of-10,000 query; create: one object per request")
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200, help="requests per batch")
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--serve", choices=("query", "create"), help=argparse.SUPPRESS)  # a checkout's process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_turns(args.serve, args.objects))
        return
    if args.base is None:
        parser.error("--base is required")
    print(json.dumps(compare(args.base.resolve(), args.new.resolve(), args.work, args.batches, args.requests,
                             args.objects)))


if __name__ == "__main__":
    main()
