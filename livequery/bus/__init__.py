"""The seam that carries change events from writers to every server process's LiveQuery hub.

`open_bus(url)` picks the backend by URL: empty or `memory://` = in-process, `redis://`/`rediss://` = Redis pub/sub
(imported lazily, so the embedded default needs no Redis client at all).
"""
from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, AsyncIterator, Literal, Protocol

import msgspec

EventKind = Literal["create", "update", "delete"]


class ChangeEvent(msgspec.Struct, frozen=True):
    """One successful write. `object` is the stored document after the write (for a delete: the deleted one);
    `original` the document before an update. `position` orders events from one publisher (see Bus).

    `notice`: a message between server processes (sessions revoked, a schema changed), not a write; the hub never
    delivers it to a subscriber, whatever it carries."""

    class_name: str
    kind: EventKind
    object: dict[str, Any]
    original: dict[str, Any] | None = None
    position: int = 0
    origin: str = ""  # which process published it
    published_at: float = 0.0  # wall-clock seconds when the bus took it (right after the write committed)
    notice: bool = False


class Bus(Protocol):
    """Carries change events between server processes. At most once; in order per publisher.

    `publish` never raises for a transport outage: the event is dropped and the outage reported by `health`.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: ChangeEvent) -> None: ...

    def subscribe(self) -> AbstractAsyncContextManager[AsyncIterator[ChangeEvent]]: ...

    def health(self) -> dict[str, Any]:
        """`{"bus": "memory"|"redis", "connected": bool, ...}` for `/health`."""
        ...


def open_bus(url: str | None, *, channel: str) -> Bus:
    if not url or url.startswith("memory://"):
        from livequery.bus.memory import MemoryBus

        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from livequery.bus.redis import RedisBus

        return RedisBus(url, channel=channel)
    raise ValueError(f"unsupported bus URL: {url!r} (use redis://host:port or leave empty)")
