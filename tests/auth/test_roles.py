"""Role resolution against the real SQLite store: direct and inherited roles, cycles, caching,
invalidation."""
from __future__ import annotations

from typing import Any

from auth.roles import RoleResolver
from storage.changes import Changes, RelationChange
from storage.query import MATCH_ALL


async def test_user_without_roles_has_none(store: Any, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    assert await RoleResolver(store).roles_for("alice00001") == frozenset()


async def test_direct_membership_gives_the_role(store: Any, make_user: Any, make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    await make_role("roleOther1", "Other")
    assert await RoleResolver(store).roles_for("alice00001") == {"Moderators"}


async def test_members_of_a_child_role_inherit_every_ancestor(store: Any, make_user: Any,
                                                              make_role: Any) -> None:
    # Admins.roles holds Moderators; Moderators.roles holds Writers; Staff.roles holds Admins.
    await make_user("alice00001", "alice")
    await make_role("roleWrite1", "Writers", users=("alice00001",))
    await make_role("roleMods01", "Moderators", roles=("roleWrite1",))
    await make_role("roleAdmin1", "Admins", roles=("roleMods01",))
    await make_role("roleStaff1", "Staff", roles=("roleAdmin1",))
    await make_role("roleOther1", "Other")
    assert await RoleResolver(store).roles_for("alice00001") == {"Writers", "Moderators", "Admins", "Staff"}


async def test_inheritance_goes_from_child_to_parent_only(store: Any, make_user: Any, make_role: Any) -> None:
    await make_user("bob0000001", "bob")
    await make_role("roleAdmin1", "Admins", users=("bob0000001",))
    await make_role("roleMods01", "Moderators")
    await make_role("roleTop001", "Top", roles=("roleMods01",))  # Moderators members get Top; Admins don't
    assert await RoleResolver(store).roles_for("bob0000001") == {"Admins"}


async def test_role_cycle_terminates(store: Any, make_user: Any, make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleA00001", "A", users=("alice00001",), roles=("roleC00001",))
    await make_role("roleB00001", "B", roles=("roleA00001",))
    await make_role("roleC00001", "C", roles=("roleB00001",))
    assert await RoleResolver(store).roles_for("alice00001") == {"A", "B", "C"}


async def test_second_lookup_is_served_from_the_cache(store: Any, make_user: Any, make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    resolver = RoleResolver(store)
    await resolver.roles_for("alice00001")
    before = store.total
    assert await resolver.roles_for("alice00001") == {"Moderators"}
    assert store.total == before


async def test_removed_member_loses_the_role_after_invalidation(store: Any, make_user: Any,
                                                               make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleWrite1", "Writers", users=("alice00001",))
    await make_role("roleMods01", "Moderators", roles=("roleWrite1",))
    resolver = RoleResolver(store)
    assert await resolver.roles_for("alice00001") == {"Writers", "Moderators"}

    await store.inner.update("_Role", "roleWrite1",
                             Changes({}, {"users": RelationChange("_User", remove=("alice00001",))}),
                             MATCH_ALL, "2024-01-03T00:00:00.000Z")
    assert await resolver.roles_for("alice00001") == {"Writers", "Moderators"}  # cached until invalidated
    resolver.invalidate_all()
    assert await resolver.roles_for("alice00001") == frozenset()


async def test_cached_roles_expire_after_the_ttl(store: Any, make_user: Any, make_role: Any) -> None:
    now = [100.0]
    await make_user("alice00001", "alice")
    resolver = RoleResolver(store, ttl=5.0, clock=lambda: now[0])
    assert await resolver.roles_for("alice00001") == frozenset()
    await make_role("roleMods01", "Moderators", users=("alice00001",))  # written by "another process"
    now[0] += 4.9
    assert await resolver.roles_for("alice00001") == frozenset()
    now[0] += 0.2
    assert await resolver.roles_for("alice00001") == {"Moderators"}


async def test_lookup_racing_with_invalidation_is_not_cached(store: Any, make_user: Any,
                                                             make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    resolver = RoleResolver(store)

    class InvalidatingStore:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def find(self, *args: Any, **kwargs: Any) -> Any:
            result = await store.find(*args, **kwargs)
            resolver.invalidate_all()  # a _Role write lands while the lookup is in flight
            return result

    resolver._store = InvalidatingStore()  # type: ignore[assignment]
    await resolver.roles_for("alice00001")
    resolver._store = store
    before = store.total
    await resolver.roles_for("alice00001")
    assert store.total > before


async def test_cache_is_bounded(store: Any, make_user: Any) -> None:
    resolver = RoleResolver(store, max_users=2)
    for user_id in ("u000000001", "u000000002", "u000000003"):
        await resolver.roles_for(user_id)
    assert list(resolver._cache) == ["u000000002", "u000000003"]
