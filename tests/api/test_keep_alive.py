"""Idle HTTP connections: the server keeps them longer than a client's connection pool does.

When a server closes an idle keep-alive connection at the moment a client sends its next request on it, that
request fails (httpx: ReadError), and a client cannot safely resend a POST. So the client must be the one to close:
the server's keep-alive outlasts httpx's pool expiry (5 s) and a load balancer's idle timeout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.livequery.conftest import APP_ID, live_settings, serving


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keep_alive.db'}"  # the store does not matter here


async def _get_health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /parse/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
                 b"X-Parse-Application-Id: " + APP_ID.encode() + b"\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await asyncio.wait_for(reader.readexactly(length), 5)
    return head.split(b"\r\n", 1)[0]


async def test_an_idle_connection_outlives_a_client_pools_expiry(tmp_path: Path) -> None:
    async with serving(live_settings(tmp_path, database_uri=_sqlite(tmp_path))) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            assert await _get_health(reader, writer) == b"HTTP/1.1 200 OK"
            # httpx keeps an idle connection this long and then drops it; until then it may reuse it
            await asyncio.sleep(httpx.Limits(max_connections=None).keepalive_expiry + 0.5)
            assert not reader.at_eof()
            assert await _get_health(reader, writer) == b"HTTP/1.1 200 OK"
        finally:
            writer.close()


async def test_an_idle_connection_is_closed_after_keep_alive_seconds(tmp_path: Path) -> None:
    async with serving(live_settings(tmp_path, database_uri=_sqlite(tmp_path), keep_alive_seconds=0.3)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            assert await _get_health(reader, writer) == b"HTTP/1.1 200 OK"
            assert await asyncio.wait_for(reader.read(1), 3) == b""  # closed by the server, not by the timeout
        finally:
            writer.close()
