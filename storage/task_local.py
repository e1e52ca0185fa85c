"""A value that belongs to the current asyncio task: what a store transaction or a batch holds while it runs."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class TaskLocal(Generic[T]):
    """Set for the current task only. A ContextVar alone would also hand the value to every task started while it
    is set, which must not write inside a transaction they do not belong to."""

    def __init__(self, name: str) -> None:
        self._var: ContextVar[tuple[T, object] | None] = ContextVar(name, default=None)

    def get(self) -> T | None:
        current = self._var.get()
        return current[0] if current is not None and current[1] is asyncio.current_task() else None

    @contextmanager
    def bound(self, value: T) -> Iterator[None]:
        token = self._var.set((value, asyncio.current_task()))
        try:
            yield
        finally:
            self._var.reset(token)
