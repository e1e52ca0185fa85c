"""A user's roles, inherited ones included, read from `_Role` and cached per user."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

from storage.adapter import StorageAdapter
from storage.query import Field, In

ROLE_CLASS = "_Role"


class RoleResolver:
    """Resolves the names of every role a user holds: the roles whose `users` relation lists them, and the
    parents of those (role P's `roles` relation holds role C ⇒ members of C hold P), walked breadth-first.

    Results are cached per user (LRU, `max_users` entries) for `ttl` seconds. Call `invalidate_all()` on any
    `_Role` write: role changes are rare, and clearing everything is the one invalidation that is never wrong.
    Writes made by another server process are seen once the entry expires (`ttl`).
    """

    def __init__(self, store: StorageAdapter, *, max_users: int = 10_000, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._max_users = max_users
        self._ttl = ttl
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._generation = 0  # bumped by invalidate_all so a lookup racing with it is not cached

    async def roles_for(self, user_id: str) -> frozenset[str]:
        """Role names (without `role:`) held by the user, inherited ones included."""
        cached = self._cache.get(user_id)
        if cached is not None:
            expires, names = cached
            if expires > self._clock():
                self._cache.move_to_end(user_id)
                return names
            del self._cache[user_id]
        generation = self._generation
        names = await self._load(user_id)
        if generation == self._generation:
            self._cache[user_id] = (self._clock() + self._ttl, names)
            self._cache.move_to_end(user_id)
            while len(self._cache) > self._max_users:
                self._cache.popitem(last=False)
        return names

    def invalidate_all(self) -> None:
        self._cache.clear()
        self._generation += 1

    async def _load(self, user_id: str) -> frozenset[str]:
        direct = await self._store.owning_ids(ROLE_CLASS, "users", (user_id,))
        seen: set[str] = set(direct)
        frontier = list(seen)
        while frontier:  # each role is expanded once, so cycles end
            parents = await self._store.owning_ids(ROLE_CLASS, "roles", tuple(frontier))
            frontier = [role_id for role_id in dict.fromkeys(parents) if role_id not in seen]
            seen.update(frontier)
        if not seen:
            return frozenset()
        roles = await self._store.find(ROLE_CLASS, Field(("objectId",), (In(tuple(sorted(seen))),)))
        return frozenset(role["name"] for role in roles if isinstance(role.get("name"), str))
