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

    async def get(self, class_name: str) -> ClassSchema | None:
        schema = self._schemas.get(class_name)
        if schema is None:
            schema = await self._store.get_schema(class_name)
            if schema is not None:
                self._store_one(schema)
        return schema

    async def all(self) -> list[ClassSchema]:
        schemas = await self._store.get_all_schemas()
        fresh = {s.class_name: s for s in schemas}
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
        if self._schemas.pop(class_name, None) is not None:
            self.version += 1

    def _store_one(self, schema: ClassSchema) -> None:
        if self._schemas.get(schema.class_name) != schema:
            self._schemas[schema.class_name] = schema
            self.version += 1
