"""LiveQuery subscriptions shared by every process of an application through Redis, for resumes.

An unchanged Parse SDK that lost its socket reconnects wherever the load balancer sends it (another process
without sticky sessions, always another one in a rolling deploy), so where its subscription left off must be
readable by every process (livequery/resume.py). One hash per (installationId, requestId),
`livequery:departed:<appId>:<installationId>:<requestId>`, expiring `seconds` after its last write, with one field
per subscription of that key (its `owner`: browser tabs share a key), each `<match> <Departure as JSON>`: the
match (a digest of the query key and the user id: a record resumes only the same query for the same user), the
history epoch, the positions, the principal it was for (without its session token).

Writing never waits on the socket's close path: `keep` queues the record and a task writes the queue, one
pipeline at a time; `flush` (the bus's `stop`) writes what is queued before the process exits. `take` reads and
deletes the matching fields in one step (a Lua script): a record resumes one subscription (the earliest of them
wins: no client of a key is resumed past what it read), and a record for another user or query stays for its
owner.
"""
from __future__ import annotations

import asyncio
import itertools
import logging

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from livequery.bus import Departure

log = logging.getLogger(__name__)

_LINK_ERRORS = (RedisError, OSError, TimeoutError)
_BATCH = 100  # records per pipeline: building one and reading its replies holds the event loop ~5 ms

_TAKE = """
local fields = redis.call('HGETALL', KEYS[1])
local found = {}
for i = 1, #fields, 2 do
  if string.sub(fields[i + 1], 1, #ARGV[1]) == ARGV[1] then
    found[#found + 1] = fields[i + 1]
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
return found
"""


class RedisDepartures:
    """The departed records of one application in Redis. `open` and `flush`/`close` are the bus's start and stop."""

    def __init__(self, app_id: str, *, timeout: float) -> None:
        self._prefix = f"livequery:departed:{app_id}:"
        self._timeout = timeout
        self._client: aioredis.Redis | None = None
        # (key, owner): (record, ttl in ms), or None to delete it; not written yet
        self._pending: dict[tuple[str, str], tuple[Departure, int] | None] = {}
        self._writer: asyncio.Task[None] | None = None
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Departure)
        self._take: aioredis.client.AsyncScript | None = None
        self.lost = 0  # records Redis did not take (away, or the process stopping)

    def open(self, client: aioredis.Redis) -> None:
        """Write and read through `client` (the bus's publishing connection)."""
        self._client = client
        self._take = client.register_script(_TAKE)

    def key(self, installation_id: str, request_id: int) -> str:
        return f"{self._prefix}{installation_id}:{request_id}"

    def keep(self, installation_id: str, request_id: int, departure: Departure, seconds: float) -> None:
        """Share where a subscription is (or left off) for `seconds`, on every process; returns at once. It
        replaces the record of the same `owner`, queued or written."""
        self._queue(self.key(installation_id, request_id), departure.owner,
                    (departure, max(1, int(seconds * 1000))))

    def drop(self, installation_id: str, request_id: int, owner: str) -> None:
        self._queue(self.key(installation_id, request_id), owner, None)

    def _queue(self, key: str, owner: str, record: tuple[Departure, int] | None) -> None:
        self._pending[key, owner] = record
        if self._writer is None and self._client is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a synchronous caller): `flush` writes it
            self._writer = loop.create_task(self._write(), name=f"redis-departures:{self._prefix}")

    async def take(self, installation_id: str, request_id: int, match: str) -> list[Departure]:
        """The records of this key that match (deleted: they resume one subscription); at most `timeout`
        seconds, and none found when Redis does not answer (the subscription is taken as new)."""
        key = self.key(installation_id, request_id)
        found = []
        for queued, record in list(self._pending.items()):
            if queued[0] == key and record is not None and record[0].match == match:
                del self._pending[queued]  # not written yet: it never reaches Redis now
                found.append(record[0])
        if self._client is None or self._take is None:
            return found
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._take(keys=[key], args=[match + " "], client=self._client)
        except _LINK_ERRORS as exc:
            log.debug("looking up a departed live query subscription failed: %r", exc)
            return found
        for value in reply or ():
            try:
                found.append(self._decoder.decode(value[len(match) + 1:]))
            except msgspec.DecodeError:
                log.warning("ignoring a live query resume record that is not one")
        return found

    async def flush(self) -> None:
        """Write what is queued, within twice the timeout; what could not be written is lost (and counted)."""
        writer = self._writer
        if writer is None and self._pending:
            writer = self._writer = asyncio.create_task(self._write())
        if writer is not None:
            done, _ = await asyncio.wait([writer], timeout=2 * self._timeout)
            if not done:
                writer.cancel()
                await asyncio.wait([writer], timeout=0.5)
        self.lost += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        """The bus's connection is closing: what is kept from now on stays queued (and is never written)."""
        self._client = None

    async def _write(self) -> None:
        try:
            while self._pending and self._client is not None:
                batch = dict(itertools.islice(self._pending.items(), _BATCH))  # the oldest first
                for queued in batch:
                    del self._pending[queued]
                try:
                    async with asyncio.timeout(2 * self._timeout):
                        async with self._client.pipeline(transaction=False) as pipe:
                            for (key, owner), record in batch.items():
                                if record is None:
                                    pipe.hdel(key, owner)
                                    continue
                                departure, ttl_ms = record
                                pipe.hset(key, owner, departure.match.encode() + b" "
                                          + self._encoder.encode(departure))
                                pipe.pexpire(key, ttl_ms)
                            await pipe.execute()
                except _LINK_ERRORS as exc:
                    self.lost += len(batch)
                    log.debug("%d departed live query subscription(s) not shared (Redis: %r)", len(batch), exc)
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None
