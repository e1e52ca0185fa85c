"""The threads that own SQLite connections: one writer committing queued writes in groups, and readers.

The writer takes every write waiting in its queue (up to `max_batch`) into one `BEGIN IMMEDIATE` transaction,
each write under its own SAVEPOINT: a failing write rolls back alone, the others commit together, and no caller
hears of success before the COMMIT. Writes are therefore serialized and atomic. Readers run each call in its
own read transaction, so a call sees one snapshot.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from storage.errors import ErrorCode, ParseError, brief_traceback

logger = logging.getLogger(__name__)

Work = Callable[[sqlite3.Connection], Any]
_Job = tuple["Work | Transaction", asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]

DUPLICATE_MESSAGE = "A duplicate value for a field with unique values was provided"
_ROLLED_BACK = "The transaction was rolled back (idle too long)"
_TOO_LARGE = ("Expression tree is too large", "too many SQL variables", "parser stack overflow", "too many terms")


def to_parse_error(exc: BaseException) -> ParseError:
    """Driver errors become Parse errors; the unexpected is logged and answered as INTERNAL_SERVER_ERROR."""
    if isinstance(exc, ParseError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        return ParseError(ErrorCode.DUPLICATE_VALUE, DUPLICATE_MESSAGE)
    if isinstance(exc, OverflowError):  # SQLite integers are 64-bit
        return ParseError(ErrorCode.INVALID_JSON, "A number is too large to be stored (64-bit integers at most)")
    if isinstance(exc, sqlite3.OperationalError) and any(text in str(exc) for text in _TOO_LARGE):
        # storage.limits keeps parsed queries well below SQLite's own bounds; this is the last line
        return ParseError(ErrorCode.INVALID_QUERY, f"The query is too large: {exc}")
    logger.error("sqlite store failed\n%s", brief_traceback(exc))
    return ParseError(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error.")


def _deliver(outcomes: list[_Outcome]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _hand_back(outcomes: list[tuple[asyncio.AbstractEventLoop, _Outcome]]) -> None:
    """One wake-up per event loop for a whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for loop, outcome in outcomes:
        by_loop.setdefault(loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, items)
        except RuntimeError:  # the caller's loop is gone; nobody is waiting
            pass


class Transaction:
    """Writes that commit together or not at all. While one is open the writer thread serves only its jobs (so
    keep it short); a transaction left without a job for `idle_seconds` is rolled back, never held forever."""

    def __init__(self, idle_seconds: float) -> None:
        self.jobs: queue.SimpleQueue[_Job | tuple[bool, asyncio.AbstractEventLoop, asyncio.Future[Any]]] = \
            queue.SimpleQueue()
        self.idle_seconds = idle_seconds
        self.is_open = True


def _fail_queued(transaction: Transaction) -> None:
    """Jobs that reached a transaction as it was rolled back: none of them ran."""
    while True:
        try:
            _, loop, future = transaction.jobs.get_nowait()
        except queue.Empty:
            return
        _hand_back([(loop, (future, False, ParseError(ErrorCode.INTERNAL_SERVER_ERROR, _ROLLED_BACK)))])


class _Thread:
    def __init__(self, name: str, conn: sqlite3.Connection, jobs: queue.SimpleQueue[_Job | None]) -> None:
        self.conn = conn
        self.jobs = jobs
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        raise NotImplementedError


