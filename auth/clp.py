"""Class-level permissions: validating a class's CLP, deciding whether a caller may run an operation on the
class, and which fields (`protectedFields`) a caller may not see.

The master key bypasses all of it. Pointer permissions cannot be decided without the objects, so
`check_operation` hands them back for the caller to add to its query (`pointer_permission_query`).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import msgspec

from auth.principal import PUBLIC, Principal
from storage.errors import ErrorCode, ParseError
from storage.query import And, Compare, Field, In, Node, Nor, Or
from storage.schema import BASE_FIELDS
from storage.values import FieldType, Pointer

OPERATIONS = ("find", "count", "get", "create", "update", "delete", "addField")
READ_OPERATIONS = frozenset({"get", "find", "count"})
VALID_KEYS = (*OPERATIONS, "readUserFields", "writeUserFields", "protectedFields")

_USER_ID = re.compile(r"[A-Za-z0-9]+")
_ROLE = "role:"
_USER_FIELD = "userField:"
_REQUIRES_AUTH = "requiresAuthentication"
_POINTER_FIELDS = "pointerFields"
_AUTHENTICATED = "authenticated"
_KEYWORDS = frozenset({_REQUIRES_AUTH, _POINTER_FIELDS, _AUTHENTICATED})  # never user ids

# An objectId is never empty, so this matches no object: what a pointer permission grants to nobody.
MATCH_NOTHING: Node = Field(("objectId",), (In(()),))


class PointerPermission(msgspec.Struct, frozen=True):
    """The class CLP denies the operation, but an object may grant it: where one of `fields` (a
    Pointer<_User>, or an Array holding such pointers) points to `user_id`. `user_id` None (anonymous caller)
    means no object grants it."""

    fields: tuple[str, ...]
    user_id: str | None


# --- validation (the schemas API) -----------------------------------------------------------------------

def validate_clp(raw: Any, fields: Mapping[str, FieldType] | None = None) -> dict[str, Any]:
    """Check a `classLevelPermissions` object; raises INVALID_JSON (107). Returns it unchanged when valid.

    With the class's `fields`, also checks that pointer-permission fields are Pointer<_User> or Array columns
    and that protected fields exist. Default columns (objectId, createdAt, updatedAt, ACL) are never
    protected.
    """
    if not isinstance(raw, dict):
        raise _invalid(f"'{raw}' is not a valid value for class level permissions - must be an object")
    for key, value in raw.items():
        if key not in VALID_KEYS:
            raise _invalid(f"{key} is not a valid operation for class level permissions")
        if key in ("readUserFields", "writeUserFields"):
            if not isinstance(value, list):
                raise _invalid(f"'{value}' is not a valid value for class level permissions {key} "
                               "- must be an array")
            for name in value:
                _check_pointer_field(name, fields, key)
            continue
        if not isinstance(value, dict):
            raise _invalid(f"'{value}' is not a valid value for class level permissions {key} "
                           "- must be an object")
        if key == "protectedFields":
            _check_protected_fields(value, fields)
        else:
            _check_operation_entries(key, value, fields)
    return raw


def _check_operation_entries(operation: str, entries: dict[str, Any],
                             fields: Mapping[str, FieldType] | None) -> None:
    for entity, permit in entries.items():
        if entity == _POINTER_FIELDS:
            if not isinstance(permit, list):
                raise _invalid(f"'{permit}' is not a valid value for {operation}[{entity}] "
                               "- expected an array.")
            for name in permit:
                _check_pointer_field(name, fields, operation)
            continue
        if not (entity in (PUBLIC, _REQUIRES_AUTH) or entity.startswith(_ROLE) or _is_user_id(entity)):
            raise _invalid(f"'{entity}' is not a valid key for class level permissions")
        if permit is not True:
            raise _invalid(f"'{permit}' is not a valid value for class level permissions "
                           f"{operation}:{entity}:{permit}")


def _check_protected_fields(groups: dict[str, Any], fields: Mapping[str, FieldType] | None) -> None:
    for group, names in groups.items():
        if not (group in (PUBLIC, _AUTHENTICATED) or group.startswith((_ROLE, _USER_FIELD))
                or _is_user_id(group)):
            raise _invalid(f"'{group}' is not a valid key for class level permissions")
        if not isinstance(names, list):
            raise _invalid(f"'{names}' is not a valid value for protectedFields[{group}] "
                           "- expected an array.")
        for name in names:
            if not isinstance(name, str):
                raise _invalid(f"'{name}' is not a valid field name in protectedFields:{group}")
            if name in BASE_FIELDS:
                raise _invalid(f"Default field '{name}' can not be protected")
            if fields is not None and name not in fields:
                raise _invalid(f"Field '{name}' in protectedFields:{group} does not exist")


def _is_user_id(key: str) -> bool:
    return key not in _KEYWORDS and _USER_ID.fullmatch(key) is not None


def _check_pointer_field(name: Any, fields: Mapping[str, FieldType] | None, operation: str) -> None:
    if fields is None and isinstance(name, str):
        return
    kind = fields.get(name) if fields is not None and isinstance(name, str) else None
    is_user_pointer = kind is not None and kind.type == "Pointer" and kind.target_class == "_User"
    if kind is None or not (kind.type == "Array" or is_user_pointer):
        raise _invalid(f"'{name}' is not a valid column for class level pointer permissions {operation}")


def _invalid(message: str) -> ParseError:
    return ParseError(ErrorCode.INVALID_JSON, message)


# --- operations ----------------------------------------------------------------------------------------

def check_operation(clp: Mapping[str, Any] | None, class_name: str, operation: str,
                    principal: Principal) -> PointerPermission | None:
    """May `principal` run `operation` (`get`, `find`, `count`, `create`, `update`, `delete`, `addField`)?

    None: yes, on every object the ACL lets them reach. A PointerPermission: only on objects that point to
    them; add `pointer_permission_query(...)` to the query (a `get` that then finds nothing answers 101).
    Raises OPERATION_FORBIDDEN (119) "Permission denied for action X on class Y.", or OBJECT_NOT_FOUND (101)
    "Permission denied, user needs to be authenticated." when the CLP requires a logged-in user.
    An absent operation key allows everyone; `{}` allows only the master key.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown CLP operation: {operation}")
    if principal.is_read_only_master:
        if operation in READ_OPERATIONS:
            return None
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         f"read-only masterKey isn't allowed to perform the {operation} operation.")
    if principal.is_master or clp is None:
        return None
    entries = clp.get(operation)
    if entries is None:
        return None
    if any(entries.get(key) is True for key in principal.acl_keys()):
        return None
    group = "readUserFields" if operation in READ_OPERATIONS else "writeUserFields"
    pointer_fields = _unique([*entries.get(_POINTER_FIELDS, ()), *clp.get(group, ())])
    creates = operation in ("create", "addField")
    if entries.get(_REQUIRES_AUTH) is True:
        if not principal.is_authenticated:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Permission denied, user needs to be authenticated.")
        if creates or not pointer_fields:
            return None
        return PointerPermission(pointer_fields, principal.user_id)
    if creates or not pointer_fields:
        # no object exists yet for a pointer to grant `create`; `addField` is never granted by a pointer
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         f"Permission denied for action {operation} on class {class_name}.")
    return PointerPermission(pointer_fields, principal.user_id)


