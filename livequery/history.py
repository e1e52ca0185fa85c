"""Recent change events per class, by position: what a LiveQuery client that reconnects missed.

Positions come from the bus and order every event of an application across its server processes (Redis stream
entry ids, or the in-process counter), so per class too. A `History` is fed by its bus in position order, keeps
at most `max_events` per class and none older than `seconds`, and answers "every event of this class after
position p", or None when it cannot vouch for that: events after p were evicted, or history was lost (a Redis
restart), or p belongs to another history (`epoch`).

A client sees positions as opaque tokens `<epoch>.<position>` (`token`/`parse_token`).
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from livequery.bus import ChangeEvent

DEFAULT_SECONDS = 120.0
DEFAULT_MAX_EVENTS = 10_000


class _ClassHistory:
    __slots__ = ("events", "floor")

    def __init__(self, floor: int) -> None:
        # (position, wall-clock seconds, event), oldest first; one tuple per event, appended and popped at the ends
        self.events: deque[tuple[int, float, ChangeEvent]] = deque()
        self.floor = floor  # the history of this class is complete after this position only


class History:
    """The recent events of every class, in position order. `record` is O(1) amortised; `since` is O(events
    returned) plus O(log n)-free scanning from the newest end, as resumes ask for the recent past."""

    def __init__(self, epoch: str, *, seconds: float = DEFAULT_SECONDS, max_events: int = DEFAULT_MAX_EVENTS,
                 clock: Callable[[], float] = time.time) -> None:
        """`epoch`: names this history (positions of another epoch are unknown here). `seconds`/`max_events`:
        the retention window per class, by age and by count."""
        self.epoch = epoch
        self.seconds = seconds
        self.max_events = max(1, max_events)
        self._clock = clock
        self._classes: dict[str, _ClassHistory] = {}
        self._start = 0  # nothing before this position is known, for classes seen or not
        self.last = 0  # the newest position recorded (or the start)

    @property
    def start(self) -> int:
        """The position this history began after: events up to it are not known here."""
        return self._start

    def begin(self, epoch: str, position: int) -> None:
        """Start over as history `epoch`, complete after `position` only: the previous history was lost."""
        self.epoch = epoch
        self._classes.clear()
        self._start = self.last = max(position, 0)

    def record(self, event: ChangeEvent) -> None:
        position = event.position
        if position <= self.last:  # never out of order: a replay of what is already known
            return
        self.last = position
        if self.seconds <= 0:  # resumes are off: keep nothing
            return
        history = self._classes.get(event.class_name)
        if history is None:
            history = self._classes[event.class_name] = _ClassHistory(self._start)
        now = self._clock()
        events = history.events
        events.append((position, now, event))
        if len(events) > self.max_events:
            history.floor = events.popleft()[0]
        self._expire(history, now)

    def gap(self, class_name: str | None = None) -> None:
        """Events of `class_name` (None: every class) may have been delivered without being recorded: no resume
        from a position before now can be trusted."""
        if class_name is None:
            self.begin(self.epoch, self.last)
            return
        history = self._classes.get(class_name)
        if history is None:
            history = self._classes[class_name] = _ClassHistory(self._start)
        history.events.clear()
        history.floor = self.last + 1  # positions handed out so far are before the gap

    def since(self, class_name: str, position: int, upto: int) -> list[ChangeEvent] | None:
        """The events of `class_name` with `position < p <= upto`, oldest first; None if some may be missing."""
        history = self._classes.get(class_name)
        floor = history.floor if history is not None else self._start
        if history is not None:
            self._expire(history, self._clock())
            floor = history.floor
        if position < floor:
            return None
        if history is None:
            return []
        found: list[ChangeEvent] = []
        for entry_position, _at, event in reversed(history.events):
            if entry_position <= position:
                break
            if entry_position <= upto:
                found.append(event)
        found.reverse()
        return found

    def token(self, position: int) -> str:
        return f"{self.epoch}.{position}"

    def _expire(self, history: _ClassHistory, now: float) -> None:
        events, oldest = history.events, now - self.seconds
        while events and events[0][1] < oldest:
            history.floor = events.popleft()[0]


def parse_token(token: str) -> tuple[str, int] | None:
    """`<epoch>.<position>` as (epoch, position); None if it is not one."""
    epoch, dot, position = token.rpartition(".")
    if not dot or not epoch or not position.isdigit():
        return None
    return epoch, int(position)