class _Writer(_Thread):
    def __init__(self, conn: sqlite3.Connection, jobs: queue.SimpleQueue[_Job | None], max_batch: int) -> None:
        super().__init__("sqlite-writer", conn, jobs)
        self.max_batch = max_batch

    def run(self) -> None:
        stopping = False
        waiting: _Job | None = None  # a transaction met while gathering a group: it runs right after
        while not stopping:
            first = waiting or self.jobs.get()
            waiting = None
            if first is None:
                break
            if isinstance(first[0], Transaction):
                self.serve(first[0], first[1], first[2])
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                if isinstance(job[0], Transaction):
                    waiting = job
                    break
                batch.append(job)
            _hand_back(self.commit(batch))
        try:
            self.conn.execute("PRAGMA optimize")  # keeps the planner's statistics fresh for the next start
        except sqlite3.Error:
            logger.warning("PRAGMA optimize failed", exc_info=True)
        self.conn.close()

    def commit(self, batch: list[_Job]) -> list[tuple[asyncio.AbstractEventLoop, _Outcome]]:
        try:
            results = self._run_batch(batch)
        except Exception as exc:  # noqa: BLE001 - the transaction itself failed: nothing of it holds
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            results = [(False, to_parse_error(exc))] * len(batch)
        return [(loop, (future, ok, value)) for (_, loop, future), (ok, value) in zip(batch, results)]

    def serve(self, transaction: Transaction, loop: asyncio.AbstractEventLoop,
              started: asyncio.Future[Any]) -> None:
        """BEGIN, then run the transaction's jobs (each atomic on its own) until it ends: COMMIT or ROLLBACK."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:  # noqa: BLE001 - the caller hears why
            transaction.is_open = False
            _hand_back([(loop, (started, False, to_parse_error(exc)))])
            return
        _hand_back([(loop, (started, True, None))])
        while True:
            try:
                work, job_loop, future = transaction.jobs.get(timeout=transaction.idle_seconds)
            except queue.Empty:
                logger.warning("a store transaction stayed idle for %ss: rolled back", transaction.idle_seconds)
                transaction.is_open = False
                conn.execute("ROLLBACK")
                _fail_queued(transaction)
                return
            if isinstance(work, bool):  # the end: True commits
                transaction.is_open = False
                try:
                    conn.execute("COMMIT" if work else "ROLLBACK")
                    outcome: _Outcome = (future, True, None)
                except Exception as exc:  # noqa: BLE001 - a failed COMMIT: nothing of it holds
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    outcome = (future, False, to_parse_error(exc))
                _hand_back([(job_loop, outcome)])
                return
            conn.execute("SAVEPOINT job")
            try:
                outcome = (future, True, work(conn))
            except Exception as exc:  # noqa: BLE001 - every failure becomes the caller's ParseError
                conn.execute("ROLLBACK TO job")
                outcome = (future, False, to_parse_error(exc))
            conn.execute("RELEASE job")
            _hand_back([(job_loop, outcome)])

    def _run_batch(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        conn = self.conn
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        if len(batch) == 1:
            try:
                results.append((True, batch[0][0](conn)))
            except Exception as exc:  # noqa: BLE001 - every failure becomes the caller's ParseError
                conn.execute("ROLLBACK")
                return [(False, to_parse_error(exc))]
            conn.execute("COMMIT")
            return results
        for work, _, _ in batch:
            conn.execute("SAVEPOINT job")
            try:
                value = work(conn)
            except Exception as exc:  # noqa: BLE001 - every failure becomes the caller's ParseError
                results.append((False, to_parse_error(exc)))
                conn.execute("ROLLBACK TO job")
            else:
                results.append((True, value))
            conn.execute("RELEASE job")
        conn.execute("COMMIT")
        return results


class _Reader(_Thread):
    def run(self) -> None:
        conn = self.conn
        while True:
            job = self.jobs.get()
            if job is None:
                break
            work, loop, future = job
            try:
                conn.execute("BEGIN")
                try:
                    outcome: _Outcome = (future, True, work(conn))
                finally:
                    conn.execute("COMMIT")
            except Exception as exc:  # noqa: BLE001 - every failure becomes the caller's ParseError
                outcome = (future, False, to_parse_error(exc))
            _hand_back([(loop, outcome)])
        conn.close()


class Workers:
    """Runs callables on the store's connections and awaits their results from asyncio."""

    def __init__(self, writer: sqlite3.Connection, readers: list[sqlite3.Connection], max_batch: int = 64) -> None:
        self._write_jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._read_jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer = _Writer(writer, self._write_jobs, max_batch)
        self._readers = [_Reader(f"sqlite-reader-{i}", conn, self._read_jobs) for i, conn in enumerate(readers)]
        self._closed = False
        for worker in (self._writer, *self._readers):
            worker.thread.start()

    def write(self, work: Work, transaction: Transaction | None = None) -> asyncio.Future[Any]:
        """Run `work` on the writer; inside `transaction` when one is given (never outside it: a transaction
        rolled back meanwhile fails the write)."""
        if transaction is not None:
            if not transaction.is_open:
                raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, _ROLLED_BACK)
            return self._submit(transaction.jobs, work)
        return self._submit(self._write_jobs, work)

    async def begin(self, idle_seconds: float = 30.0) -> Transaction:
        """Open a transaction once the writer has finished what was queued before it."""
        transaction = Transaction(idle_seconds)
        await self._submit(self._write_jobs, transaction)
        return transaction

    async def end(self, transaction: Transaction, commit: bool) -> None:
        """COMMIT (or ROLLBACK) the transaction; a COMMIT that fails raises, and nothing of it holds."""
        if not transaction.is_open:
            if commit:
                raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, _ROLLED_BACK)
            return
        await self._submit(transaction.jobs, commit)

    def read(self, work: Work) -> asyncio.Future[Any]:
        return self._submit(self._read_jobs, work)

    def _submit(self, jobs: queue.SimpleQueue[Any], work: Any) -> asyncio.Future[Any]:
        if self._closed:
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, "The store is closed.")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        jobs.put((work, loop, future))
        return future

    def stop(self) -> list[threading.Thread]:
        """Queue a stop after the pending work; returns the threads to join."""
        self._closed = True
        self._write_jobs.put(None)
        for _ in self._readers:
            self._read_jobs.put(None)
        return [worker.thread for worker in (self._writer, *self._readers)]