def operation_constraint(clp: Mapping[str, Any] | None, class_name: str, operation: str,
                         principal: Principal) -> Node | None:
    """`check_operation`, with a pointer permission already turned into the constraint the query must add."""
    permission = check_operation(clp, class_name, operation, principal)
    return None if permission is None else pointer_permission_query(permission)


def pointer_permission_query(permission: PointerPermission) -> Node:
    """The constraint that keeps only objects granting `permission`: `f1 == me OR f2 == me ...`.

    `== pointer` also matches an Array holding the pointer. Anonymous: MATCH_NOTHING.
    """
    if permission.user_id is None or not permission.fields:
        return MATCH_NOTHING
    me = Pointer("_User", permission.user_id)
    clauses = tuple(Field((name,), (Compare("$eq", me),)) for name in permission.fields)
    return clauses[0] if len(clauses) == 1 else Or(clauses)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


# --- protected fields ----------------------------------------------------------------------------------

def protected_fields(clp: Mapping[str, Any] | None, class_name: str, principal: Principal,
                     document: Mapping[str, Any] | None = None) -> set[str]:
    """Fields to hide from `principal` (in `document`, or in any object of the class when None).

    Every group of `protectedFields` that applies (`*`; when logged in `authenticated`, each `role:R` and
    their userId; for a document, each `userField:f` whose `f` points to them) names fields; the hidden ones
    are in all of those lists, so a more specific group with `[]` shows everything. No applicable group hides
    nothing. A user always sees their own `_User` object whole; the master key sees everything.
    """
    if principal.is_master or principal.is_read_only_master:
        return set()
    if (class_name == "_User" and document is not None and principal.user_id is not None
            and document.get("objectId") == principal.user_id):
        return set()
    groups = _with_defaults(class_name, (clp or {}).get("protectedFields") or {})
    lists: list[Iterable[str]] = []
    if PUBLIC in groups:
        lists.append(groups[PUBLIC])
    if principal.user_id is not None:
        keys = [_AUTHENTICATED, *(f"{_ROLE}{name}" for name in sorted(principal.roles)), principal.user_id]
        lists.extend(groups[key] for key in keys if key in groups)
    if not lists:
        return set()
    if document is not None and principal.user_id is not None:
        lists.extend(names for group, names in groups.items()
                     if group.startswith(_USER_FIELD)
                     and points_to_user(document.get(group[len(_USER_FIELD):]), principal.user_id))
    hidden = set(lists[0])
    for names in lists[1:]:
        hidden.intersection_update(names)
    return hidden


