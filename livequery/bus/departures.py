"""Departed LiveQuery subscriptions shared by every process of an application through Redis.

An unchanged Parse SDK that lost its socket reconnects wherever the load balancer sends it (another process
without sticky sessions, always another one in a rolling deploy), so where its subscription left off must be
readable by every process (livequery/resume.py). One hash per subscription, `livequery:departed:<appId>:
<installationId>:<requestId>`, expiring after the resume window:

- `k`: a digest of the query key and the user id: a record resumes only the same query for the same user;
- `e`, `p`, `s`: the history epoch, the position after which the client may have missed events, and the position
  up to which events were dispatched before its socket went;
- `d`: the `Departure` as JSON (with the principal it was for, without its session token).

Writing never waits on the socket's close path: `keep` queues the record and a task appends the queue, one
pipeline at a time; `flush` (the bus's `stop`) writes what is queued before the process exits. Several sockets
of one key (browser tabs) keep the earliest position, on any process (the merge is one Lua script). `take` reads
and deletes a matching record in one step, so a record resumes one subscription only; a record for another user
or query stays for its owner.
"""
from __future__ import annotations

import asyncio
import logging

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from livequery.bus import Departure, earliest

log = logging.getLogger(__name__)

_LINK_ERRORS = (RedisError, OSError, TimeoutError)

# Positions are decimal integers of up to 19 digits: Lua's numbers (doubles) would round them, so they are
# compared as strings, shorter first.
_EARLIER = "local function earlier(a, b) if #a ~= #b then return #a < #b end return a < b end\n"

_KEEP = _EARLIER + """
local old = redis.call('HMGET', KEYS[1], 'k', 'e', 'p', 's', 'd')
local p, s, d = ARGV[3], ARGV[4], ARGV[5]
if old[1] == ARGV[1] and old[2] == ARGV[2] then
  if earlier(old[3], p) then p = old[3]; d = old[5] end
  if earlier(s, old[4]) then s = old[4] end
end
redis.call('HSET', KEYS[1], 'k', ARGV[1], 'e', ARGV[2], 'p', p, 's', s, 'd', d)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
"""

_TAKE = """
local found = redis.call('HMGET', KEYS[1], 'k', 'p', 's', 'd')
if found[1] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return {found[2], found[3], found[4]}
"""


class RedisDepartures:
    """The departed records of one application in Redis. `open` and `flush`/`close` are the bus's start and stop."""

    def __init__(self, app_id: str, *, timeout: float) -> None:
        self._prefix = f"livequery:departed:{app_id}:"
        self._timeout = timeout
        self._client: aioredis.Redis | None = None
        self._pending: dict[str, tuple[Departure, int]] = {}  # key -> (record, ttl in ms), not yet written
        self._writer: asyncio.Task[None] | None = None
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Departure)
        self._keep: aioredis.client.AsyncScript | None = None
        self._take: aioredis.client.AsyncScript | None = None
        self.lost = 0  # records Redis did not take (away, or the process stopping)

    def open(self, client: aioredis.Redis) -> None:
        """Write and read through `client` (the bus's publishing connection)."""
        self._client = client
        self._keep, self._take = client.register_script(_KEEP), client.register_script(_TAKE)

    def key(self, installation_id: str, request_id: int) -> str:
        return f"{self._prefix}{installation_id}:{request_id}"

    def keep(self, installation_id: str, request_id: int, departure: Departure, seconds: float) -> None:
        """Remember a departed subscription for `seconds` on every process; returns at once."""
        # a record still queued for this key is replaced: the newer one was merged with it (Resumes.leave)
        self._pending[self.key(installation_id, request_id)] = departure, max(1, int(seconds * 1000))
        if self._writer is None and self._client is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a synchronous caller): `flush` writes it
            self._writer = loop.create_task(self._write(), name=f"redis-departures:{self._prefix}")

    async def take(self, installation_id: str, request_id: int, match: str) -> Departure | None:
        """The departed record of this key if it matches (deleted: it resumes one subscription), or None; at
        most `timeout` seconds, and None when Redis does not answer (the subscription is taken as new)."""
        key = self.key(installation_id, request_id)
        queued = self._pending.pop(key, None)  # not written yet: it never reaches Redis now
        found = None
        if queued is not None:
            if queued[0].match == match:
                found = queued[0]
            else:
                self._pending[key] = queued  # someone else's: it stays for its owner
        if self._client is None or self._take is None:
            return found
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._take(keys=[key], args=[match], client=self._client)
        except _LINK_ERRORS as exc:
            log.debug("looking up a departed live query subscription failed: %r", exc)
            return found
        if not reply:
            return found
        position, seen_upto, data = reply
        try:
            stored = self._decoder.decode(data)
        except msgspec.DecodeError:
            log.warning("ignoring a departed live query record that is not one (%s)", key.rsplit(":", 2)[0])
            return found
        stored = msgspec.structs.replace(stored, position=int(position), seen_upto=int(seen_upto))
        return earliest(found, stored)

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
            while self._pending and self._client is not None and self._keep is not None:
                batch, self._pending = self._pending, {}
                try:
                    async with asyncio.timeout(2 * self._timeout):
                        async with self._client.pipeline(transaction=False) as pipe:
                            for key, (departure, ttl_ms) in batch.items():
                                await self._keep(keys=[key], client=pipe, args=[
                                    departure.match, departure.epoch, departure.position, departure.seen_upto,
                                    self._encoder.encode(departure), ttl_ms])
                            await pipe.execute()
                except _LINK_ERRORS as exc:
                    self.lost += len(batch)
                    log.debug("%d departed live query subscription(s) not shared (Redis: %r)", len(batch), exc)
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None
