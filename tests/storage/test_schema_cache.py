"""The process-local schema cache never puts back a schema older than one it was given while it read the store.

The store is real SQLite; its schema reads are held at a gate so the interleaving a loaded machine produces by
chance (the periodic refresh reading while a CLP change is remembered) happens every time.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from storage.schema import ClassSchema
from storage.schema_cache import SchemaCache
from storage.sqlite import SqliteAdapter
from storage.values import FieldType

OPEN = {"find": {"*": True}, "get": {"*": True}}
STAFF_ONLY = {"find": {"role:Staff": True}, "get": {"role:Staff": True}}


class GatedReads(SqliteAdapter):
    """SQLite whose schema reads, once read, wait at `gate` before they return (as a slow store's would)."""

    gate: asyncio.Event | None = None
    reached = asyncio.Event()

    async def _held(self, result: Any) -> Any:
        if self.gate is not None:
            self.reached.set()
            await self.gate.wait()
        return result

    async def get_all_schemas(self) -> list[ClassSchema]:
        return await self._held(await super().get_all_schemas())

    async def get_schema(self, class_name: str) -> ClassSchema | None:
        return await self._held(await super().get_schema(class_name))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedReads]:
    store = GatedReads(str(tmp_path / "schemas.db"))
    await store.open()
    await store.ensure_fields("Doc", {"n": FieldType("Number")})
    await store.update_class("Doc", clp=OPEN)
    yield store
    await store.close()


async def _while_a_read_is_held(store: GatedReads, read: Any, change: Any) -> None:
    store.gate, store.reached = asyncio.Event(), asyncio.Event()
    reading = asyncio.create_task(read)
    await asyncio.wait_for(store.reached.wait(), 5)  # the read has what the store held before the change
    await change()
    store.gate.set()
    await reading
    store.gate = None


async def test_a_refresh_that_read_before_a_clp_change_does_not_put_the_old_clp_back(store: GatedReads) -> None:
    cache = SchemaCache(store)
    await cache.all()

    async def change() -> None:  # a PUT /schemas here, or a peer's notice: stored, then remembered
        cache.remember(await store.update_class("Doc", clp=STAFF_ONLY))

    await _while_a_read_is_held(store, cache.all(), change)
    assert cache.cached("Doc").clp["find"] == STAFF_ONLY["find"]  # type: ignore[union-attr]
    await cache.all()  # a later refresh reads the change itself
    assert cache.cached("Doc").clp["find"] == STAFF_ONLY["find"]  # type: ignore[union-attr]


async def test_a_refresh_that_read_before_a_class_was_dropped_does_not_bring_it_back(store: GatedReads) -> None:
    cache = SchemaCache(store)
    await cache.all()

    async def drop() -> None:
        await store.delete_class("Doc")
        cache.forget("Doc")

    await _while_a_read_is_held(store, cache.all(), drop)
    assert cache.cached("Doc") is None


async def test_a_miss_that_read_before_a_clp_change_does_not_cache_the_old_clp(store: GatedReads) -> None:
    cache = SchemaCache(store)

    async def change() -> None:
        cache.remember(await store.update_class("Doc", clp=STAFF_ONLY))

    await _while_a_read_is_held(store, cache.get("Doc"), change)
    assert cache.cached("Doc").clp["find"] == STAFF_ONLY["find"]  # type: ignore[union-attr]
