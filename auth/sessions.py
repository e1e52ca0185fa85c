"""Sessions: creating `_Session` documents, and turning a session token into a Principal, cached.

The cache makes an authenticated request cost no store query in the common case. A token revoked through this
`SessionStore` (or `forget`-ed after any other `_Session` write in this process) stops working at once. A
revocation made by *another* server process is seen only when the cached entry expires: at most `cache_ttl`
seconds (default 5 s, as Parse's `cacheTimeout`). Roles come from the RoleResolver on every call (from its own
cache), so a `_Role` write followed by `RoleResolver.invalidate_all()` takes effect at once too.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import msgspec

from auth.acl import owner_only_acl, permission_fields
from auth.principal import Principal
from auth.roles import RoleResolver
from auth.tokens import new_object_id, new_session_token
from storage.adapter import Document, FindOptions, StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.query import And, Compare, Field, Node, parse_date_value
from storage.values import Pointer, date_json, format_date

SESSION_CLASS = "_Session"
USER_CLASS = "_User"
CREATED_WITH_ACTIONS = ("signup", "login", "create", "upgrade")


class SessionSettings(msgspec.Struct, frozen=True):
    session_length: float = 365 * 24 * 3600.0  # seconds (Parse's `sessionLength`, default one year)
    cache_size: int = 10_000  # tokens kept (LRU)
    cache_ttl: float = 5.0  # seconds a resolved (or refused) token is trusted without asking the store


class _Entry(msgspec.Struct):
    deadline: float  # monotonic time after which the store is asked again
    user_id: str | None  # None: the token was refused
    expires_at: datetime | None = None


class SessionStore:
    """Creates, resolves and revokes session tokens on top of a StorageAdapter.

    `clock` (monotonic seconds) drives the cache, `now` (aware UTC datetime) the session expiry; tests
    replace them.
    """

    def __init__(self, store: StorageAdapter, roles: RoleResolver,
                 settings: SessionSettings = SessionSettings(), *,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._store = store
        self._roles = roles
        self._settings = settings
        self._clock = clock
        self._now = now
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._generation = 0  # bumped on every forget, so a lookup racing with a revocation is not cached
        self._class_ready = False

    # --- create ---------------------------------------------------------------------------------------------
    async def create(self, user_id: str, *, action: str, auth_provider: str = "password",
                     installation_id: str | None = None) -> Document:
        """Store a new session for the user and return its `_Session` document (with `sessionToken`).

        `action` is `createdWith.action` (signup, login, create, upgrade). Any older session of the same user
        and installation is deleted, as Parse does.
        """
        if action not in CREATED_WITH_ACTIONS:
            raise ValueError(f"unknown session action: {action}")
        now = self._now()
        acl = owner_only_acl(user_id)
        document: Document = {
            "objectId": new_object_id(),
            "createdAt": format_date(now),
            "updatedAt": format_date(now),
            "sessionToken": new_session_token(),
            "user": Pointer(USER_CLASS, user_id).to_json(),
            "createdWith": {"action": action, "authProvider": auth_provider},
            "expiresAt": date_json(now + timedelta(seconds=self._settings.session_length)),
            "ACL": acl,
            **permission_fields(acl),
        }
        if installation_id is not None:
            document["installationId"] = installation_id
            await self._delete_where(And((_user_is(user_id), Field(("installationId",),
                                                                  (Compare("$eq", installation_id),)))))
        if not self._class_ready:
            await self._store.ensure_fields(SESSION_CLASS, {})
            self._class_ready = True
        await self._store.insert(SESSION_CLASS, document)
        return document

    # --- resolve --------------------------------------------------------------------------------------------
    async def resolve(self, token: Any) -> Principal:
        """The Principal a session token stands for; 209 for an unknown, expired or malformed token."""
        if not isinstance(token, str) or not token:
            raise _invalid()
        entry = self._cached(token)
        if entry is None:
            entry = await self._load(token)
        if entry.user_id is None:
            raise _invalid()
        if entry.expires_at is not None and entry.expires_at <= self._now():
            raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Session token is expired.")
        roles = await self._roles.roles_for(entry.user_id)
        return Principal(user_id=entry.user_id, roles=roles, session_token=token)

    def _cached(self, token: str) -> _Entry | None:
        entry = self._cache.get(token)
        if entry is None:
            return None
        if entry.deadline <= self._clock():
            del self._cache[token]
            return None
        self._cache.move_to_end(token)
        return entry

    async def _load(self, token: str) -> _Entry:
        generation = self._generation
        entry = _Entry(self._clock() + self._settings.cache_ttl, None)
        found = await self._store.find(SESSION_CLASS, Field(("sessionToken",), (Compare("$eq", token),)),
                                       FindOptions(limit=1))
        user_id = _user_id_of(found[0]) if found else None
        if user_id is not None and await self._user_exists(user_id):
            entry.user_id = user_id
            entry.expires_at = _expiry_of(found[0])
        if generation == self._generation:
            self._cache[token] = entry
            self._cache.move_to_end(token)
            while len(self._cache) > self._settings.cache_size:
                self._cache.popitem(last=False)
        return entry

    async def _user_exists(self, user_id: str) -> bool:
        return bool(await self._store.find(USER_CLASS, Field(("objectId",), (Compare("$eq", user_id),)),
                                           FindOptions(limit=1)))

    # --- revoke ---------------------------------------------------------------------------------------------
    async def revoke(self, token: str) -> bool:
        """Delete the session with this token (log-out); True if there was one. It stops working at once."""
        deleted = await self._delete_where(Field(("sessionToken",), (Compare("$eq", token),))) > 0
        self.forget(token)
        return deleted

    async def revoke_user_sessions(self, user_id: str, *, keep_token: str | None = None) -> int:
        """Delete every session of the user except `keep_token` (password change, user deleted)."""
        where: Node = _user_is(user_id)
        if keep_token is not None:
            where = And((where, Field(("sessionToken",), (Compare("$ne", keep_token),))))
        count = await self._delete_where(where)
        self.forget_user(user_id, keep_token=keep_token)
        return count

    def forget(self, token: str) -> None:
        """Drop a token from the cache. Call after any `_Session` write not made through this object."""
        self._generation += 1
        self._cache.pop(token, None)

    def forget_user(self, user_id: str, *, keep_token: str | None = None) -> None:
        """Drop every cached token of the user (e.g. the user was deleted)."""
        self._generation += 1
        for token in [t for t, e in self._cache.items() if e.user_id == user_id and t != keep_token]:
            del self._cache[token]

    def forget_all(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def _delete_where(self, where: Node) -> int:
        sessions = await self._store.find(SESSION_CLASS, where)
        deleted = 0
        for session in sessions:
            removed = await self._store.delete(SESSION_CLASS, session["objectId"], where)
            if removed is not None:
                deleted += 1
            token = session.get("sessionToken")
            if isinstance(token, str):
                self.forget(token)
        return deleted


def own_sessions(principal: Principal) -> Node | None:
    """What a caller may read of `_Session`: their own sessions (None: all, for the master key). Raises 209 for a
    caller with no user. REST queries add it; LiveQuery checks `is_own_session` per event."""
    if principal.is_master or principal.is_read_only_master:
        return None
    if principal.user_id is None:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Session token required.")
    return Field(("user",), (Compare("$eq", Pointer(USER_CLASS, principal.user_id)),))


def is_own_session(principal: Principal, session: Document) -> bool:
    """`own_sessions` for one stored session."""
    if principal.is_master or principal.is_read_only_master:
        return True
    user = session.get("user")
    return (principal.user_id is not None and isinstance(user, dict)
            and user.get("objectId") == principal.user_id and user.get("className", USER_CLASS) == USER_CLASS)


def _invalid() -> ParseError:
    return ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token")


def _user_is(user_id: str) -> Field:
    return Field(("user",), (Compare("$eq", Pointer(USER_CLASS, user_id)),))


def _user_id_of(session: Document) -> str | None:
    user = session.get("user")
    if isinstance(user, dict) and user.get("className") == USER_CLASS:
        user_id = user.get("objectId")
        return user_id if isinstance(user_id, str) else None
    return None


def _expiry_of(session: Document) -> datetime | None:
    raw = session.get("expiresAt")
    if raw is None:
        return None
    try:
        return parse_date_value(raw)
    except ParseError:
        return datetime.min.replace(tzinfo=timezone.utc)  # an unreadable expiry counts as expired
