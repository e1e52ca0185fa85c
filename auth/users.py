"""Users: sign-up checks, logging in with a password, and what of a `_User` document a caller may see.

Store-agnostic: every function takes the StorageAdapter it reads. The routes in `api` compose these with the
generic object write path (schema, hooks, LiveQuery) and with `SessionStore`.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, NoReturn

import msgspec

from auth.acl import Acl, new_user_acl, permission_fields, validate_acl
from auth.passwords import Passwords
from auth.principal import Principal
from auth.tokens import new_object_id
from storage.adapter import Document, FindOptions, StorageAdapter
from storage.changes import Changes
from storage.errors import ErrorCode, ParseError
from storage.query import And, Compare, Field, Node, Or, Regex
from storage.values import now_iso

USER_CLASS = "_User"
HASH_FIELD = "_hashed_password"

# Parse's (RestWrite) address check: a local part, "@", then dot-separated DNS labels.
_EMAIL = re.compile(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*")
_INVALID_LOGIN = "Invalid username/password."


class SignUp(msgspec.Struct, frozen=True):
    username: str
    password: str
    email: str | None = None


class PreparedUser(msgspec.Struct, frozen=True):
    """A sign-up ready for the generic create path.

    `body`: the client's fields without `password` and `ACL`; `acl`: the user's ACL; `internal`: server-set
    keys to store with it (`_hashed_password`, `_rperm`, `_wperm`). The document's objectId must be `user_id`.
    """

    user_id: str
    body: dict[str, Any]
    acl: Acl
    internal: dict[str, Any]


# --- sign-up ------------------------------------------------------------------------------------------------

def validate_sign_up(body: Mapping[str, Any]) -> SignUp:
    """200 without a username, 201 without a password, 125 for a bad email, 119 for a `role:` objectId."""
    username, password, email = body.get("username"), body.get("password"), body.get("email")
    if not isinstance(username, str) or not username:
        raise ParseError(ErrorCode.USERNAME_MISSING, "bad or missing username")
    if not isinstance(password, str) or not password:
        raise ParseError(ErrorCode.PASSWORD_MISSING, "password is required")
    if email is not None:
        validate_email(email)
    object_id = body.get("objectId")
    if isinstance(object_id, str) and object_id.startswith("role:"):
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN, "Invalid object ID.")
    return SignUp(username, password, email)


def validate_user_update(body: Mapping[str, Any]) -> None:
    """Checks for a `_User` update: a username or password present must be a non-empty string; email valid."""
    if "username" in body and (not isinstance(body["username"], str) or not body["username"]):
        raise ParseError(ErrorCode.USERNAME_MISSING, "bad or missing username")
    if "password" in body and (not isinstance(body["password"], str) or not body["password"]):
        raise ParseError(ErrorCode.PASSWORD_MISSING, "password is required")
    if body.get("email") is not None:
        validate_email(body["email"])


def validate_email(email: Any) -> str:
    if not isinstance(email, str) or _EMAIL.fullmatch(email) is None:
        raise ParseError(ErrorCode.INVALID_EMAIL_ADDRESS, "Email address format is invalid.")
    return email


async def ensure_user_indexes(store: StorageAdapter) -> None:
    """Case-insensitive unique indexes on `_User.username` and `_User.email` (call once at start-up)."""
    await store.ensure_fields(USER_CLASS, {})
    await store.ensure_unique(USER_CLASS, "username", case_insensitive=True)
    await store.ensure_unique(USER_CLASS, "email", case_insensitive=True)


async def check_available(store: StorageAdapter, *, username: str | None = None, email: str | None = None,
                          exclude_id: str | None = None) -> None:
    """202 if another user has this username, 203 if another has this email (both case-insensitively).

    A friendly early answer only: the unique indexes of `ensure_user_indexes` are what stops a race;
    turn their DUPLICATE_VALUE into 202/203 with `explain_duplicate`.
    """
    if username is not None and await _taken(store, "username", username, exclude_id):
        raise ParseError(ErrorCode.USERNAME_TAKEN, "Account already exists for this username.")
    if email is not None and await _taken(store, "email", email, exclude_id):
        raise ParseError(ErrorCode.EMAIL_TAKEN, "Account already exists for this email address.")


async def explain_duplicate(store: StorageAdapter, error: ParseError, *, username: str | None,
                            email: str | None, exclude_id: str | None = None) -> NoReturn:
    """Re-raise a DUPLICATE_VALUE (137) from writing a user as the 202/203 Parse clients expect."""
    if error.code == ErrorCode.DUPLICATE_VALUE:
        await check_available(store, username=username, email=email, exclude_id=exclude_id)
    raise error


async def _taken(store: StorageAdapter, field: str, value: str, exclude_id: str | None) -> bool:
    where: Node = Field((field,), (Regex(f"^{re.escape(value)}$", "i"),))
    if exclude_id is not None:
        where = And((where, Field(("objectId",), (Compare("$ne", exclude_id),))))
    return bool(await store.find(USER_CLASS, where, FindOptions(limit=1)))


async def prepare_sign_up(store: StorageAdapter, passwords: Passwords, body: Mapping[str, Any], *,
                          user_id: str, public_read: bool) -> PreparedUser:
    """Validate a sign-up body, check the username and email are free, hash the password, build the ACL.

    `public_read` is `not enforcePrivateUsers`. The caller inserts the user (objectId `user_id`) through the
    generic create path and, on DUPLICATE_VALUE, calls `explain_duplicate`.
    """
    sign_up = validate_sign_up(body)
    await check_available(store, username=sign_up.username, email=sign_up.email)
    given = validate_acl(body["ACL"]) if body.get("ACL") is not None else None
    acl = new_user_acl(user_id, public_read=public_read, given=given)
    hashed = await passwords.hash_password_async(sign_up.password)
    fields = {key: value for key, value in body.items() if key not in ("password", "ACL")}
    return PreparedUser(user_id, fields, acl, {HASH_FIELD: hashed, **permission_fields(acl)})


async def prepare_auth_data_sign_up(store: StorageAdapter, passwords: Passwords, body: Mapping[str, Any], *,
                                    user_id: str, public_read: bool) -> PreparedUser:
    """A sign-up by `authData` (anonymous or a third-party provider): no password is needed, and a missing
    username is made up (25 random characters, as Parse does). The auth data itself must be validated by its
    provider first."""
    username = body.get("username")
    if username is None:
        username = new_object_id(25)
    filled = {**body, "username": username}
    if body.get("email") is not None:
        validate_email(body["email"])
    await check_available(store, username=str(username), email=body.get("email"))
    given = validate_acl(body["ACL"]) if body.get("ACL") is not None else None
    acl = new_user_acl(user_id, public_read=public_read, given=given)
    internal = dict(permission_fields(acl))
    if isinstance(body.get("password"), str) and body["password"]:
        internal[HASH_FIELD] = await passwords.hash_password_async(body["password"])
    fields = {key: value for key, value in filled.items() if key not in ("password", "ACL")}
    fields["authData"] = {k: v for k, v in body["authData"].items() if v is not None}
    return PreparedUser(user_id, fields, acl, internal)


async def find_by_auth_data(store: StorageAdapter, provider: str, provider_id: str) -> Document | None:
    """The user linked to this provider's id (`authData.<provider>.id`), if any."""
    found = await store.find(USER_CLASS, _equals_path(("authData", provider, "id"), provider_id),
                             FindOptions(limit=1))
    return found[0] if found else None


