"""The API's one door to the `auth` rules: ACL filters, class-level permissions, protected fields."""
from __future__ import annotations

from typing import Any, Iterable

from auth import acl as acl_rules
from auth import clp as clp_rules
from auth.principal import Principal
from storage.errors import ErrorCode, ParseError
from storage.query import Node
from storage.schema import ClassSchema

MATCH_NOTHING: Node = clp_rules.MATCH_NOTHING


# Parse's `enforceRoleSecurity`: classes only the master key may use, and what clients may not do to installations
# (an installation is found by its id, never listed; only the master key deletes one).
MASTER_ONLY_CLASSES = frozenset({"_Idempotency", "_PushStatus", "_JobStatus", "_JobSchedule", "_Hooks",
                                 "_GlobalConfig", "_Audience"})
INSTALLATION_MASTER_ONLY = frozenset({"find", "delete"})


def check_system_class(principal: Principal, class_name: str, operation: str) -> None:
    """119 when a client may not run `operation` (`find`, `get`, `write`, `delete`) on a system class."""
    if principal.is_master:
        return
    if class_name in MASTER_ONLY_CLASSES:
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         f"Clients aren't allowed to perform the {operation} operation on the {class_name} collection.")
    if class_name == "_Installation" and operation in INSTALLATION_MASTER_ONLY:
        raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                         f"Clients aren't allowed to perform the {operation} operation on the installation collection.")


def read_filter(principal: Principal) -> Node | None:
    return acl_rules.read_constraint(principal)


def write_filter(principal: Principal) -> Node | None:
    return acl_rules.write_constraint(principal)


def acl_fields(acl: Any) -> dict[str, Any]:
    """`ACL` plus the derived `_rperm`/`_wperm` a store filters on (raises INVALID_ACL for a bad shape)."""
    return acl_rules.stored_acl_fields(acl)


def check_class_operation(schema: ClassSchema | None, operation: str, principal: Principal) -> Node | None:
    """Raises when the class-level permissions forbid `operation`; otherwise an extra constraint (pointer
    permissions) the query must also satisfy, or None."""
    if principal.is_master or schema is None:
        return None
    return clp_rules.operation_constraint(schema.clp, schema.class_name, operation, principal)


def hidden_fields(schema: ClassSchema | None, principal: Principal, document: dict[str, Any] | None) -> set[str]:
    if principal.is_master or schema is None:
        return set()
    return clp_rules.protected_fields(schema.clp, schema.class_name, principal, document)


def validated_clp(raw: Any) -> dict[str, Any]:
    """Class-level permissions as the schemas API takes them; 107 for an unknown key or a bad entry."""
    return clp_rules.validate_clp(raw)


def check_query_fields(schema: ClassSchema | None, principal: Principal, where: Node) -> None:
    """119 for a query constraining a field the caller may not see (auth's `check_readable_keys`)."""
    if schema is not None:
        clp_rules.check_query_fields(schema.clp, schema.class_name, principal, where)


def check_readable_keys(schema: ClassSchema | None, principal: Principal, keys: Iterable[str]) -> None:
    """119 for an `order`, `$select`, `$relatedTo` or `watch` key the caller may not see."""
    if schema is not None:
        clp_rules.check_readable_keys(schema.clp, schema.class_name, principal, keys)
