"""Sessions against the real SQLite store: creation, resolution, expiry, revocation and the token cache."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from auth.principal import Principal
from auth.roles import RoleResolver
from auth.sessions import SessionSettings, SessionStore
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field

START = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


class Clocks:
    """Wall time for session expiry and monotonic time for the cache, both moved by hand."""

    def __init__(self) -> None:
        self.wall = START
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def roles(store: Any) -> RoleResolver:
    return RoleResolver(store)


@pytest.fixture
def sessions(store: Any, roles: RoleResolver, clocks: Clocks) -> SessionStore:
    return SessionStore(store, roles, SessionSettings(session_length=3600.0, cache_ttl=5.0),
                        clock=lambda: clocks.mono, now=lambda: clocks.wall)


async def _expect_209(sessions: SessionStore, token: Any, message: str = "Invalid session token") -> None:
    with pytest.raises(ParseError) as caught:
        await sessions.resolve(token)
    assert caught.value.code == ErrorCode.INVALID_SESSION_TOKEN
    assert caught.value.message == message


async def test_created_session_has_parse_shape(sessions: SessionStore, store: Any, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    session = await sessions.create("alice00001", action="signup", installation_id="inst-1")
    assert re.fullmatch(r"r:[0-9a-f]{32}", session["sessionToken"])
    assert re.fullmatch(r"[A-Za-z0-9]{10}", session["objectId"])
    assert session["user"] == {"__type": "Pointer", "className": "_User", "objectId": "alice00001"}
    assert session["createdWith"] == {"action": "signup", "authProvider": "password"}
    assert session["installationId"] == "inst-1"
    assert session["expiresAt"] == {"__type": "Date", "iso": "2024-01-02T04:04:05.000Z"}
    assert session["ACL"] == {"alice00001": {"read": True, "write": True}}
    stored = await store.inner.find("_Session", Field(("objectId",), (Compare("$eq", session["objectId"]),)))
    assert stored[0]["sessionToken"] == session["sessionToken"]
    assert stored[0]["_rperm"] == ["alice00001"]


async def test_default_session_length_is_one_year(store: Any, roles: RoleResolver, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    sessions = SessionStore(store, roles, now=lambda: START)
    session = await sessions.create("alice00001", action="login")
    assert session["expiresAt"]["iso"] == "2025-01-01T03:04:05.000Z"  # 365 days (2024 is a leap year)


async def test_token_resolves_to_its_user_with_roles(sessions: SessionStore, make_user: Any,
                                                     make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    assert await sessions.resolve(token) == Principal(user_id="alice00001", roles=frozenset({"Moderators"}),
                                                      session_token=token)


@pytest.mark.parametrize("token", ["r:00000000000000000000000000000000", "", None, 42, "garbage"])
async def test_unknown_or_malformed_token_is_209(sessions: SessionStore, make_user: Any, token: Any) -> None:
    await make_user("alice00001", "alice")
    await sessions.create("alice00001", action="login")
    await _expect_209(sessions, token)


async def test_expired_token_is_209(sessions: SessionStore, clocks: Clocks, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    clocks.advance(3599)
    assert (await sessions.resolve(token)).user_id == "alice00001"
    clocks.advance(2)  # still in the cache, but the session itself has expired
    await _expect_209(sessions, token, "Session token is expired.")
    clocks.advance(10)  # and after the cache entry is gone
    await _expect_209(sessions, token, "Session token is expired.")


async def test_cache_hit_costs_no_store_query(sessions: SessionStore, store: Any, make_user: Any,
                                              make_role: Any) -> None:
    await make_user("alice00001", "alice")
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    await sessions.resolve(token)
    before = store.total
    for _ in range(5):
        assert (await sessions.resolve(token)).roles == {"Moderators"}
    assert store.total == before


async def test_cache_entry_expires_after_the_ttl(sessions: SessionStore, store: Any, clocks: Clocks,
                                                 make_user: Any) -> None:
    await make_user("alice00001", "alice")
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    await sessions.resolve(token)
    clocks.advance(4.9)
    before = store.calls["find"]
    await sessions.resolve(token)
    assert store.calls["find"] == before
    clocks.advance(0.2)
    await sessions.resolve(token)
    assert store.calls["find"] > before


async def test_revoked_token_stops_working_at_once(sessions: SessionStore, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    await sessions.resolve(token)  # cached
    assert await sessions.revoke(token) is True
    await _expect_209(sessions, token)
    assert await sessions.revoke(token) is False


async def test_revocation_by_another_process_is_seen_within_the_ttl(sessions: SessionStore, store: Any,
                                                                     clocks: Clocks, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    session = await sessions.create("alice00001", action="login")
    await sessions.resolve(session["sessionToken"])
    await store.inner.delete("_Session", session["objectId"], Field(("objectId",), (Compare("$ne", ""),)))
    assert (await sessions.resolve(session["sessionToken"])).user_id == "alice00001"  # documented window
    clocks.advance(5.1)
    await _expect_209(sessions, session["sessionToken"])


async def test_forget_after_an_outside_delete_takes_effect_at_once(sessions: SessionStore, store: Any,
                                                                   make_user: Any) -> None:
    await make_user("alice00001", "alice")
    session = await sessions.create("alice00001", action="login")
    await sessions.resolve(session["sessionToken"])
    await store.inner.delete("_Session", session["objectId"], Field(("objectId",), (Compare("$ne", ""),)))
    sessions.forget(session["sessionToken"])
    await _expect_209(sessions, session["sessionToken"])


async def test_session_of_a_deleted_user_is_invalid(sessions: SessionStore, store: Any,
                                                    make_user: Any) -> None:
    await make_user("alice00001", "alice")
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    await store.inner.delete("_User", "alice00001", Field(("objectId",), (Compare("$ne", ""),)))
    await _expect_209(sessions, token)


async def test_revoke_user_sessions_keeps_only_the_current_one(sessions: SessionStore,
                                                               make_user: Any) -> None:
    await make_user("alice00001", "alice")
    await make_user("bob0000001", "bob")
    kept = (await sessions.create("alice00001", action="login"))["sessionToken"]
    other = (await sessions.create("alice00001", action="login"))["sessionToken"]
    bobs = (await sessions.create("bob0000001", action="login"))["sessionToken"]
    for token in (kept, other, bobs):
        await sessions.resolve(token)
    assert await sessions.revoke_user_sessions("alice00001", keep_token=kept) == 1
    await _expect_209(sessions, other)
    assert (await sessions.resolve(kept)).user_id == "alice00001"
    assert (await sessions.resolve(bobs)).user_id == "bob0000001"


async def test_new_session_replaces_the_old_one_of_the_same_installation(sessions: SessionStore,
                                                                       make_user: Any) -> None:
    await make_user("alice00001", "alice")
    first = (await sessions.create("alice00001", action="login", installation_id="phone"))["sessionToken"]
    tablet = await sessions.create("alice00001", action="login", installation_id="tablet")
    other_device = tablet["sessionToken"]
    await sessions.resolve(first)
    second = (await sessions.create("alice00001", action="login", installation_id="phone"))["sessionToken"]
    await _expect_209(sessions, first)
    assert (await sessions.resolve(second)).user_id == "alice00001"
    assert (await sessions.resolve(other_device)).user_id == "alice00001"


async def test_role_change_is_seen_at_once_after_invalidation(sessions: SessionStore, roles: RoleResolver,
                                                              make_user: Any, make_role: Any) -> None:
    await make_user("alice00001", "alice")
    token = (await sessions.create("alice00001", action="login"))["sessionToken"]
    assert (await sessions.resolve(token)).roles == frozenset()
    await make_role("roleMods01", "Moderators", users=("alice00001",))
    roles.invalidate_all()
    assert (await sessions.resolve(token)).roles == {"Moderators"}


async def test_cache_is_bounded(store: Any, roles: RoleResolver, clocks: Clocks, make_user: Any) -> None:
    await make_user("alice00001", "alice")
    sessions = SessionStore(store, roles, SessionSettings(cache_size=2), clock=lambda: clocks.mono,
                            now=lambda: clocks.wall)
    tokens = [(await sessions.create("alice00001", action="login"))["sessionToken"] for _ in range(3)]
    for token in tokens:
        await sessions.resolve(token)
    assert list(sessions._cache) == tokens[1:]


async def test_unknown_action_is_a_programming_error(sessions: SessionStore) -> None:
    with pytest.raises(ValueError):
        await sessions.create("alice00001", action="steal")
