"""The store's transaction() seam (what `/batch` with `transaction: true` stands on), on every store."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storage.errors import ErrorCode, ParseError


def _has_transactions(store: Any) -> bool:
    return getattr(store, "_transactions", True)  # MongoDB: only a replica set or mongos has them


async def test_the_writes_of_a_transaction_commit_together(objects: Any) -> None:
    await objects.create("Post", "p0", {"n": 0})
    if not _has_transactions(objects.store):
        pytest.skip("this MongoDB deployment has no transactions")
    async with objects.store.transaction():
        await objects.create("Post", "p1", {"n": 1})
        await objects.update("Post", "p0", {"n": {"__op": "Increment", "amount": 5}})
    assert sorted((d["objectId"], d["n"]) for d in await objects.find("Post")) == [("p0", 5), ("p1", 1)]


async def test_an_error_in_a_transaction_rolls_every_write_back(objects: Any) -> None:
    await objects.create("Post", "p0", {"n": 0})
    if not _has_transactions(objects.store):
        pytest.skip("this MongoDB deployment has no transactions")
    with pytest.raises(ParseError) as caught:
        async with objects.store.transaction():
            await objects.create("Post", "p1", {"n": 1})
            await objects.update("Post", "p0", {"n": 7})
            await objects.create("Post", "p1", {"n": 2})  # a duplicate objectId
    assert caught.value.code == ErrorCode.DUPLICATE_VALUE
    assert [(d["objectId"], d["n"]) for d in await objects.find("Post")] == [("p0", 0)]


async def test_other_writers_wait_and_are_not_part_of_a_rolled_back_transaction(objects: Any) -> None:
    await objects.create("Post", "p0", {"n": 0})
    if not _has_transactions(objects.store):
        pytest.skip("this MongoDB deployment has no transactions")
    outside: asyncio.Task[Any] | None = None
    with pytest.raises(RuntimeError):
        async with objects.store.transaction():
            await objects.create("Post", "inside", {"n": 1})
            outside = asyncio.create_task(objects.store.insert(
                "Post", {"objectId": "outside", "createdAt": objects.tick(), "updatedAt": objects.tick(), "n": 2}))
            await asyncio.sleep(0.05)
            raise RuntimeError("abandon")
    assert outside is not None
    await asyncio.wait_for(outside, 10)
    assert sorted(d["objectId"] for d in await objects.find("Post")) == ["outside", "p0"]


async def test_a_store_without_transactions_says_so_before_writing(objects: Any) -> None:
    if _has_transactions(objects.store):
        pytest.skip("this store has transactions")
    with pytest.raises(ParseError) as caught:
        async with objects.store.transaction():
            await objects.create("Post", "p1", {"n": 1})
    assert caught.value.code == ErrorCode.COMMAND_UNAVAILABLE
    assert await objects.find("Post") == []
