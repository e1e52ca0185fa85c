"""The Redis bus: change events cross server processes through one Redis stream per application.

Each process appends its writes to the stream and keeps one reader of it, which fans out to its local
subscribers through bounded queues, exactly as `MemoryBus` does within one process. The stream's entry ids
order the events of every process (their positions) and its entries are what a briefly cut-off process reads
again.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from livequery.bus import ChangeEvent
from livequery.bus.departures import RedisDepartures
from livequery.bus.order import LatestStates
from livequery.bus.stream_link import StreamLink
from livequery.history import History

log = logging.getLogger(__name__)

# What a lost or unreachable Redis looks like from redis-py and asyncio.
_LINK_ERRORS = (RedisError, OSError, TimeoutError)
_FLUSH_CHUNK = 512  # events of the outage buffer appended per round trip once Redis is back


def channel_name(app_id: str) -> str:
    """The stream of one application. Prefixed so that it never collides with Parse Server's own keys and
    `<appId>afterSave` channels on a shared Redis: our entries are not in Parse's format."""
    return f"livequery:changes:{app_id}"


def epoch_key(app_id: str) -> str:
    """Names the current life of the stream: set once by the first process to find it missing, so every process
    of the application sees a Redis restart (an empty Redis) as a new epoch."""
    return f"livequery:epoch:{app_id}"


