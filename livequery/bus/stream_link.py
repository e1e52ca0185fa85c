"""One dedicated Redis connection for the bus's two hot commands: appending a batch of events (XADD) and reading
the stream (XREAD).

Through redis-py's client, each command also went through its connection pool, its retry wrapper, a pipeline
object and `asyncio.wait_for` (a task per socket write on Python 3.11): measured on this machine, 325 µs of
CPU for a pipeline of one XADD, 150 µs on a bare connection, which is most of what the Redis bus cost a REST
create. So the hot path uses a redis-py `Connection` directly: the library still connects (AUTH, SELECT, TLS,
unix sockets, all from the same URL), packs the commands and parses the replies (hiredis), and the bus bounds
each call with one `asyncio.timeout`. The other commands (the epoch, departures) stay on the client.

XADDs are packed here, not by redis-py: its `pack_command` encodes argument by argument in Python and was most
of what was left (under cProfile, 60 % of the bus's CPU per event). An XADD differs only by its event's bytes,
so the rest of the command is packed once per stream (RESP, the protocol every Redis speaks).

A link is used by one task at a time: one sender appends, one reader reads. A failed or cancelled call leaves
the connection closed (redis-py closes it on any error mid-command), and the next call opens a fresh one.
"""
from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

Entry = tuple[bytes, bytes]  # (entry id, the event's encoded bytes)

_FIELD = b"e"  # each entry holds one field, the encoded event


class StreamLink:
    def __init__(self, url: str, *, connect_timeout: float) -> None:
        # Only make_connection is used: the URL's settings without the pool's bookkeeping. No socket timeout:
        # the caller bounds each call with asyncio.timeout (redis-py's socket timeout costs a task per write).
        self._factory = ConnectionPool.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=None)
        self._conn: AbstractConnection | None = None
        self._xadd_heads: dict[tuple[str, int], bytes] = {}

    async def _connection(self) -> AbstractConnection:
        conn = self._conn
        if conn is None or not conn.is_connected:
            conn = self._conn = self._factory.make_connection()
            await conn.connect()
        return conn

    async def append(self, stream: str, events: Sequence[bytes], max_length: int) -> list[bytes]:
        """XADD each of `events` to `stream` in order (one round trip), the stream trimmed to about `max_length`
        entries; their entry ids. A connection that was idle may have been closed by Redis meanwhile (a restart,
        its `timeout` setting): that fails at once, and the batch goes once more on a fresh connection (should
        the first attempt have appended some of it after all, readers skip an event they had)."""
        reused = self._conn is not None and self._conn.is_connected
        try:
            return await self._append_once(stream, events, max_length)
        except (RedisConnectionError, OSError):
            if not reused:
                raise
            return await self._append_once(stream, events, max_length)

    async def _append_once(self, stream: str, events: Sequence[bytes], max_length: int) -> list[bytes]:
        conn = await self._connection()
        head = self._xadd_heads.get((stream, max_length))
        if head is None:
            head = self._xadd_heads[stream, max_length] = xadd_head(stream, max_length)
        packed: list[bytes] = []
        for event in events:
            packed += (head, b"$%d\r\n" % len(event), event, b"\r\n")
        await conn.send_packed_command(packed, check_health=False)
        return [await conn.read_response() for _ in events]

    async def read(self, stream: str, after: str, count: int, block_ms: int) -> list[Entry]:
        """Up to `count` entries of `stream` after the entry id `after`, waiting at most `block_ms` for one."""
        conn = await self._connection()
        await conn.send_packed_command(
            conn.pack_command("XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", stream, after),
            check_health=False)
        reply = await conn.read_response()
        if not reply:
            return []
        streams = reply.values() if isinstance(reply, dict) else (entries for _name, entries in reply)  # RESP3/2
        return [(entry_id, _event_of(fields)) for entries in streams for entry_id, fields in entries]

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect(nowait=True)
        await self._factory.aclose()


def xadd_head(stream: str, max_length: int) -> bytes:
    """`XADD <stream> MAXLEN ~ <max_length> * e` in RESP, to be followed by the event as a bulk string."""
    parts = [b"XADD", stream.encode(), b"MAXLEN", b"~", str(max_length).encode(), b"*", _FIELD]
    return b"*%d\r\n" % (len(parts) + 1) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def _event_of(fields: list[bytes] | dict[bytes, bytes]) -> bytes:
    if isinstance(fields, dict):
        return fields.get(_FIELD, b"")
    for index in range(0, len(fields) - 1, 2):
        if fields[index] == _FIELD:
            return fields[index + 1]
    return b""
