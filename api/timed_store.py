"""A store that times its operations for `/metrics` (`livequery_store_operation_duration_seconds{operation}`).

It wraps any StorageAdapter and hands every other attribute through unchanged (transactions, a MongoDB database),
so the layers above cannot tell it from the store. Built only when metrics are on.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from storage.adapter import StorageAdapter

# The operations timed: every query and write a request can make. Opening, closing and transactions are not.
OPERATIONS = frozenset({
    "find", "count", "insert", "update", "delete", "aggregate", "distinct", "related_ids", "owning_ids",
    "get_schema", "get_all_schemas", "ensure_fields", "create_class", "update_class", "delete_class", "purge",
    "ensure_unique",
})
Observe = Callable[[str, float], None]


class TimedStore:
    """`store`, with the duration of each of its OPERATIONS passed to `observe(operation, seconds)`."""

    def __init__(self, store: StorageAdapter, observe: Observe) -> None:
        self.inner = store
        self._observe = observe

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)  # AttributeError for what the store lacks, as before (aggregate)
        if name not in OPERATIONS:
            return value
        observe = self._observe

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await value(*args, **kwargs)
            finally:
                observe(name, time.perf_counter() - started)

        return timed