def stream_position(entry_id: bytes | str) -> int:
    """A stream entry id `<ms>-<seq>` as one increasing integer (the event's position)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return (int(ms) << 22) + int(seq or 0)


class RedisBus:
    """Every process appends its events to one Redis stream per application (XADD, trimmed to about
    `stream_max` entries) and reads the stream from where it left off (XREAD), so every process delivers every
    event in stream order: one order per application across processes, whose entry ids are the positions.
    Entries stay in the stream for a while, so a process that lost its link for a moment reads what it missed.

    Outages never take the server down, nor lose what was published meanwhile (within bounds). While Redis is
    unreachable, `publish` delivers the event to this process's subscribers at once (without a position: the
    process's history records a gap for its class) and keeps it in a buffer of at most `buffer_max` events, the
    oldest dropped and counted when it overflows; once Redis is back, the buffer is appended to the stream in
    order before anything newer, and the other processes deliver it. Each event carries its publisher's
    `origin` and `sequence`, so a process never delivers one event twice (its own, delivered locally during the
    outage; or one appended twice because a timed-out XADD had in fact succeeded). Every Redis call is bounded
    by twice `timeout` seconds. The reader reconnects with jittered exponential backoff capped at `max_backoff`
    seconds; `health()` says `connected: false` until it is back. Each outage is logged once when it starts and
    once when it ends.

    A Redis that comes back empty (restarted without persistence) has lost the stream: the processes see a new
    epoch, their histories start over (resumes from before it are told so) and they read the new stream from
    its start.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        max_backlog: int = 100_000,
        timeout: float = 1.0,
        max_backoff: float = 2.0,
        history: History | None = None,
        stream_max: int = 100_000,
        buffer_max: int = 10_000,
        republish_seconds: float = 5.0,
    ) -> None:
        """`url`: a redis-py URL (`redis://host:port/db`, `rediss://`, `unix://`); `channel`: the application id.
        `max_backlog`: events a local subscriber may fall behind before further ones to it are dropped.
        `stream_max`: about how many entries the stream keeps; `buffer_max`: events kept while Redis is away.
        `republish_seconds`: after a Redis restart, events appended this recently are appended again (another
        process may not have read them from the lost stream; those that did skip them)."""
        self._url = url
        self._stream = channel_name(channel)
        self._epoch_key = epoch_key(channel)
        self._max_backlog = max_backlog
        self._timeout = timeout
        self._block_ms = max(10, int(timeout * 500))  # a blocked XREAD must answer within the socket timeout
        self._min_backoff = min(0.1, max_backoff)
        self._max_backoff = max_backoff
        self._stream_max = stream_max
        self._origin = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.history = history if history is not None else History("")
        self.departures = RedisDepartures(channel, timeout=timeout)  # LiveQuery resumes on any process
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(ChangeEvent)
        self._queues: set[asyncio.Queue[ChangeEvent]] = set()
        self._sequence = 0
        self._delivered_locally = 0  # our own events up to this sequence were delivered during an outage
        self._seen: dict[str, int] = {}  # per origin, the highest sequence delivered (duplicates are skipped)
        self._latest = LatestStates()
        self._buffer: deque[ChangeEvent] = deque()
        self._outbox: list[ChangeEvent] = []  # published, not yet taken by the sender
        self._outbox_waiters: list[asyncio.Future[None]] = []  # its publishers', resolved once it is appended or held
        self._sender: asyncio.Task[None] | None = None
        self._appending = asyncio.Lock()
        self._recent: deque[tuple[float, ChangeEvent]] = deque(maxlen=max(1, buffer_max))
        self._republish_seconds = republish_seconds
        self._buffer_max = max(1, buffer_max)
        self._last_id = "0-0"
        self._publisher: aioredis.Redis | None = None
        self._append_link: StreamLink | None = None  # the sender's XADDs (stream_link.py: why not the client)
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False  # the reader's loops end on it: a cancellation alone can be swallowed (see stop)
        self._first_attempt = asyncio.Event()
        self._connected = False
        self._was_connected = False
        self._outage_logged = False
        self._last_error: str | None = None
        self.dropped = 0
        self.undecodable = 0
        self.reconnects = 0

    @property
    def origin(self) -> str:
        return self._origin

    async def start(self) -> None:
        """Start reading the stream. Waits (briefly) for the first connection attempt so that a bus started
        against a healthy Redis is ready; with Redis down it returns anyway and keeps retrying."""
        if self._reader is not None:
            return
        self._stopping = False
        self._publisher = self._client(retries=1)  # one retry replaces a pooled connection Redis closed
        self._append_link = StreamLink(self._url, connect_timeout=self._timeout)
        self.departures.open(self._publisher)
        self._first_attempt = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"redis-bus:{self._stream}")
        try:
            await asyncio.wait_for(self._first_attempt.wait(), 3 * self._timeout)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        """Cancel and await the reader, close the connections. Local subscribers get nothing more; what is still
        buffered for an unreachable Redis is lost (and counted). The departed LiveQuery subscriptions go to Redis
        first: at a graceful shutdown the sockets were just closed, and their clients are reconnecting elsewhere."""
        await self.departures.flush()
        self.departures.close()
        sender, self._sender = self._sender, None
        if sender is not None:  # what was published before stop() still goes out, within the usual bound
            done, _ = await asyncio.wait([sender], timeout=2 * self._timeout)
            if not done:
                await _cancel_until_done(sender)
        rest, waiters = self._take_outbox()
        self.dropped += len(rest)
        _wake(waiters)
        self._stopping = True
        reader, self._reader = self._reader, None
        if reader is not None:
            await _cancel_until_done(reader)
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await _close_quietly(publisher)
        link, self._append_link = self._append_link, None
        if link is not None:
            await _close_quietly(link)
        self._connected = False
        self.dropped += len(self._buffer)
        self._buffer.clear()
        self._queues.clear()

    async def publish(self, event: ChangeEvent) -> None:
        """Returns once the event is in the stream (or, Redis being away, in the outage buffer), so a write that
        was answered has its event in the history. Appends are pipelined: one sender task appends whatever queued
        meanwhile as one pipeline of XADDs, in order, and wakes every publisher of the batch at once (awaiting one
        XADD per write cost a REST create a quarter of its CPU and capped a process at a few thousand events/s).
        One sender keeps the stream holding each publisher's events in `sequence` order, which is what lets
        readers take a lower sequence for a duplicate."""
        self._sequence += 1
        stamped = msgspec.structs.replace(event, origin=self._origin, sequence=self._sequence,
                                          published_at=time.time())
        if self._sender is None and not (self._connected and not self._buffer and self._publisher is not None):
            self._hold(stamped)
            return
        self._outbox.append(stamped)  # behind a batch in flight, whatever becomes of it: the order is kept
        done = asyncio.get_running_loop().create_future()
        self._outbox_waiters.append(done)
        if self._sender is None:
            self._sender = asyncio.create_task(self._send(), name=f"redis-bus-send:{self._stream}")
        await done  # each publisher its own future: a cancelled request cancels only its own wait (cheaper
        # than asyncio.shield around one shared future, which cost a quarter of the bus's CPU per event)

    def _take_outbox(self) -> tuple[list[ChangeEvent], list[asyncio.Future[None]]]:
        taken = self._outbox, self._outbox_waiters
        self._outbox, self._outbox_waiters = [], []
        return taken

    async def _send(self) -> None:
        """Append the outbox until it is empty, a pipeline at a time; then end (the next publish starts another).
        When an append fails, the batch and whatever queued behind it go to the outage buffer, in order (some of
        the batch may have been appended all the same: readers skip a duplicate)."""
        waiting: list[asyncio.Future[None]] = []
        try:
            while self._outbox and self._append_link is not None:
                async with self._appending:
                    if self._buffer or not self._connected:  # an outage began: behind what it holds, in order
                        rest, waiters = self._take_outbox()
                        waiting += waiters
                        for stamped in rest:
                            self._hold(stamped)
                        return
                    batch, waiters = self._take_outbox()
                    waiting += waiters
                    try:
                        encoded = [self._encoder.encode(stamped) for stamped in batch]
                        async with asyncio.timeout(2 * self._timeout):
                            await self._append_link.append(self._stream, encoded, self._stream_max)
                    except _LINK_ERRORS as exc:
                        self._outage(exc)
                        self._connected = False
                        rest, waiters = self._take_outbox()
                        waiting += waiters
                        for stamped in batch + rest:
                            self._hold(stamped)
                        return
                    now = time.monotonic()
                    self._recent.extend((now, stamped) for stamped in batch)
                    _wake(waiting)
        finally:
            _wake(waiting)
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
            "connected": self._connected,
            "dropped": self.dropped,
            "departed_lost": self.departures.lost,
            "buffered": len(self._buffer),
            "stale": self._latest.stale,
            "undecodable": self.undecodable,
            "reconnects": self.reconnects,
            "subscribers": len(self._queues),
            "stream": self._stream,
            "epoch": self.history.epoch,
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

    def _hold(self, event: ChangeEvent) -> None:
        """Redis is away: deliver locally now (no position, so a gap in this class's history) and keep the event
        for the stream."""
        if len(self._buffer) >= self._buffer_max:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(event)
        self._delivered_locally = event.sequence
        if not event.notice:
            self.history.gap(event.class_name)
        self._deliver(event)

    def _deliver(self, event: ChangeEvent) -> None:
        for queue in self._queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("live query subscriber is %d events behind; dropping an event", queue.qsize())

    async def _read(self) -> None:
        """This process's reader of the stream: (re)connect with capped backoff until cancelled."""
        client = self._client(retries=0)  # reconnecting is this loop's job, not redis-py's
        link = StreamLink(self._url, connect_timeout=self._timeout)  # the XREADs (stream_link.py)
        delay = self._min_backoff
        try:
            while not self._stopping:
                try:
                    await self._join(client)
                    await self._flush()
                    await self._pump(link)
                except Exception as exc:  # whatever broke the link, the loop must go on
                    if not isinstance(exc, _LINK_ERRORS):
                        log.exception("unexpected error on the Redis bus; reconnecting")
                    if self._connected:  # it had worked: this outage's backoff starts short again
                        delay = self._min_backoff
                    self._connected = False
                    self._outage(exc)
                finally:
                    self._first_attempt.set()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(2 * delay, self._max_backoff)
        finally:
            await _close_quietly(link)
            await _close_quietly(client)

    async def _join(self, client: aioredis.Redis) -> None:
        """Learn the stream's epoch. The first time: read from the stream's end. After a Redis restart (a new
        epoch): the history starts over and the new stream is read from its start."""
        async with asyncio.timeout(4 * self._timeout):
            await client.set(self._epoch_key, secrets.token_hex(4), nx=True)
            raw = await client.get(self._epoch_key)
            newest = await client.xrevrange(self._stream, count=1) if not self._was_connected else None
        epoch = raw.decode() if isinstance(raw, bytes) else str(raw)
        if epoch != self.history.epoch:
            if not self._was_connected:
                self._last_id = newest[0][0].decode() if newest else "0-0"
            else:
                log.warning("Redis bus: the stream %s was lost (Redis restarted empty?); live query history "
                            "starts over", self._stream)
                self._last_id = "0-0"
                self._republish()
            self.history.begin(epoch, stream_position(self._last_id))
        if self._was_connected:
            self.reconnects += 1
        self._connected = self._was_connected = True
        self._first_attempt.set()

    def _republish(self) -> None:
        """Put what this process appended in the last moments before its buffer: it may have been lost with the
        stream before every process read it."""
        cutoff = time.monotonic() - self._republish_seconds
        recent = [event for at, event in self._recent if at >= cutoff]
        self._recent.clear()
        self._buffer.extendleft(reversed(recent))

    async def _flush(self) -> None:
        """Append what was published while Redis was away, oldest first, before anything newer."""
        link = self._append_link
        if link is None:
            return
        async with self._appending:  # the sender's link, one user at a time
            while self._buffer:
                chunk = list(itertools.islice(self._buffer, _FLUSH_CHUNK))
                async with asyncio.timeout(2 * self._timeout):
                    await link.append(self._stream, [self._encoder.encode(event) for event in chunk],
                                      self._stream_max)
                now = time.monotonic()
                for _ in chunk:  # appended: out of the buffer (a chunk cut short is appended again: readers skip)
                    self._recent.append((now, self._buffer.popleft()))
        self._connected = True
        self._recovered()

    async def _pump(self, link: StreamLink) -> None:
        """Read the stream and hand every new entry to the local subscribers; raise when the link is lost."""
        while not self._stopping:
            if self._buffer:  # a publish failed meanwhile: append what it kept before reading on
                await self._flush()
            async with asyncio.timeout(2 * self._timeout):  # not wait_for: no task per read
                entries = await link.read(self._stream, self._last_id, 512, self._block_ms)
            for entry_id, data in entries:
                self._last_id = entry_id.decode()
                self._receive(stream_position(entry_id), data)

    def _receive(self, position: int, data: bytes) -> None:
        try:
            event = self._decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            self.undecodable += 1
            log.warning("ignoring an entry of %s that is not a change event (%s); %d so far",
                        self._stream, exc, self.undecodable)
            return
        origin, sequence = event.origin, event.sequence
        if sequence <= self._seen.get(origin, 0):
            return  # appended twice (a timed-out XADD that had succeeded, then the buffer): delivered already
        self._seen[origin] = sequence
        if self._latest.is_stale(event):
            return  # published after a newer state of its object, by another process or request
        event = msgspec.structs.replace(event, position=position)
        if not event.notice:
            self.history.record(event)
        if origin == self._origin and sequence <= self._delivered_locally:
            return  # delivered locally while Redis was away
        self._deliver(event)

    def _outage(self, exc: BaseException) -> None:
        """Publishing or reading failed: warn once per outage, whichever noticed first."""
        self._last_error = _describe(exc)
        if not self._outage_logged:
            self._outage_logged = True
            log.warning("Redis bus unreachable (%s); delivering locally and buffering up to %d events, "
                        "reconnecting every %.1fs at most", self._last_error, self._buffer_max, self._max_backoff)
        else:
            log.debug("Redis bus still unreachable: %s", self._last_error)

    def _recovered(self) -> None:
        if self._outage_logged and self._connected:
            self._outage_logged = False
            log.info("Redis bus is back on %s (%d events dropped so far)", self._stream, self.dropped)