def keep_owner_access(acl: Acl, user_id: str, principal: Principal) -> Acl:
    """A non-master caller setting a user's ACL cannot lock the user out: `{userId: rw}` is always kept."""
    if principal.is_master:
        return acl
    return {**acl, user_id: {"read": True, "write": True}}


# --- log-in -------------------------------------------------------------------------------------------------

async def log_in(store: StorageAdapter, passwords: Passwords, *, username: Any = None, email: Any = None,
                 password: Any = None, require_verified_email: bool = False,
                 allow_locked: bool = False) -> Document:
    """The stored user these credentials belong to, or 101 "Invalid username/password.".

    `username` is matched against usernames and emails, `email` against emails. A user whose ACL is `{}`
    is locked out (also 101) unless `allow_locked` (the master key). A bcrypt hash (or an argon2 hash with old
    parameters) is replaced by an argon2id one on the first success. With `require_verified_email`
    (preventLoginWithUnverifiedEmail) a user with `emailVerified` not true gets 205.
    """
    if not username and not email:
        raise ParseError(ErrorCode.USERNAME_MISSING, "username/email is required.")
    if not password:
        raise ParseError(ErrorCode.PASSWORD_MISSING, "password is required.")
    if not all(isinstance(v, str) for v in (username or "", email or "", password)):
        raise ParseError(ErrorCode.OBJECT_NOT_FOUND, _INVALID_LOGIN)
    user = await _find_login_user(store, username, email)
    ok, new_hash = await passwords.verify_password_async(user.get(HASH_FIELD) if user else None, password)
    if user is None or not ok:
        raise ParseError(ErrorCode.OBJECT_NOT_FOUND, _INVALID_LOGIN)
    if not allow_locked and user.get("ACL") == {}:
        raise ParseError(ErrorCode.OBJECT_NOT_FOUND, _INVALID_LOGIN)
    if require_verified_email and user.get("emailVerified") is not True:
        raise ParseError(ErrorCode.EMAIL_NOT_FOUND, "User email is not verified.")
    if new_hash is not None:
        # only if the hash is still the one just checked: never undo a concurrent password change
        unchanged = _equals(HASH_FIELD, user[HASH_FIELD])
        await store.update(USER_CLASS, user["objectId"], Changes({}), unchanged,
                           user.get("updatedAt") or now_iso(), {HASH_FIELD: new_hash})
        user = {**user, HASH_FIELD: new_hash}
    return user


