"""The bus as the write path publishes to it: events of a transaction wait until it commits.

Inside `holding()`, what the write path publishes is kept back and published when the block succeeds, so that
LiveQuery subscribers never see an object a rolled-back `transaction: true` batch wrote. Outside it, events go
straight through, as before.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from livequery.bus import Bus, ChangeEvent
from storage.task_local import TaskLocal


class HeldEvents:
    """A Bus that holds back the current task's events while it is inside `holding()`."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._held: TaskLocal[list[ChangeEvent]] = TaskLocal(f"held-events-{id(self)}")

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Events published in the block go out when it ends without an exception; with one, never."""
        if self._held.get() is not None:
            yield
            return
        held: list[ChangeEvent] = []
        with self._held.bound(held):
            yield
        for event in held:
            await self._bus.publish(event)

    async def publish(self, event: ChangeEvent) -> None:
        held = self._held.get()
        if held is not None:
            held.append(event)
        else:
            await self._bus.publish(event)

    async def start(self) -> None:
        await self._bus.start()

    async def stop(self) -> None:
        await self._bus.stop()

    def subscribe(self) -> AbstractAsyncContextManager[AsyncIterator[ChangeEvent]]:
        return self._bus.subscribe()

    def health(self) -> dict[str, Any]:
        return self._bus.health()
