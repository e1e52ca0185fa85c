"""The history ring a resume replays from, and the per-object order guard of the buses."""
from __future__ import annotations

from livequery.bus import ChangeEvent
from livequery.bus.order import LatestStates
from livequery.history import History, parse_token


def at(position: int, class_name: str = "Chat", object_id: str = "o1", kind: str = "update",
       updated: str = "2024-01-01T00:00:00.000Z") -> ChangeEvent:
    return ChangeEvent(class_name, kind, {"objectId": object_id, "updatedAt": updated},  # type: ignore[arg-type]
                       position=position)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_since_returns_the_events_after_a_position_up_to_what_was_dispatched() -> None:
    history = History("e1")
    for position in (3, 5, 8):
        history.record(at(position))
    assert [e.position for e in history.since("Chat", 3, 8)] == [5, 8]
    assert [e.position for e in history.since("Chat", 4, 5)] == [5]
    assert history.since("Chat", 8, 8) == []
    assert history.since("Other", 0, 8) == []


def test_a_position_before_what_is_kept_cannot_be_vouched_for() -> None:
    history = History("e1", max_events=2)
    for position in (1, 2, 3):
        history.record(at(position))
    assert history.since("Chat", 0, 3) is None  # 1 was evicted
    assert [e.position for e in history.since("Chat", 1, 3)] == [2, 3]


def test_events_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    history = History("e1", seconds=60, clock=clock)
    history.record(at(1))
    clock.now += 30
    history.record(at(2))
    clock.now += 31
    assert history.since("Chat", 0, 2) is None
    assert [e.position for e in history.since("Chat", 1, 2)] == [2]


def test_a_gap_or_a_new_epoch_ends_resumes_from_before_it() -> None:
    history = History("e1")
    history.record(at(1))
    history.record(at(2, "Other"))
    history.gap("Chat")
    assert history.since("Chat", 2, 2) is None and history.since("Other", 1, 2) is not None
    history.record(at(5))
    assert [e.position for e in history.since("Chat", 3, 5)] == [5]
    history.begin("e2", 7)
    assert history.epoch == "e2" and history.since("Other", 1, 7) is None and history.since("Other", 7, 7) == []


def test_a_class_first_seen_later_is_complete_since_the_history_began() -> None:
    history = History("e1")
    history.begin("e1", 10)
    history.record(at(12, "New"))
    assert history.since("New", 10, 12) is not None and history.since("New", 9, 12) is None


def test_tokens_name_their_epoch() -> None:
    history = History("ab12")
    assert parse_token(history.token(42)) == ("ab12", 42)
    assert parse_token("nonsense") is None and parse_token("x.-1") is None


def test_an_older_state_of_an_object_published_late_is_stale() -> None:
    latest = LatestStates()
    assert not latest.is_stale(at(1, updated="2024-01-01T00:00:02.000Z"))
    assert latest.is_stale(at(2, updated="2024-01-01T00:00:01.000Z"))
    assert not latest.is_stale(at(3, updated="2024-01-01T00:00:02.000Z"))  # the same instant: bus order
    assert not latest.is_stale(at(4, object_id="o2", updated="2024-01-01T00:00:01.000Z"))
    assert not latest.is_stale(at(5, kind="delete", updated="2024-01-01T00:00:02.000Z"))
    assert latest.is_stale(at(6, updated="2024-01-01T00:00:03.000Z"))  # nothing after a delete
    assert latest.stale == 2