async def _find_login_user(store: StorageAdapter, username: str | None, email: str | None) -> Document | None:
    if username and email:
        where: Node = And((_equals("username", username), _equals("email", email)))
    elif email:
        where = _equals("email", email)
    else:
        where = Or((_equals("username", username), _equals("email", username)))
    found = await store.find(USER_CLASS, where, FindOptions(limit=2))
    if len(found) > 1:  # one user's username is another's email: the username wins
        return next((user for user in found if user.get("username") == username), found[0])
    return found[0] if found else None


def _equals(field: str, value: Any) -> Field:
    return Field((field,), (Compare("$eq", value),))


def _equals_path(path: tuple[str, ...], value: Any) -> Field:
    return Field(path, (Compare("$eq", value),))


# --- output -------------------------------------------------------------------------------------------------

def user_for_output(document: Mapping[str, Any], principal: Principal, *, session_token: str | None = None,
                    hidden: Iterable[str] = ()) -> dict[str, Any]:
    """A `_User` document as `principal` may see it.

    Never `password` or any `_` key (hash, tokens, `_rperm`). `authData` only for the user or the master key.
    `sessionToken` only when given and the caller is that user (sign-up, log-in, /users/me: pass the new
    session's Principal). `hidden` are the protected fields (`clp.protected_fields`) to drop.
    """
    is_self = principal.user_id is not None and document.get("objectId") == principal.user_id
    out = {key: value for key, value in document.items()
           if not key.startswith("_") and key not in ("password", "sessionToken")}
    if not (is_self or principal.is_master):
        out.pop("authData", None)
    for name in hidden:
        out.pop(name, None)
    if session_token is not None and is_self:
        out["sessionToken"] = session_token
    return out
