"""What one request costs back to back, and what the same request costs after the server sat idle: prints JSON.

The app is called in this process through ASGI (no sockets, no load client), so the CPU counted is the request's
own: the process's CPU time across the call, the SQLite threads' share included. Between calls the loop sleeps
`gap` seconds, as a server does between the writes of a paced load (the fan-out benchmark's 50 writes/s is a
20 ms gap). On a shared virtual machine the caches are someone else's after a few milliseconds of idling, and
the next request pays for refilling them: compare each path's cost with and without a gap.

    python -m benchmarks.idle_gap [--calls 300] [--gaps 0,0.001,0.005,0.02]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from typing import Any, Awaitable, Callable

from api.app import create_app
from api.settings import Settings

APP_ID, MASTER_KEY = "bench", "bench-master"


class AsgiCaller:
    """Calls the app as uvicorn would, one request at a time, and keeps the last answer's status."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = 0

    async def __call__(self, method: str, path: str, body: bytes = b"", query: bytes = b"") -> None:
        headers = [(b"host", b"127.0.0.1"), (b"x-parse-application-id", APP_ID.encode()),
                   (b"x-parse-master-key", MASTER_KEY.encode()), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 1337)}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]

        await self.app(scope, receive, send)


async def cost_per_call(call: Callable[[], Awaitable[None]], calls: int, gap: float) -> float:
    """Mean CPU microseconds of one call (the whole process's CPU across the call, not the gap's)."""
    spent = 0
    for _ in range(calls):
        if gap:
            await asyncio.sleep(gap)
        started = time.process_time_ns()
        await call()
        spent += time.process_time_ns() - started
    return round(spent / calls / 1000, 1)


async def measure(calls: int, gaps: list[float]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(app_id=APP_ID, master_key=MASTER_KEY, data_dir=folder,
                                  allow_client_class_creation=True))
        async with app.router.lifespan_context(app):
            request = AsgiCaller(app)
            counter = iter(range(10**9))
            paths: dict[str, Callable[[], Awaitable[None]]] = {
                "health": lambda: request("GET", "/parse/health"),
                "create": lambda: request("POST", "/parse/classes/Reading",
                                          json.dumps({"room": next(counter) % 50, "score": 1.5}).encode()),
                "query": lambda: request("GET", "/parse/classes/Reading",
                                         query=b"where=%7B%22room%22%3A7%7D&limit=20"),
            }
            for _ in range(500):  # the class, its schema and some rows to read; everything imported and warm
                await paths["create"]()
            assert request.status == 201, request.status
            result: dict[str, Any] = {}
            for name, call in paths.items():
                await cost_per_call(call, 50, 0)
                result[name] = {f"gap_{gap * 1000:g}ms_cpu_us": await cost_per_call(call, calls, gap)
                                for gap in gaps}
                assert request.status in (200, 201), (name, request.status)
            return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per path and gap")
    parser.add_argument("--gaps", default="0,0.001,0.005,0.02", help="comma-separated idle seconds between calls")
    args = parser.parse_args()
    gaps = [float(gap) for gap in args.gaps.split(",")]
    figures = asyncio.run(measure(args.calls, gaps))
    print(json.dumps({"cores": os.cpu_count(), "calls": args.calls, "paths": figures}))


if __name__ == "__main__":
    main()