class _Subscription:
    """A local subscriber's events. Not an async generator: a read cancelled by a timeout (`wait_for`) leaves
    the subscription usable, where a generator would be closed by the cancellation."""

    def __init__(self, queue: asyncio.Queue[ChangeEvent]) -> None:
        self._queue = queue

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> ChangeEvent:
        return await self._queue.get()


async def _cancel_until_done(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it to end, cancelling again every half second. Once is not always enough on
    Python 3.11: redis-py bounds its socket writes with `asyncio.wait_for`, which returns normally, swallowing
    the cancellation, when the write completes in the same loop turn as the cancel (fixed in Python 3.12); the
    task then runs on, and `stop()` waited for it forever. The loops also check `_stopping`, so a swallowed
    cancel ends them at their next turn."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)  # not `await task`: that would swallow our own cancellation


def _wake(waiting: list[asyncio.Future[None]]) -> None:
    """Let the publishers of appended (or held) batches return."""
    for done in waiting:
        if not done.done():
            done.set_result(None)
    waiting.clear()


async def _close_quietly(resource: aioredis.Redis | StreamLink) -> None:
    """Closing a connection to a Redis that is gone may itself fail; there is nothing left to do about it."""
    try:
        await asyncio.wait_for(resource.aclose(), 1.0)
    except _LINK_ERRORS as exc:
        log.debug("closing a Redis connection failed: %s", _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
