"""The store contract suite's fixtures: `store` runs each test once per adapter in STORES.

To run the suite against another backend, add one factory to STORES (e.g. "mongodb": a factory that gives a
fresh database per test). `objects` drives a store the way the API does: bodies through `parse_changes`,
types through `ensure_fields`, queries through `parse_where`.
"""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.adapter import Document, FindOptions, SortKey, StorageAdapter
from storage.changes import apply_changes, parse_changes
from storage.query import parse_where
from storage.values import format_date


def _sqlite(tmp_path: Path) -> StorageAdapter:
    from storage.sqlite import SqliteAdapter

    return SqliteAdapter(str(tmp_path / "contract.db"))


def _mongodb(tmp_path: Path) -> StorageAdapter:
    from storage.mongo import MongoAdapter
    from tests.storage.mongo_server import fresh_database_uri  # SecantusDB, or the server in MONGODB_URI

    return MongoAdapter(fresh_database_uri())


STORES: dict[str, Callable[[Path], StorageAdapter]] = {
    "sqlite": _sqlite,
    "mongodb": _mongodb,
}


@pytest.fixture(params=list(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageAdapter]:
    adapter = STORES[request.param](tmp_path)
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


class Objects:
    """Writes and queries through a store by the same path the API takes."""

    def __init__(self, store: StorageAdapter) -> None:
        self.store = store
        self._clock = itertools.count()
        self._start = datetime(2024, 1, 1, tzinfo=UTC)

    def tick(self) -> str:
        """A fresh timestamp, one second after the previous one, so createdAt order is creation order."""
        return format_date(self._start + timedelta(seconds=next(self._clock)))

    async def create(self, class_name: str, object_id: str, body: dict[str, Any] | None = None,
                     **internal: Any) -> Document:
        changes = parse_changes(body or {}, is_create=True)
        await self.store.ensure_fields(class_name, changes.implied_types())
        now = self.tick()
        document = apply_changes({"objectId": object_id, "createdAt": now, "updatedAt": now, **internal}, changes)
        await self.store.insert(class_name, document, changes)
        return document

    async def update(self, class_name: str, object_id: str, body: dict[str, Any],
                     where: dict[str, Any] | None = None,
                     extra: dict[str, Any] | None = None) -> tuple[Document, Document] | None:
        changes = parse_changes(body, is_create=False)
        await self.store.ensure_fields(class_name, changes.implied_types())
        return await self.store.update(class_name, object_id, changes, parse_where(where, internal=True),
                                       self.tick(), extra)

    async def find(self, class_name: str, where: dict[str, Any] | None = None, order: str = "",
                   limit: int | None = None, skip: int = 0) -> list[Document]:
        keys = tuple(SortKey(tuple(key.lstrip("-").split(".")), key.startswith("-"))
                     for key in order.split(",") if key)
        return await self.store.find(class_name, parse_where(where, internal=True),
                                     FindOptions(order=keys, limit=limit, skip=skip))

    async def ids(self, class_name: str, where: dict[str, Any] | None = None, order: str = "",
                  limit: int | None = None, skip: int = 0) -> list[str]:
        """objectIds in the store's order (give `order` when the order matters)."""
        return [doc["objectId"] for doc in await self.find(class_name, where, order, limit, skip)]

    async def matching(self, class_name: str, where: dict[str, Any] | None = None) -> set[str]:
        return set(await self.ids(class_name, where))

    async def get(self, class_name: str, object_id: str) -> Document | None:
        found = await self.find(class_name, {"objectId": object_id})
        return found[0] if found else None


@pytest.fixture
def objects(store: StorageAdapter) -> Objects:
    return Objects(store)

