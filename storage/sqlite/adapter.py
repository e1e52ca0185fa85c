"""SqliteAdapter: the StorageAdapter over one SQLite file, in WAL mode, driven from asyncio through threads."""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from storage.adapter import Document, FindOptions
from storage.changes import Changes
from storage.errors import ErrorCode, ParseError
from storage.query import Node, query_shape
from storage.schema import ClassSchema, FieldOptions
from storage.sqlite import layout
from storage.sqlite.classes import ClassStore
from storage.sqlite.functions import SqlFunctions
from storage.sqlite.inline import DEFAULT_BUDGET_SECONDS, InlineReader
from storage.sqlite.objects import ObjectStore
from storage.sqlite.workers import Transaction, Workers
from storage.task_local import TaskLocal
from storage.values import FieldType

_EVERYTHING = FindOptions()
INLINE_MAX_ROWS = 100  # a find limited to this many rows may run on the loop's thread (storage/sqlite/inline.py)


class SqliteAdapter:
    """A StorageAdapter keeping every class in one SQLite database file.

    `path` is the database file (created if missing). Writes go through a single writer thread that commits
    them in small groups; reads run on `readers` threads with their own connections. Several processes may
    open the same file: SQLite's locking serializes their writers (waiting up to `busy_timeout_ms`). Small reads
    (a count, a schema, a find limited to `INLINE_MAX_ROWS`) first run on the event loop's thread within a
    budget of `inline_budget_seconds` of SQLite work, and go to a reader thread past it (0: never inline).
    """

    def __init__(self, path: str, *, readers: int = 2, busy_timeout_ms: int = 5000,
                 inline_budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> None:
        self.path = path
        self._inline_budget = inline_budget_seconds
        self._inline: InlineReader | None = None
        self._reader_count = max(1, readers)
        self._busy_timeout_ms = busy_timeout_ms
        self._functions = SqlFunctions()
        self._classes = ClassStore(layout.SchemaCache())
        self._objects = ObjectStore(self._classes)
        self._workers: Workers | None = None
        self._lock = asyncio.Lock()
        # the transaction the current task writes in (storage.adapter's `transaction()`), per adapter
        self._transaction: TaskLocal[Transaction] = TaskLocal(f"sqlite-transaction-{id(self)}")

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def open(self) -> None:
        async with self._lock:
            if self._workers is not None:
                return
            writer, *readers = await asyncio.to_thread(self._connect_all)
            if self._inline_budget > 0:
                self._inline = InlineReader(readers.pop(), self._inline_budget)
            self._workers = Workers(writer, readers)

    async def close(self) -> None:
        async with self._lock:
            if self._workers is None:
                return
            threads = self._workers.stop()
            self._workers = None
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            for thread in threads:
                await asyncio.to_thread(thread.join)

    def _connect_all(self) -> list[sqlite3.Connection]:
        try:
            writer = self._connect()
        except sqlite3.Error as exc:
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                             f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            layout.create_store(writer)  # (and brings an older database's layout up to date)
            readers = [self._connect(read_only=True) for _ in range(self._reader_count + 1)]  # +1: inline
        except (sqlite3.Error, ParseError) as exc:
            writer.close()
            message = exc.message if isinstance(exc, ParseError) else str(exc)
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                             f"cannot open SQLite database {self.path}: {message}") from exc
        return [writer, *readers]

    def _connect(self, read_only: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, cached_statements=512)
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-32000")
        if read_only:
            conn.execute("PRAGMA query_only=1")
        self._functions.register(conn)
        return conn

    def _running(self) -> Workers:
        if self._workers is None:
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, "The store is not open.")
        return self._workers

    async def _write(self, work: Any) -> Any:
        return await self._running().write(work, self._transaction.get())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One SQLite transaction for every write of the block: the writer serves only it until it ends (reads
        in the block see the state before it). A block inside a block joins the outer transaction."""
        if self._transaction.get() is not None:
            yield
            return
        workers = self._running()
        transaction = await workers.begin()
        try:
            with self._transaction.bound(transaction):
                yield
        except BaseException:
            await workers.end(transaction, commit=False)
            raise
        await workers.end(transaction, commit=True)

    async def _read(self, work: Any) -> Any:
        return await self._running().read(work)

    async def _read_small(self, work: Any, key_of: Callable[[], Hashable]) -> Any:
        """A read expected to be quick: on this thread within the budget, else on a reader thread."""
        workers = self._running()
        inline = self._inline
        if inline is not None:
            done, result = inline.try_read(work, key_of)
            if done:
                return result
        return await workers.read(work)

    # --- schemas --------------------------------------------------------------------------------------------
    async def get_all_schemas(self) -> list[ClassSchema]:
        return await self._read(self._classes.get_all)

    async def get_schema(self, class_name: str) -> ClassSchema | None:
        return await self._read_small(lambda conn: self._classes.get(conn, class_name), _schema_key)

    async def ensure_fields(self, class_name: str, fields: Mapping[str, FieldType]) -> ClassSchema:
        wanted = dict(fields)
        return await self._write(lambda conn: self._classes.ensure_fields(conn, class_name, wanted))

    async def create_class(self, schema: ClassSchema) -> ClassSchema:
        return await self._write(lambda conn: self._classes.create(conn, schema))

    async def update_class(self, class_name: str, *, add_fields: Mapping[str, FieldType] | None = None,
                           delete_fields: tuple[str, ...] = (), clp: dict[str, Any] | None = None,
                           add_indexes: Mapping[str, dict[str, Any]] | None = None,
                           drop_indexes: tuple[str, ...] = (),
                           field_options: Mapping[str, FieldOptions] | None = None) -> ClassSchema:
        return await self._write(lambda conn: self._classes.update(
            conn, class_name, add_fields=add_fields, delete_fields=tuple(delete_fields), clp=clp,
            add_indexes=add_indexes, drop_indexes=tuple(drop_indexes), field_options=field_options))

    async def delete_class(self, class_name: str) -> None:
        await self._write(lambda conn: self._classes.delete(conn, class_name))

    async def ensure_unique(self, class_name: str, field: str, *, case_insensitive: bool = False) -> None:
        await self._write(lambda conn: self._classes.ensure_unique(conn, class_name, field, case_insensitive))

    # --- objects --------------------------------------------------------------------------------------------
    async def insert(self, class_name: str, document: Document, changes: Changes | None = None) -> None:
        await self._write(lambda conn: self._objects.insert(conn, class_name, document, changes))

    async def update(self, class_name: str, object_id: str, changes: Changes, where: Node,
                     updated_at: str, extra: Mapping[str, Any] | None = None) -> tuple[Document, Document] | None:
        return await self._write(lambda conn: self._objects.update(conn, class_name, object_id, changes, where,
                                         updated_at, extra))

    async def delete(self, class_name: str, object_id: str, where: Node) -> Document | None:
        return await self._write(lambda conn: self._objects.delete(conn, class_name, object_id, where))

    async def find(self, class_name: str, where: Node, options: FindOptions = _EVERYTHING) -> list[Document]:
        work = lambda conn: self._objects.find(conn, class_name, where, options)  # noqa: E731
        if options.limit is not None and options.limit <= INLINE_MAX_ROWS:
            return await self._read_small(work, lambda: _cost_key(class_name, where, options.order))
        return await self._read(work)

    async def count(self, class_name: str, where: Node) -> int:
        return await self._read_small(lambda conn: self._objects.count(conn, class_name, where),
                                      lambda: _cost_key(class_name, where, ()))

    async def purge(self, class_name: str) -> None:
        await self._write(lambda conn: self._objects.purge(conn, class_name))

    # --- relations ------------------------------------------------------------------------------------------
    async def related_ids(self, class_name: str, field: str, owning_ids: tuple[str, ...]) -> list[str]:
        return await self._read(lambda conn: self._objects.related_ids(conn, class_name, field, tuple(owning_ids)))

    async def owning_ids(self, class_name: str, field: str, related_ids: tuple[str, ...]) -> list[str]:
        return await self._read(lambda conn: self._objects.owning_ids(conn, class_name, field, tuple(related_ids)))


def _schema_key() -> str:
    """The inline reader's penalty key of schema reads: one kind of read, whatever the class."""
    return "_schema"


def _cost_key(class_name: str, where: Node, order: Any) -> tuple[str, int]:
    """What the inline reader's penalty is kept by: the class and the query's shape (storage.query.query_shape)
    with its order. By class alone, one client's costly query (a regex scan) sent everyone's reads of the
    class to the reader threads, in line behind it: an indexed 5-row query answered in 2.3 s, not 3 ms. A hash
    keeps the key small whatever the query; a collision only shares a penalty."""
    return class_name, hash((query_shape(where), order))
