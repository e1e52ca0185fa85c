"""The Redis bus: change events cross server processes over one Redis pub/sub channel per application.

Each process publishes its writes to the channel and keeps one upstream SUBSCRIBE to it, which fans out to its
local subscribers through bounded queues, exactly as `MemoryBus` does within one process.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from livequery.bus import ChangeEvent

log = logging.getLogger(__name__)

# What a lost or unreachable Redis looks like from redis-py and asyncio.
_LINK_ERRORS = (RedisError, OSError, TimeoutError)
# Events published but not yet sent, beyond which further ones are dropped (and counted): Redis is not keeping up.
MAX_OUTBOX = 100_000


def channel_name(app_id: str) -> str:
    """The pub/sub channel of one application. Prefixed so that it never collides with Parse Server's own
    `<appId>afterSave` channels on a shared Redis: our messages are not in Parse's format."""
    return f"livequery:changes:{app_id}"


class RedisBus:
    """At most once; in order per publisher. Redis pub/sub keeps nothing, so whatever is published while a
    process is cut off from Redis never reaches it.

    Positions: each bus instance (one per server process) has a unique `origin` (`hostname:pid:random`) and
    stamps its events with a position that increases by one per `publish` call, dropped ones included. So the
    events of one origin arrive with strictly increasing positions, and a gap means events were lost on the way.
    Positions of different origins are unrelated.

    A process's own events go straight to its local subscribers, never through Redis (the echo is recognised by
    origin and ignored), so a lone process keeps its live queries working while Redis is away.

    `publish` does not wait for Redis: it queues the encoded event, and one sender task sends what has queued
    meanwhile as one pipeline of PUBLISH commands, in order. A write's answer thus never waits on the bus, and
    under load one round trip carries many events (awaiting each PUBLISH cost a create a quarter of its CPU).

    Outages never take the server down. While the upstream link is known to be down, `publish` drops the event,
    counts it and returns at once; every Redis call is bounded by twice `timeout` seconds. The subscriber loop
    reconnects with jittered exponential backoff capped at `max_backoff` seconds, and `health()` says
    `connected: false` until it is back. Each outage is logged once when it starts and once when it ends.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        max_backlog: int = 100_000,
        timeout: float = 1.0,
        max_backoff: float = 2.0,
        ping_interval: float = 5.0,
    ) -> None:
        """`url`: a redis-py URL (`redis://host:port/db`, `rediss://`, `unix://`); `channel`: the application id.
        `max_backlog`: events a local subscriber may fall behind before further ones to it are dropped.
        `ping_interval`: how long the subscription may stay silent before a PING checks that Redis is alive."""
        self._url = url
        self._channel = channel_name(channel)
        self._max_backlog = max_backlog
        self._timeout = timeout
        self._min_backoff = min(0.1, max_backoff)
        self._max_backoff = max_backoff
        self._ping_interval = ping_interval
        self._origin = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(ChangeEvent)
        self._queues: set[asyncio.Queue[ChangeEvent]] = set()
        self._position = 0
        self._publisher: aioredis.Redis | None = None
        self._outbox: list[bytes] = []  # encoded events the sender has not taken yet
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._connected = False
        self._was_connected = False
        self._outage_logged = False
        self._publish_failing = False
        self._last_error: str | None = None
        self.dropped = 0
        self.undecodable = 0
        self.reconnects = 0

    @property
    def origin(self) -> str:
        return self._origin

    async def start(self) -> None:
        """Start the upstream subscription. Waits (briefly) for the first connection attempt so that a bus
        started against a healthy Redis is ready; with Redis down it returns anyway and keeps retrying."""
        if self._listener is not None:
            return
        self._publisher = self._client(retries=1)  # one retry replaces a pooled connection Redis closed
        self._first_attempt = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(), name=f"redis-bus:{self._channel}")
        try:
            await asyncio.wait_for(self._first_attempt.wait(), 3 * self._timeout)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        """Cancel and await the subscriber loop, close the connections. Local subscribers get nothing more."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.wait([listener])  # not `await listener`: that would swallow our own cancellation
        sender, self._sender = self._sender, None
        if sender is not None:  # what was published before stop() still goes out, within the usual bound
            done, _ = await asyncio.wait([sender], timeout=2 * self._timeout)
            if not done:
                sender.cancel()
                await asyncio.wait([sender])
        self._outbox = []
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await _close_quietly(publisher)
        self._connected = False
        self._queues.clear()

    async def publish(self, event: ChangeEvent) -> None:
        self._position += 1
        stamped = msgspec.structs.replace(event, position=self._position, origin=self._origin,
                                          published_at=time.time())
        self._deliver(stamped)
        if self._publisher is None or not self._connected or len(self._outbox) >= MAX_OUTBOX:
            self.dropped += 1  # known down (the outage is already logged), or Redis cannot keep up: drop at once
            return
        self._outbox.append(self._encoder.encode(stamped))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name=f"redis-bus-send:{self._channel}")

    async def _send(self) -> None:
        """Send the outbox until it is empty, a pipeline at a time; then end (the next publish starts another)."""
        try:
            while self._outbox and self._publisher is not None:
                batch, self._outbox = self._outbox, []
                try:
                    async with self._publisher.pipeline(transaction=False) as pipe:
                        for data in batch:
                            pipe.publish(self._channel, data)
                        await asyncio.wait_for(pipe.execute(), 2 * self._timeout)
                except _LINK_ERRORS as exc:
                    self.dropped += len(batch)
                    self._publish_failing = True
                    self._outage(exc)
                    continue
                if self._publish_failing:
                    self._publish_failing = False
                    self._recovered()
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[ChangeEvent]]:
        queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(self._max_backlog)
        self._queues.add(queue)
        try:
            yield _Subscription(queue)
        finally:
            self._queues.discard(queue)

    def health(self) -> dict[str, Any]:
        return {
            "bus": "redis",
            "connected": self._connected and not self._publish_failing,
            "dropped": self.dropped,
            "undecodable": self.undecodable,
            "reconnects": self.reconnects,
            "subscribers": len(self._queues),
            "channel": self._channel,
            "origin": self._origin,
            "last_error": self._last_error,
        }

    # -- internals -------------------------------------------------------------------------------------------

    def _client(self, *, retries: int) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self._url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), retries),
        )

    def _deliver(self, event: ChangeEvent) -> None:
        for queue in self._queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("live query subscriber is %d events behind; dropping an event", queue.qsize())

    async def _listen(self) -> None:
        """The one upstream SUBSCRIBE of this process: (re)connect with capped backoff until cancelled."""
        client = self._client(retries=0)  # reconnecting is this loop's job, not redis-py's
        delay = self._min_backoff
        try:
            while True:
                pubsub = client.pubsub()
                try:
                    await self._pump(pubsub)
                except Exception as exc:  # whatever broke the link, the loop must go on
                    if not isinstance(exc, _LINK_ERRORS):
                        log.exception("unexpected error on the Redis bus subscription; reconnecting")
                    if self._connected:  # it had worked: this outage's backoff starts short again
                        delay = self._min_backoff
                    self._link_lost(exc)
                finally:
                    await _close_quietly(pubsub)
                    self._first_attempt.set()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(2 * delay, self._max_backoff)
        finally:
            await _close_quietly(client)

    async def _pump(self, pubsub: PubSub) -> None:
        """Subscribe and hand every message to the local subscribers; raise when the link is lost."""
        await asyncio.wait_for(pubsub.subscribe(self._channel), 2 * self._timeout)
        ping_sent = False
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                # Silence: a dead peer without a FIN looks like this. Ask, and give up after one more interval.
                if ping_sent:
                    raise ConnectionError("Redis stopped answering PING on the subscription")
                await asyncio.wait_for(pubsub.ping(), 2 * self._timeout)
                ping_sent = True
                continue
            ping_sent = False
            kind = message["type"]
            if kind == "message":
                self._receive(message["data"])
            elif kind == "subscribe":
                self._link_up()

    def _receive(self, data: bytes) -> None:
        try:
            event = self._decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            self.undecodable += 1
            log.warning("ignoring a message on %s that is not a change event (%s); %d so far",
                        self._channel, exc, self.undecodable)
            return
        if event.origin != self._origin:  # our own events were delivered locally when published
            self._deliver(event)

    def _link_up(self) -> None:
        if self._connected:
            return
        if self._was_connected:
            self.reconnects += 1
        self._connected = self._was_connected = True
        self._publish_failing = False  # a fresh link: publishing gets another chance
        self._first_attempt.set()
        self._recovered()

    def _link_lost(self, exc: BaseException) -> None:
        self._connected = False
        self._outage(exc)

    def _outage(self, exc: BaseException) -> None:
        """Publishing or the subscription failed: warn once per outage, whichever noticed first."""
        self._last_error = _describe(exc)
        if not self._outage_logged:
            self._outage_logged = True
            log.warning("Redis bus unreachable (%s); dropping events, reconnecting every %.1fs at most",
                        self._last_error, self._max_backoff)
        else:
            log.debug("Redis bus still unreachable: %s", self._last_error)

    def _recovered(self) -> None:
        if self._outage_logged and self._connected and not self._publish_failing:
            self._outage_logged = False
            log.info("Redis bus is back on %s (%d events dropped so far)", self._channel, self.dropped)


class _Subscription:
    """A local subscriber's events. Not an async generator: a read cancelled by a timeout (`wait_for`) leaves
    the subscription usable, where a generator would be closed by the cancellation."""

    def __init__(self, queue: asyncio.Queue[ChangeEvent]) -> None:
        self._queue = queue

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> ChangeEvent:
        return await self._queue.get()


async def _close_quietly(resource: aioredis.Redis | PubSub) -> None:
    """Closing a connection to a Redis that is gone may itself fail; there is nothing left to do about it."""
    try:
        await asyncio.wait_for(resource.aclose(), 1.0)
    except _LINK_ERRORS as exc:
        log.debug("closing a Redis connection failed: %s", _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
