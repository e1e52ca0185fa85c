"""The API's one door to the `auth` rules: ACL filters, class-level permissions, protected fields."""
from __future__ import annotations

from typing import Any

from auth import acl as acl_rules
from auth import clp as clp_rules
from auth.principal import Principal
from storage.query import Node
from storage.schema import ClassSchema


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
    """119 for a query constraining a field the caller may not see: otherwise a hidden value could be guessed
    one query at a time."""
    if principal.is_master or schema is None:
        return
    hidden = clp_rules.protected_fields(schema.clp, schema.class_name, principal, None)
    if schema.class_name == "_User":  # auth data are credentials (an anonymous id logs in): never a filter
        hidden = {*hidden, "authData"}
    if hidden:
        clp_rules.check_query_fields(where, hidden, schema.class_name)
