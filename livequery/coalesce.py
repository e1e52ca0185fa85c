"""Coalesced delivery: at most one `update` per subscription and object per window, carrying the latest state.

For classes whose objects change faster than anyone can watch (a live reaction counter), each subscriber gets
the first update of an object at once, then at most one more per window: the latest, when the window ends. Only
`update` frames are merged. A create, enter, leave or delete is sent as it comes, right after the update still
pending for that subscription and object, so no kind is lost or reordered, and the final state always arrives (a
pending update is sent when its window ends). Windows are per process: with several processes on Redis, each
hub coalesces the events it delivers to its own clients.

Windows belong to a subscription, not to its requestId: an update pending for a subscription that was since
unsubscribed or replaced (`unsubscribe`, `update`, or a `subscribe` reusing the requestId) is dropped when its
window ends, never sent under the new subscription (it was made for the old query and keys).
"""
from __future__ import annotations

import asyncio
from typing import Any, Protocol


class Outbox(Protocol):
    closed: bool
    held_back: int  # pending frames held here for it (a resume must not take them as delivered)

    def offer(self, frame: bytes) -> None: ...


class Subscribed(Protocol):
    """What a window needs of a subscription (livequery.subscriptions.Subscription)."""

    owner: Outbox
    query: Any  # its `subscribers` hold the subscription while it is live


class CoalesceStats:
    """Counters for /health: update frames merged away, and frames sent, for coalesced classes."""

    __slots__ = ("coalesced", "dropped", "sent")

    def __init__(self) -> None:
        self.coalesced = 0
        self.sent = 0
        self.dropped = 0  # pending updates of subscriptions that ended within their window

    def as_json(self) -> dict[str, int]:
        return {"coalesced": self.coalesced, "sent": self.sent, "dropped": self.dropped}


class _Window:
    __slots__ = ("pending", "subscription", "timer")

    def __init__(self, subscription: Subscribed, timer: asyncio.TimerHandle) -> None:
        self.subscription = subscription
        self.timer = timer
        self.pending: bytes | None = None


class Coalescer:
    """The open windows of one class, keyed by (subscription, objectId)."""

    def __init__(self, window_seconds: float, stats: CoalesceStats) -> None:
        self.window = window_seconds
        self.stats = stats
        self._windows: dict[tuple[Subscribed, Any], _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def offer(self, subscription: Subscribed, object_id: Any, kind: str, frame: bytes) -> None:
        key = (subscription, object_id)
        window = self._windows.get(key)
        if kind != "update":
            if window is not None:  # the pending update goes first: nothing is reordered
                del self._windows[key]
                window.timer.cancel()
                self._release(window)
            self._send(subscription, frame)
            return
        if window is None:
            self._send(subscription, frame)
            self._open(key, subscription)
            return
        if window.pending is not None:
            self.stats.coalesced += 1  # replaced by a later state before it went out
        else:
            subscription.owner.held_back += 1
        window.pending = frame

    def _open(self, key: tuple[Subscribed, Any], subscription: Subscribed) -> None:
        timer = asyncio.get_running_loop().call_later(self.window, self._close, key)
        self._windows[key] = _Window(subscription, timer)

    def _close(self, key: tuple[Subscribed, Any]) -> None:
        window = self._windows.pop(key, None)
        if window is None or window.pending is None:
            return
        subscription = window.subscription
        if subscription not in subscription.query.subscribers:  # unsubscribed or replaced meanwhile
            subscription.owner.held_back -= 1
            self.stats.dropped += 1
            return
        self._release(window)  # the latest state; a new window starts with it
        if not subscription.owner.closed:
            self._open(key, subscription)

    def _release(self, window: _Window) -> None:
        if window.pending is not None:
            window.subscription.owner.held_back -= 1
            self._send(window.subscription, window.pending)
            window.pending = None

    def _send(self, subscription: Subscribed, frame: bytes | None) -> None:
        owner = subscription.owner
        if frame is not None and not owner.closed:
            owner.offer(frame)
            self.stats.sent += 1
