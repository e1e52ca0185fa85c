"""Object ACLs: validating what a client sends, the `_rperm`/`_wperm` lists stores keep, and who may read
or write.

Access control is a rewrite of the query (`_rperm` in [null, "*", userId, "role:R"...]), so stores never
reason about users; `can_read`/`can_write` are the same rule for one document already in memory (LiveQuery
events, included pointers).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from auth.principal import PUBLIC, Principal
from storage.errors import ErrorCode, ParseError
from storage.query import Field, In, Node

Acl = dict[str, dict[str, bool]]

_FLAGS = ("read", "write")
_ROLE_PREFIX = "role:"
_ROLE_NAME = re.compile(r"[0-9A-Za-z_\- ]+")  # Parse's rule for `_Role.name`
# generated ids are [A-Za-z0-9]; a custom id just must not break a store key
_USER_ID = re.compile(r"[^\s.$*]+")


def validate_acl(raw: Any) -> Acl:
    """A client's ACL in the form it is stored and returned: only true flags, no empty entries.

    Shape: `{"*": {"read": true}, "<userId>": {"read": true, "write": true}, "role:Name": {"write": true}}`.
    Anything else raises INVALID_ACL (123). An entry whose flags are all false grants nothing and is dropped,
    as Parse does when it rebuilds the ACL from `_rperm`/`_wperm`.
    """
    if not isinstance(raw, dict):
        raise ParseError(ErrorCode.INVALID_ACL, "Invalid ACL.")
    acl: Acl = {}
    for key, entry in raw.items():
        if not _is_valid_key(key):
            raise ParseError(ErrorCode.INVALID_ACL, f"Invalid ACL: bad key {key!r}.")
        if not isinstance(entry, dict) or any(
                flag not in _FLAGS or not isinstance(value, bool) for flag, value in entry.items()):
            raise ParseError(ErrorCode.INVALID_ACL,
                             f"Invalid ACL: the entry for {key!r} must be "
                             '{"read": bool, "write": bool}.')
        granted = {flag: True for flag in _FLAGS if entry.get(flag) is True}
        if granted:
            acl[key] = granted
    return acl


def _is_valid_key(key: Any) -> bool:
    # `*unresolved` is the JS SDK's placeholder for a user not saved yet: the one key Parse itself rejects.
    if not isinstance(key, str) or key == "*unresolved":
        return False
    if key.startswith(_ROLE_PREFIX):
        return _ROLE_NAME.fullmatch(key[len(_ROLE_PREFIX):]) is not None
    return key == PUBLIC or _USER_ID.fullmatch(key) is not None


def permission_fields(acl: Mapping[str, Mapping[str, bool]] | None) -> dict[str, list[str]]:
    """The stored `_rperm`/`_wperm` lists of an ACL; `{}` (no lists: public) when there is no ACL."""
    if acl is None:
        return {}
    return {"_rperm": [key for key, entry in acl.items() if entry.get("read") is True],
            "_wperm": [key for key, entry in acl.items() if entry.get("write") is True]}


def stored_acl_fields(raw: Any) -> dict[str, Any]:
    """What a write stores for a client's ACL: the validated `ACL` and its `_rperm`/`_wperm` (123 if bad)."""
    acl = validate_acl(raw)
    return {"ACL": acl, **permission_fields(acl)}


def read_constraint(principal: Principal) -> Node | None:
    """What a store query must add so only objects `principal` may read match; None for the master key."""
    return _constraint("_rperm", principal)


def write_constraint(principal: Principal) -> Node | None:
    """What an update or delete must add so that only objects `principal` may write match; None for master."""
    return _constraint("_wperm", principal)


def _constraint(field: str, principal: Principal) -> Node | None:
    if principal.is_master:
        return None
    # $in with None matches a missing or null list (no ACL = public); `{}` stores [] which matches nothing.
    return Field((field,), (In((None, *principal.acl_keys())),))


def can_read(principal: Principal, document: Mapping[str, Any]) -> bool:
    """The read rule for a document in memory (stored form with `_rperm`, or client form with only `ACL`)."""
    return _allows(principal, _keys_of(document, "_rperm", "read"))


def can_write(principal: Principal, document: Mapping[str, Any]) -> bool:
    return _allows(principal, _keys_of(document, "_wperm", "write"))


def _keys_of(document: Mapping[str, Any], field: str, flag: str) -> list[str] | None:
    if field in document:
        stored = document[field]
        return None if stored is None else list(stored)
    acl = document.get("ACL")
    if isinstance(acl, dict):
        return [key for key, entry in acl.items() if isinstance(entry, dict) and entry.get(flag) is True]
    return None


def _allows(principal: Principal, keys: list[str] | None) -> bool:
    if principal.is_master or keys is None:
        return True
    return any(key in keys for key in principal.acl_keys())


def new_user_acl(user_id: str, *, public_read: bool,
                 given: Mapping[str, Mapping[str, bool]] | None = None) -> Acl:
    """A new `_User`'s ACL: the client's (or public read when `public_read`), always with `{userId: rw}`.

    `public_read` is `not enforcePrivateUsers` (PS7 default: False, so no public read).
    """
    if given is not None:
        acl: Acl = {key: dict(entry) for key, entry in given.items()}
    else:
        acl = {PUBLIC: {"read": True}} if public_read else {}
    acl[user_id] = {"read": True, "write": True}
    return acl


def owner_only_acl(user_id: str) -> Acl:
    """`{userId: rw}`: the ACL of a session (and of anything only its owner may touch)."""
    return {user_id: {"read": True, "write": True}}
