"""The seam that carries change events from writers to every server process's LiveQuery hub.

`open_bus(url)` picks the backend by URL: empty or `memory://` = in-process, `redis://`/`rediss://` = a Redis stream
(imported lazily, so the embedded default needs no Redis client at all). Every bus keeps a `History` of recent
events by position (livequery/history.py), from which reconnecting LiveQuery clients get what they missed.
"""
from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, AsyncIterator, Literal, Protocol

import msgspec

from auth.principal import Principal

if TYPE_CHECKING:
    from livequery.history import History

EventKind = Literal["create", "update", "delete"]


class ChangeEvent(msgspec.Struct, frozen=True):
    """One successful write. `object` is the stored document after the write (for a delete: the deleted one);
    `original` the document before an update. `position` orders the events of an application across all its
    processes (0: not ordered, delivered locally during a Redis outage); `origin` and `sequence` name the publisher
    and its own count of events (how a bus recognises an event it has already delivered).

    `notice`: a message between server processes (sessions revoked, a schema changed), not a write; the hub never
    delivers it to a subscriber, whatever it carries."""

    class_name: str
    kind: EventKind
    object: dict[str, Any]
    original: dict[str, Any] | None = None
    position: int = 0
    origin: str = ""  # which process published it
    published_at: float = 0.0  # wall-clock seconds when the bus took it (right after the write committed)
    sequence: int = 0  # the publisher's count of its events
    notice: bool = False


class Departure(msgspec.Struct, frozen=True):
    """Where a subscription may have missed events from (its socket went, or may go without a word: its process
    may die), as another process can use it."""

    match: str  # `match_of(query key, user id)`
    epoch: str  # positions are meaningful within the history epoch they were taken in
    position: int  # the client may have missed the events after this one
    seen_upto: int  # events after this were dispatched after the socket went: never seen
    before: Principal  # who the client was when it last knew the objects (no session token)
    owner: str = ""  # which subscription: its later record replaces this one


def match_of(query_key: bytes, user_id: str | None) -> str:
    """What a resume must match: the same query for the same user."""
    return hashlib.blake2b(query_key + b"\0" + (user_id or "").encode(), digest_size=16).hexdigest()


def earliest(one: Departure | None, other: Departure | None) -> Departure | None:
    """The record that resumes from the earlier position (the later `seen_upto` kept): no client of a key is
    resumed past what it read."""
    if one is None or other is None:
        return one or other
    first = one if one.position <= other.position else other
    return msgspec.structs.replace(first, seen_upto=max(one.seen_upto, other.seen_upto))


class SharedDepartures(Protocol):
    """Departed LiveQuery subscriptions every process of the application can resume (livequery/resume.py)."""

    def keep(self, installation_id: str, request_id: int, departure: Departure, seconds: float) -> None:
        """Share a departed subscription for `seconds`, without waiting (the socket's close path is synchronous)."""
        ...

    def drop(self, installation_id: str, request_id: int, owner: str) -> None:
        """Forget the record of `owner` (unsubscribed), without waiting."""
        ...

    async def take(self, installation_id: str, request_id: int, match: str) -> list[Departure]:
        """The records of this key that `match` (consumed: one per socket of the key); bounded in time, none on
        any failure."""
        ...


class Bus(Protocol):
    """Carries change events between server processes, in position order; each event once per subscriber.

    `publish` never raises for a transport outage: the event is buffered (bounded; what overflows is dropped and
    counted) and the outage reported by `health`. `history` holds the recent events by position.
    """

    history: History
    departures: SharedDepartures | None  # None: a departed subscription is known to its own process only

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: ChangeEvent) -> None: ...

    def subscribe(self) -> AbstractAsyncContextManager[AsyncIterator[ChangeEvent]]: ...

    def health(self) -> dict[str, Any]:
        """`{"bus": "memory"|"redis", "connected": bool, ...}` for `/health`."""
        ...


def open_bus(url: str | None, *, channel: str, history: History | None = None) -> Bus:
    """`history`: the retention window to keep (default: livequery.history's defaults)."""
    if not url or url.startswith("memory://"):
        from livequery.bus.memory import MemoryBus

        return MemoryBus(history=history)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from livequery.bus.redis import RedisBus

        return RedisBus(url, channel=channel, history=history)
    raise ValueError(f"unsupported bus URL: {url!r} (use redis://host:port or leave empty)")
