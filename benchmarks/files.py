"""File upload and download throughput, and the server's memory while 20 clients download one 10 MB file at once.

Prints one JSON object. `--database-uri mongodb://...` stores files in that database's GridFS instead of the data
folder. Memory is sampled from /proc while the downloads run: streaming keeps it near the idle figure, whatever
the file size times the number of clients.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import aiohttp

from benchmarks.server import APP_ID, MASTER_KEY, process_rss_mb, running_server

HEADERS = {"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY}
MB = 1024 * 1024


async def upload(session: aiohttp.ClientSession, url: str, data: bytes) -> str:
    headers = {**HEADERS, "Content-Type": "application/octet-stream"}
    async with session.post(f"{url}/files/bench.bin", data=data, headers=headers) as reply:
        body = await reply.json()
        if reply.status != 201:
            raise RuntimeError(f"upload -> {reply.status} {body}")
        return str(body["url"])


async def download(session: aiohttp.ClientSession, file_url: str) -> int:
    received = 0
    async with session.get(file_url) as reply:
        async for chunk in reply.content.iter_chunked(256 * 1024):
            received += len(chunk)
            await asyncio.sleep(0)  # a client that reads no faster than the others
    return received


async def run(url: str, pid: int, size_mb: int, rounds: int, clients: int) -> dict[str, Any]:
    data = os.urandom(size_mb * MB)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        file_url = await upload(session, url, data)  # warm-up
        began = time.perf_counter()
        for _ in range(rounds):
            file_url = await upload(session, url, data)
        upload_seconds = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(rounds):
            assert await download(session, file_url) == len(data)
        download_seconds = time.perf_counter() - began

        idle_rss = process_rss_mb(pid)
        peak_rss = idle_rss
        downloads = asyncio.gather(*[download(session, file_url) for _ in range(clients)])
        while not downloads.done():
            peak_rss = max(peak_rss, process_rss_mb(pid))
            await asyncio.sleep(0.02)
        assert all(received == len(data) for received in await downloads)
    return {
        "file_mb": size_mb,
        "upload_mb_per_s": round(size_mb * rounds / upload_seconds, 1),
        "download_mb_per_s": round(size_mb * rounds / download_seconds, 1),
        "concurrent_downloads": clients,
        "server_rss_idle_mb": idle_rss,
        "server_rss_peak_mb": peak_rss,
        "server_rss_growth_mb": round(peak_rss - idle_rss, 1),
        "bytes_served_mb": size_mb * clients,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-uri", default="")
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    extra = ["--database-uri", args.database_uri] if args.database_uri else []
    with running_server(*extra) as url:
        pid = running_server.last_pid  # type: ignore[attr-defined]
        result = asyncio.run(run(url, pid, args.size_mb, args.rounds, args.clients))
    result["store"] = args.database_uri.split(":", 1)[0] if args.database_uri else "sqlite (files in the data folder)"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
