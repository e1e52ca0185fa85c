"""Coalesced delivery: at most one `update` per subscriber and object per window, carrying the latest state.

For classes whose objects change faster than anyone can watch (a live reaction counter), each subscriber gets
the first update of an object at once, then at most one more per window: the latest, when the window ends. Only
`update` frames are merged. A create, enter, leave or delete is sent as it comes, right after the update still
pending for that subscriber and object, so no kind is lost or reordered, and the final state always arrives (a
pending update is sent when its window ends). Windows are per process: with several processes on Redis, each
hub coalesces the events it delivers to its own clients.
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Outbox(Protocol):
    closed: bool
    held_back: int  # pending frames held here for it (a resume must not take them as delivered)

    def offer(self, frame: bytes) -> None: ...


class CoalesceStats:
    """Counters for /health: update frames merged away, and frames sent, for coalesced classes."""

    __slots__ = ("coalesced", "sent")

    def __init__(self) -> None:
        self.coalesced = 0
        self.sent = 0

    def as_json(self) -> dict[str, int]:
        return {"coalesced": self.coalesced, "sent": self.sent}


class _Window:
    __slots__ = ("owner", "pending", "timer")

    def __init__(self, owner: Outbox, timer: asyncio.TimerHandle) -> None:
        self.owner = owner
        self.timer = timer
        self.pending: bytes | None = None


class Coalescer:
    """The open windows of one class, keyed by (subscriber, requestId, objectId)."""

    def __init__(self, window_seconds: float, stats: CoalesceStats) -> None:
        self.window = window_seconds
        self.stats = stats
        self._windows: dict[tuple[Any, int, Any], _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def offer(self, owner: Outbox, request_id: int, object_id: Any, kind: str, frame: bytes) -> None:
        key = (owner, request_id, object_id)
        window = self._windows.get(key)
        if kind != "update":
            if window is not None:  # the pending update goes first: nothing is reordered
                del self._windows[key]
                window.timer.cancel()
                self._release(window)
            self._send(owner, frame)
            return
        if window is None:
            self._send(owner, frame)
            self._open(key, owner)
            return
        if window.pending is not None:
            self.stats.coalesced += 1  # replaced by a later state before it went out
        else:
            owner.held_back += 1
        window.pending = frame

    def _open(self, key: tuple[Any, int, Any], owner: Outbox) -> None:
        timer = asyncio.get_running_loop().call_later(self.window, self._close, key)
        self._windows[key] = _Window(owner, timer)

    def _close(self, key: tuple[Any, int, Any]) -> None:
        window = self._windows.pop(key, None)
        if window is None or window.pending is None:
            return
        self._release(window)  # the latest state; a new window starts with it
        if not window.owner.closed:
            self._open(key, window.owner)

    def _release(self, window: _Window) -> None:
        if window.pending is not None:
            window.owner.held_back -= 1
            self._send(window.owner, window.pending)
            window.pending = None

    def _send(self, owner: Outbox, frame: bytes | None) -> None:
        if frame is not None and not owner.closed:
            owner.offer(frame)
            self.stats.sent += 1
