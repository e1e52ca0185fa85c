"""The in-process bus: events go straight from the write path to this process's subscribers, and into its
history (positions count this process's events; the epoch is new at each start, so positions of a previous run
are never taken for this one's)."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import msgspec

from livequery.bus import ChangeEvent
from livequery.bus.order import LatestStates
from livequery.history import History

log = logging.getLogger(__name__)


class MemoryBus:
    """At most once; in publish order. Each subscriber has a bounded queue: if a subscriber falls
    `max_backlog` events behind, further events to it are dropped and counted rather than grow memory."""

    def __init__(self, max_backlog: int = 100_000, history: History | None = None) -> None:
        self.history = history if history is not None else History("")
        self.history.begin(secrets.token_hex(4), 0)
        self._queues: set[asyncio.Queue[ChangeEvent]] = set()
        self._position = 0
        self._max_backlog = max_backlog
        self._origin = f"{os.getpid()}"
        self.dropped = 0
        self._latest = LatestStates()
        self.departures = None  # one process: Resumes' own records are all there is

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._queues.clear()

    async def publish(self, event: ChangeEvent) -> None:
        if self._latest.is_stale(event):
            return  # published after a newer state of its object: two requests whose replies crossed
        self._position += 1
        stamped = msgspec.structs.replace(event, position=self._position, origin=self._origin,
                                          sequence=self._position, published_at=time.time())
        if not stamped.notice:
            self.history.record(stamped)
        for queue in self._queues:
            try:
                queue.put_nowait(stamped)
            except asyncio.QueueFull:
                self.dropped += 1
                log.warning("live query subscriber is %d events behind; dropping an event", queue.qsize())

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[ChangeEvent]]:
        queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(self._max_backlog)
        self._queues.add(queue)
        try:
            yield _Drain(queue)
        finally:
            self._queues.discard(queue)

    def health(self) -> dict[str, Any]:
        return {"bus": "memory", "connected": True, "dropped": self.dropped, "stale": self._latest.stale}


class _Drain:
    """An iterator over a subscriber's queue. Not an async generator: a read cancelled by a timeout must leave
    the subscription usable, and cancelling a generator's `__anext__` would close it for good."""

    def __init__(self, queue: asyncio.Queue[ChangeEvent]) -> None:
        self._queue = queue

    def __aiter__(self) -> "_Drain":
        return self

    async def __anext__(self) -> ChangeEvent:
        return await self._queue.get()