# Parse Server's `protectedFields` option, merged (as a union per group) into every stored CLP when a schema is
# loaded: a `_User` CLP saved without it (from a dashboard, say) must still hide emails.
DEFAULT_PROTECTED: dict[str, dict[str, list[str]]] = {"_User": {PUBLIC: ["email"]}}


def _with_defaults(class_name: str, groups: Mapping[str, Any]) -> Mapping[str, Any]:
    defaults = DEFAULT_PROTECTED.get(class_name)
    if not defaults:
        return groups
    merged = dict(groups)
    for group, names in defaults.items():
        merged[group] = list(dict.fromkeys([*merged.get(group, []), *names]))
    return merged


def points_to_user(value: Any, user_id: str) -> bool:
    """A stored Pointer<_User> to `user_id`, or an Array holding one."""
    if isinstance(value, list):
        return any(points_to_user(item, user_id) for item in value)
    return (isinstance(value, dict) and value.get("objectId") == user_id
            and value.get("className", "_User") == "_User")


# Keys no client may select or order objects by, whatever the CLP says: the credentials that never leave the
# server (`_`-prefixed internal keys are refused too). A `_Session`'s token is readable by its own user.
SECRET_KEYS: dict[str, frozenset[str]] = {"_User": frozenset({"password", "sessionToken", "authData"})}


def check_readable_keys(clp: Mapping[str, Any] | None, class_name: str, principal: Principal,
                        keys: Iterable[str]) -> None:
    """The one rule for every key a request reads to choose or order objects: a `where` path (sub-queries
    included), `order`, a `$select`/`$dontSelect` or `$relatedTo` key, a LiveQuery `where` or `watch`.

    119 for a field protected from `principal` on any object of the class, an internal `_` key or a
    credential: otherwise which objects match would reveal a hidden value, one guess at a time.
    """
    if principal.is_master or principal.is_read_only_master:
        return
    secrets = SECRET_KEYS.get(class_name, frozenset())
    hidden: set[str] | None = None
    for key in keys:
        if key[:1] != "_" and key not in secrets:
            if hidden is None:
                hidden = protected_fields(clp, class_name, principal, None)
            if key not in hidden:
                continue
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         f"This user is not allowed to query {key} on class {class_name}")


def check_query_fields(clp: Mapping[str, Any] | None, class_name: str, principal: Principal, where: Node) -> None:
    """`check_readable_keys` for every field a `where` constrains, in `$or`/`$and`/`$nor` branches too."""
    check_readable_keys(clp, class_name, principal, (path[0] for path in _constrained_paths(where)))


def _constrained_paths(node: Node) -> Iterable[tuple[str, ...]]:
    if isinstance(node, Field):
        yield node.path
    elif isinstance(node, (And, Or, Nor)):
        for child in node.children:
            yield from _constrained_paths(child)
