"""Per-object order on the bus: a write is published after it commits, so two writers (two requests, or two
processes) may publish in the other order than they committed. `LatestStates` remembers each object's newest
state seen (its `updatedAt`, or that it was deleted) and recognises an event older than that as stale: its state
was already superseded by one delivered before, and delivering it would take subscribers back in time.

It relies on the stores' promise that an object's `updatedAt` grows strictly in the order its writes commit
(storage.changes.commit_stamp; on MongoDB the stamp is taken inside the atomic update), so the newest state is
never taken for a stale one. Updates of dotted paths on MongoDB (`a.b`) may share a stamp with the write before:
equal stamps are never stale and keep the bus's order."""
from __future__ import annotations

from livequery.bus import ChangeEvent

_DELETED = "\uffff"  # after every ISO-8601 timestamp: nothing is newer than a delete

DEFAULT_MAX_OBJECTS = 100_000


class LatestStates:
    """The newest `updatedAt` seen per (class, objectId), for at most `max_objects` objects (the oldest entries
    are forgotten first). O(1) per event."""

    def __init__(self, max_objects: int = DEFAULT_MAX_OBJECTS) -> None:
        self._latest: dict[tuple[str, object], str] = {}
        self._max = max(1, max_objects)
        self.stale = 0

    def is_stale(self, event: ChangeEvent) -> bool:
        """Whether `event` is older than a state of its object already seen; else it is remembered as newest.
        Events of one instant (the same millisecond) are never stale: they stay in bus order."""
        if event.notice:
            return False
        document = event.object
        object_id, stamp = document.get("objectId"), document.get("updatedAt")
        if object_id is None or stamp.__class__ is not str:
            return False
        key = (event.class_name, object_id)
        latest = self._latest
        seen = latest.get(key)
        if seen is not None and (stamp < seen or (seen is _DELETED and event.kind != "delete")):
            self.stale += 1
            return True
        latest[key] = _DELETED if event.kind == "delete" else stamp  # type: ignore[assignment]
        if len(latest) > self._max:
            del latest[next(iter(latest))]
        return False
