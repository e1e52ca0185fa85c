"""Coalesced delivery: at most one `update` per object per window, carrying the latest state.

For classes whose objects change faster than anyone can watch (a live reaction counter), the hub sends the first
update of an object at once, then at most one more per window: the latest, when the window ends. The merging is
done on the events, before the fan-out, so a window costs one fan-out however many updates it merged and however
many subscribers watch (merging per subscriber cost 2,000 look-ups per reaction with 2,000 viewers, and a server
that could not keep up). A merged update goes from the state subscribers were last sent to the latest.

Only updates that change nothing but plain values (strings, numbers, booleans, dates, null) and move no
subscription's query in or out are held. An update that touches an ACL, a pointer, an array or an object (what
pointer permissions, protected fields and `_rperm` are made of), or that makes some query match or stop
matching, goes out at once, right after the update still held for its object; so does a create, enter, leave or
delete. Nothing is reordered, no kind is lost, and the final state always arrives (a held update is sent when its
window ends). A subscription added to a coalesced class first releases the class's held updates to the
subscribers before it, so it never gets an update for a state from before it subscribed. Windows are per
process: with several processes on Redis, each hub coalesces the events it delivers to its own clients.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec

from livequery.bus import ChangeEvent


class CoalesceStats:
    """Counters for /health and /metrics, in events of the coalesced classes: updates merged into a later one,
    and updates fanned out."""

    __slots__ = ("coalesced", "sent")

    def __init__(self) -> None:
        self.coalesced = 0
        self.sent = 0

    def as_json(self) -> dict[str, int]:
        return {"coalesced": self.coalesced, "sent": self.sent}


class _Window:
    __slots__ = ("held", "timer")

    def __init__(self, timer: asyncio.TimerHandle) -> None:
        self.timer = timer
        self.held: ChangeEvent | None = None  # the update to send when the window ends


class Coalescer:
    """The open windows of one class's objects, keyed by objectId."""

    def __init__(self, window_seconds: float, stats: CoalesceStats, *, fan_out: Callable[[ChangeEvent], int],
                 release: Callable[[ChangeEvent], Any], plain: Callable[[ChangeEvent], bool]) -> None:
        """`fan_out`: delivers an event now (returns the frames queued); `release`: the same for a held update,
        from a timer; `plain`: whether an update changes only plain values and moves no query (may be held)."""
        self.window = window_seconds
        self.stats = stats
        self._fan_out = fan_out
        self._release = release
        self._plain = plain
        self._windows: dict[Any, _Window] = {}
        self._held_from: dict[Any, int] = {}  # objectId -> position of its oldest held update, oldest first

    def __len__(self) -> int:
        return len(self._windows)

    def oldest_held(self) -> int | None:
        """The position of the oldest update held back (positions grow in arrival order), if any."""
        for position in self._held_from.values():
            return position
        return None

    def admit(self, event: ChangeEvent) -> int:
        """Deliver `event` now, or hold it for its object's window; returns the frames queued now for it."""
        object_id = event.object.get("objectId")
        window = self._windows.get(object_id)
        if event.kind != "update" or object_id is None:
            if window is not None:  # the held update goes first: nothing is reordered
                self._end(object_id, window)
            return self._fan_out(event)
        if window is None:  # the first update after a quiet window goes at once
            self._open(object_id)
            self.stats.sent += 1
            return self._fan_out(event)
        if not self._plain(event):  # someone's view changes beyond an update: now, behind what is held
            self._send_held(object_id, window)
            self.stats.sent += 1
            return self._fan_out(event)
        held = window.held
        if held is None:
            window.held = event
            if event.position:
                self._held_from[object_id] = event.position
        else:  # the states between are merged away: from what was last sent to the latest
            window.held = msgspec.structs.replace(event, original=held.original)
            self.stats.coalesced += 1
        return 0

    def release_all(self) -> None:
        """Send every held update now and close the windows (a subscription is about to be added)."""
        windows, self._windows = self._windows, {}
        for object_id, window in windows.items():
            window.timer.cancel()
            self._send_held(object_id, window)

    def _open(self, object_id: Any) -> None:
        timer = asyncio.get_running_loop().call_later(self.window, self._close, object_id)
        self._windows[object_id] = _Window(timer)

    def _close(self, object_id: Any) -> None:
        window = self._windows.pop(object_id, None)
        if window is None or window.held is None:
            return  # a quiet window: the next update goes at once
        self._open(object_id)  # the latest state goes now, and a new window starts with it
        self._send_held(object_id, window)

    def _end(self, object_id: Any, window: _Window) -> None:
        del self._windows[object_id]
        window.timer.cancel()
        self._send_held(object_id, window)

    def _send_held(self, object_id: Any, window: _Window) -> None:
        held = window.held
        if held is None:
            return
        window.held = None
        self._held_from.pop(object_id, None)
        self.stats.sent += 1
        self._release(held)
