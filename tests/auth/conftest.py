"""Fixtures for the auth tests: a real SQLite store in tmp_path, and a wrapper counting the calls to it."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from auth.acl import owner_only_acl, permission_fields
from auth.passwords import Passwords, PasswordSettings
from storage.adapter import StorageAdapter
from storage.changes import Changes, RelationChange
from storage.sqlite import SqliteAdapter

CHEAP_PASSWORDS = PasswordSettings(time_cost=1, memory_cost=8, parallelism=1)


class CountingStore:
    """The real adapter, with every call counted by method name (`calls["find"]`)."""

    def __init__(self, inner: StorageAdapter) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attribute(*args, **kwargs)

        return counted

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[StorageAdapter]:
    store = SqliteAdapter(str(tmp_path / "auth.db"))  # imported at the top: a broken adapter fails, never skips
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def store(sqlite_store: StorageAdapter) -> CountingStore:
    return CountingStore(sqlite_store)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(CHEAP_PASSWORDS)


NOW = "2024-01-02T03:04:05.678Z"


async def _insert_user(store: Any, object_id: str, username: str, *, hashed: str | None = None,
                       email: str | None = None, acl: dict[str, Any] | None = None,
                       **extra: Any) -> dict[str, Any]:
    """A `_User` as the sign-up route stores it."""
    acl = owner_only_acl(object_id) if acl is None else acl
    document: dict[str, Any] = {"objectId": object_id, "createdAt": NOW, "updatedAt": NOW,
                                "username": username, "ACL": acl, **permission_fields(acl), **extra}
    if hashed is not None:
        document["_hashed_password"] = hashed
    if email is not None:
        document["email"] = email
    await store.ensure_fields("_User", {})
    await store.insert("_User", document)
    return document


async def _insert_role(store: Any, object_id: str, name: str, *, users: tuple[str, ...] = (),
                      roles: tuple[str, ...] = ()) -> None:
    """A `_Role` with its `users` and `roles` relations, as the roles route stores it."""
    relations = {}
    if users:
        relations["users"] = RelationChange("_User", add=users)
    if roles:
        relations["roles"] = RelationChange("_Role", add=roles)
    acl = {"*": {"read": True}}
    document = {"objectId": object_id, "createdAt": NOW, "updatedAt": NOW, "name": name, "ACL": acl,
                **permission_fields(acl)}
    for field, change in relations.items():
        document[field] = {"__type": "Relation", "className": change.target_class}
    await store.ensure_fields("_Role", {})
    await store.insert("_Role", document, Changes({}, relations) if relations else None)


@pytest.fixture
def make_user(store: CountingStore) -> Any:
    async def make(object_id: str, username: str, **kwargs: Any) -> dict[str, Any]:
        return await _insert_user(store.inner, object_id, username, **kwargs)
    return make


@pytest.fixture
def make_role(store: CountingStore) -> Any:
    async def make(object_id: str, name: str, **kwargs: Any) -> None:
        await _insert_role(store.inner, object_id, name, **kwargs)
    return make
