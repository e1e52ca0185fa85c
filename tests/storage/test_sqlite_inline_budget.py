"""The inline reader's budget counts the loop thread's own work (its CPU time), not time it spent waiting.

A read on the event loop's thread waits whenever SQLite lets go of the GIL and another thread takes it (up to
Python's 5 ms switch interval), or when a page comes from the disk. Counting the GIL waits pushed cheap reads to
the reader threads exactly when the server was busy. A statement that waits here sleeps in a SQL function:
no CPU, wall-clock time only.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest

from storage.sqlite import inline
from storage.sqlite.inline import FIRST_PENALTY_SECONDS, MAX_PENALTY_SECONDS, WALL_CAP_SECONDS, InlineReader


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.create_function("pause", 2, lambda value, seconds: time.sleep(seconds) or value)
    yield conn
    conn.close()


def counting_with_pauses(rows: int, pauses: int, seconds: float) -> str:
    """A statement stepping through `rows` rows (little CPU) that sleeps `pauses` times `seconds` on the way."""
    every = rows // pauses
    return (f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
            f"SELECT sum(CASE WHEN i % {every} = 0 THEN pause(i, {seconds}) ELSE i END) FROM n")


def test_waiting_inside_a_read_does_not_count_against_its_budget(conn: sqlite3.Connection,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the wall-clock cap is another test's: here it is far off, so that sleeps a busy machine stretches stay
    # below it and only the budget is tried
    monkeypatch.setattr(inline, "WALL_CAP_SECONDS", 2.0)
    # the statement's own CPU is ~0.1 ms warm, but a wake-up after each sleep meets cold caches and a busy machine
    # (CI's) multiplies that several times: the budget is far above it, and the waiting far above the budget
    budget = 0.010
    reader = InlineReader(conn, budget_seconds=budget)
    sql = counting_with_pauses(50, 5, budget)  # five budgets of waiting
    started = time.perf_counter()
    done, result = reader.try_read(lambda c: c.execute(sql).fetchone()[0], lambda: "Post")
    assert time.perf_counter() - started > budget * 4.5  # it did wait, past the budget on the wall clock
    assert done and result == sum(range(1, 51))
    assert reader.inline == 1 and reader.handed_off == 0


def test_a_read_waiting_past_the_wall_clock_cap_goes_to_a_reader_thread(conn: sqlite3.Connection) -> None:
    budget = 0.001
    reader = InlineReader(conn, budget_seconds=budget)
    # a pause per ~60 rows, about what SQLite steps between two looks at the clock: 16 caps of waiting in all
    sql = counting_with_pauses(1000, 16, WALL_CAP_SECONDS)
    started = time.perf_counter()
    assert reader.try_read(lambda c: c.execute(sql).fetchone()[0], lambda: "Post") == (False, None)
    # stopped near the cap (~1 cap here), not at the end (room for sleeps a busy machine stretches)
    assert time.perf_counter() - started < WALL_CAP_SECONDS * 8
    assert reader.handed_off == 1
    # its key is held back a while
    assert reader.try_read(lambda c: c.execute("SELECT 1").fetchone()[0], lambda: "Post") == (False, None)
    assert reader.try_read(lambda c: c.execute("SELECT 1").fetchone()[0], lambda: "Other") == (True, 1)


def test_a_read_working_past_its_budget_goes_to_a_reader_thread(conn: sqlite3.Connection) -> None:
    reader = InlineReader(conn, budget_seconds=0.001)
    busy = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000) SELECT sum(i) FROM n"
    started = time.perf_counter()
    assert reader.try_read(lambda c: c.execute(busy).fetchone()[0], lambda: "Post") == (False, None)
    assert time.perf_counter() - started < 0.5  # the whole statement takes far longer (~3 s)
    assert reader.handed_off == 1 and reader.inline == 0


def test_a_class_over_budget_waits_longer_after_each_overrun_in_a_row_and_not_after_a_read_that_fit(
        conn: sqlite3.Connection) -> None:
    reader = InlineReader(conn, budget_seconds=0.001)
    busy = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) SELECT sum(i) FROM n"
    small = lambda c: c.execute("SELECT 1").fetchone()[0]  # noqa: E731
    over = lambda c: c.execute(busy).fetchone()[0]  # noqa: E731

    def overrun() -> float:
        started = time.perf_counter()
        assert reader.try_read(over, lambda: "Post") == (False, None)
        return started

    def seconds_until_inline(since: float) -> float:
        while reader.try_read(small, lambda: "Post") == (False, None):
            time.sleep(0.005)
            assert time.perf_counter() - since < MAX_PENALTY_SECONDS * 5
        return time.perf_counter() - since

    # (the bounds below are lower bounds, or far above what they tell apart: a busy machine only makes waits longer)
    first = seconds_until_inline(overrun())
    assert FIRST_PENALTY_SECONDS <= first < MAX_PENALTY_SECONDS / 2  # short: a one-off overrun costs little
    assert reader.try_read(small, lambda: "Other") == (True, 1)  # other classes were never held back
    # an overrun in a row (no read of the class fitted in between) doubles it
    started = overrun()
    while time.perf_counter() - started < FIRST_PENALTY_SECONDS * 1.1:
        time.sleep(0.005)
    assert seconds_until_inline(overrun()) >= FIRST_PENALTY_SECONDS * 2
    # that small read fitted: the next overrun starts from the first penalty again
    overrun()
    assert reader._slow["Post"][1] == FIRST_PENALTY_SECONDS
