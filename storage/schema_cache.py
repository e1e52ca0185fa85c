"""A process-local cache of class schemas in front of a store.

Several server processes may share one database, so the cache is only ever a shortcut: adding fields always goes
through the store's atomic `ensure_fields`, which re-reads the stored schema, and a miss re-reads the store.
Permission changes made by another process are picked up by `refresh_forever` (run when several processes
share the database), so they apply everywhere within its interval.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Mapping

from storage.adapter import StorageAdapter
from storage.schema import ClassSchema, merge_fields
from storage.values import FieldType

log = logging.getLogger(__name__)


class SchemaCache:
    def __init__(self, store: StorageAdapter) -> None:
        self._store = store
        self._schemas: dict[str, ClassSchema] = {}
        self.version = 0  # changes whenever a cached schema does (GraphQL rebuilds its schema on a change)
        # A read of the store is older than a schema remembered (or forgotten) while it was awaited: the write
        # that remembered it, or a peer's notice, came after. `_tick` counts such changes and `_stamps` says
        # when each class last changed, so a read that started earlier never puts an older schema back.
        self._tick = 0
        self._stamps: dict[str, int] = {}

    async def get(self, class_name: str) -> ClassSchema | None:
        schema = self._schemas.get(class_name)
        if schema is None:
            began = self._tick
            schema = await self._store.get_schema(class_name)
            if self._stamps.get(class_name, 0) > began:  # changed while we read: what we read is older
                return self._schemas.get(class_name)
            if schema is not None:
                self._store_one(schema)
        return schema

    async def all(self) -> list[ClassSchema]:
        began = self._tick
        schemas = await self._store.get_all_schemas()
        fresh = {s.class_name: s for s in schemas}
        if self._tick != began:  # remembered or forgotten while we read: keep those, they are newer
            for class_name, stamp in self._stamps.items():
                if stamp > began:
                    if class_name in self._schemas:
                        fresh[class_name] = self._schemas[class_name]
                    else:
                        fresh.pop(class_name, None)
        if fresh != self._schemas:
            self._schemas = fresh
            self.version += 1
        return schemas

    def known(self) -> list[ClassSchema]:
        """Every schema as last seen (what `all` or a write brought in), without a store round trip."""
        return list(self._schemas.values())

    def cached(self, class_name: str) -> ClassSchema | None:
        """The schema as last seen, without a store round trip (for synchronous hot paths like fan-out)."""
        return self._schemas.get(class_name)

    async def refresh_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.all()
            except Exception:  # a store hiccup must not end the refresher; the next round retries
                log.exception("refreshing class schemas failed")

    def missing_fields(self, schema: ClassSchema | None, wanted: Mapping[str, FieldType]) -> dict[str, FieldType]:
        """Fields `wanted` that the cached schema lacks (raises INCORRECT_TYPE on a known conflicting type)."""
        if schema is None:
            return dict(wanted)
        return merge_fields(schema, wanted)

    async def ensure(self, class_name: str, wanted: Mapping[str, FieldType]) -> ClassSchema:
        schema = await self._store.ensure_fields(class_name, wanted)
        self._store_one(schema)
        return schema

    def remember(self, schema: ClassSchema) -> None:
        self._store_one(schema)

    def forget(self, class_name: str) -> None:
        self._touch(class_name)
        if self._schemas.pop(class_name, None) is not None:
            self.version += 1

    def _touch(self, class_name: str) -> None:
        self._tick += 1
        self._stamps[class_name] = self._tick

    def _store_one(self, schema: ClassSchema) -> None:
        self._touch(schema.class_name)
        if self._schemas.get(schema.class_name) != schema:
            self._schemas[schema.class_name] = schema
            self.version += 1
