"""Small reads on the event loop's own thread, within a time budget.

A read handed to a reader thread pays for the hand-over both ways: a queue put and a thread wake-up, a
`call_soon_threadsafe` back through the loop's self-pipe, and the GIL passed twice. For the reads most requests
make (an indexed query of 20 rows: ~0.1 ms of SQLite work) that was about a third of the read's CPU. So such a
read first runs here, on a connection of its own, with SQLite's progress handler as a stopwatch: past the
budget SQLite interrupts the statement, and the read goes to a reader thread as before. The loop is held for
at most the budget (plus decoding rows a caller bounded with a small limit), whatever the query.

The budget is this thread's CPU time, not the wall clock: SQLite lets go of the GIL while it steps, and getting
it back from a busy reader or writer thread can take Python's whole switch interval (5 ms). Counted on the wall
clock, that wait made cheap reads "slow" exactly when the server was busy, sent their class to the reader threads
for a second, and kept it there (those threads kept the GIL busy): a 20-row indexed query went inline 16
times in 8,000 under load. A wall-clock cap, well above the budget, still bounds a read waiting on the disk.

A kind of read (the adapter's key: a class and a query shape) that ran over goes to the reader threads for a
while: 50 ms at first, twice as long after each overrun in a row, at most a second; one read that finishes inline
ends it. One overrun (the first read after a schema change, on a cold page cache: ~5 ms) then costs 50 ms of
hand-overs, not a second of them (a tenth of a benchmark phase ran on the threads at ~20 % less throughput),
while a kind of read that is always too big wastes one budget per second once its penalty has grown.
"""
from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from storage.sqlite.workers import to_parse_error

T = TypeVar("T")

DEFAULT_BUDGET_SECONDS = 0.002  # of this thread's CPU
WALL_CAP_SECONDS = 0.010  # wall-clock time allowed, whatever the budget (a read waiting on the disk, not on the GIL)
_CHECK_EVERY = 1000  # SQLite VM instructions between looks at the clock (a few microseconds each)
FIRST_PENALTY_SECONDS = 0.05  # a class whose read ran over tries inline again after this...
MAX_PENALTY_SECONDS = 1.0  # ...doubled after each overrun in a row, up to this: one budget wasted per second
_MAX_SLOW_KEYS = 10_000
_NOT_YET: Hashable = object()  # a key not worked out
_HAND_OFF = frozenset({"interrupted", "database is locked"})  # out of budget; a lock a reader thread may wait for


class InlineReader:
    """One read-only connection used only by the event loop's thread."""

    def __init__(self, conn: sqlite3.Connection, budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> None:
        self._conn = conn
        self._budget = budget_seconds
        self._deadline = math.inf  # thread CPU time
        self._wall_deadline = math.inf
        conn.set_progress_handler(self._over_budget, _CHECK_EVERY)
        conn.execute("PRAGMA busy_timeout=0")  # never wait here for a lock (the handler does not run meanwhile)
        self._slow: dict[Hashable, tuple[float, float]] = {}  # key: (reads go to a thread until, penalty)
        self.inline = 0  # reads answered here
        self.handed_off = 0  # reads that ran out of budget and went to a reader thread

    def _over_budget(self) -> int:
        return 1 if time.thread_time() > self._deadline or time.perf_counter() > self._wall_deadline else 0

    def try_read(self, work: Callable[[sqlite3.Connection], T],
                 key_of: Callable[[], Hashable] = lambda: None) -> tuple[bool, T | None]:
        """(True, result) when `work` finished within the budget; (False, None) when it did not, or while its key
        (the adapter's: the class and the query's shape) is paying for an earlier read that did not (the read
        must run elsewhere: work thrown away at most once per key and penalty). Other failures raise as a
        reader thread's would (ParseError). `key_of` is called only while some key is paying, or on an overrun:
        working out a query's shape is a walk of its tree, not for every read."""
        now = time.perf_counter()
        slow = self._slow
        key: Hashable = key_of() if slow else _NOT_YET
        if key is not _NOT_YET and key in slow and slow[key][0] > now:
            return False, None
        conn = self._conn
        self._deadline = time.thread_time() + self._budget
        self._wall_deadline = now + max(self._budget, WALL_CAP_SECONDS)
        try:
            conn.execute("BEGIN")  # one snapshot for the read's statements, as on a reader thread
        except sqlite3.OperationalError:  # busy (a WAL recovery): a reader thread may wait for it
            self._deadline = self._wall_deadline = math.inf
            self.handed_off += 1
            return False, None
        try:
            result = work(conn)
        except sqlite3.OperationalError as exc:
            if str(exc) in _HAND_OFF:
                self.handed_off += 1
                if key is _NOT_YET:
                    key = key_of()
                penalty = min(slow[key][1] * 2, MAX_PENALTY_SECONDS) if key in slow else FIRST_PENALTY_SECONDS
                if len(slow) >= _MAX_SLOW_KEYS and key not in slow:
                    self._forget_ended(now)
                if len(slow) < _MAX_SLOW_KEYS or key in slow:
                    slow[key] = (now + penalty, penalty)
                return False, None
            raise to_parse_error(exc) from None
        except Exception as exc:  # noqa: BLE001 - as on a reader thread: every failure becomes a ParseError
            raise to_parse_error(exc) from None
        finally:
            self._deadline = self._wall_deadline = math.inf
            conn.execute("COMMIT")
        self.inline += 1
        if slow:  # (so it was at the start, and `key` is worked out)
            slow.pop(key, None)  # it fits again: the next overrun starts from the first penalty
        return True, result

    def _forget_ended(self, now: float) -> None:
        """Drop the penalties that ended (of keys not read since): room for new ones."""
        slow = self._slow
        for key in [key for key, (until, _) in slow.items() if until <= now]:
            del slow[key]

    def close(self) -> None:
        self._conn.close()
