"""Parse's validator objects, applied before a hook's handler: user, master, roles, fields, user keys.

Every refusal is 142 VALIDATION_ERROR with Parse's message (or the rule's `error`). Defaults and `constant`
write into the values they check (a function's params, a trigger's object), so they reach the write.
"""
from __future__ import annotations

import copy
import inspect
from datetime import datetime
from typing import Any

from auth.principal import Principal
from livequery.cloud import FIELD_TYPES, TYPED_FIELDS, CloudError, CloudRequest, FieldRule, Validator
from storage.errors import ErrorCode, ParseError

_FAILED = "Validation failed."


def _refuse(message: str, rule_error: str | None = None) -> ParseError:
    return ParseError(ErrorCode.VALIDATION_ERROR, rule_error or f"{_FAILED} {message}")


async def validate(validator: Validator, request: CloudRequest, principal: Principal,
                   values: dict[str, Any] | None) -> None:
    """Raise 142 when `request` fails `validator`; `values` are the params or the object being saved."""
    if request.master and not validator.validate_master_key:
        return
    if validator.check is not None:
        await _run_check(validator, request)
    if validator.require_user and request.user is None:
        raise _refuse("Please login to continue.")
    if validator.require_master and not request.master:
        raise _refuse("Master key is required to complete this request.")
    if validator.require_any_user_roles and not principal.roles & set(validator.require_any_user_roles):
        raise _refuse("User does not match the required roles.")
    if validator.require_all_user_roles and not set(validator.require_all_user_roles) <= principal.roles:
        raise _refuse("User does not match all the required roles.")
    if values is not None:
        for name, rule in validator.fields.items():
            await _check_field(name, rule, values, request)
    for key, key_rule in validator.require_user_keys.items():
        user = request.user or {}
        if user.get(key) is None:
            raise _refuse(f"Please set data for {key} on your account.", key_rule.error)
        if key_rule.options is not None and not await _is_option(user[key], key_rule.options):
            raise _refuse(f"Invalid value for {key}.", key_rule.error)


async def _run_check(validator: Validator, request: CloudRequest) -> None:
    try:
        result = validator.check(request)  # type: ignore[misc]
        if inspect.isawaitable(result):
            await result
    except CloudError as error:
        code = error.code if error.explicit_code else ErrorCode.VALIDATION_ERROR
        raise ParseError(code, error.message) from None


async def _check_field(name: str, rule: FieldRule, values: dict[str, Any], request: CloudRequest) -> None:
    if rule.constant and request.object is not None:
        if request.original is not None:  # an update may not change it: back to the stored value
            if name in request.original:
                values[name] = copy.deepcopy(request.original[name])
            else:
                values.pop(name, None)
        elif rule.default is not None:
            values[name] = _default(rule.default)
    if values.get(name) is None and rule.default is not None:
        values[name] = _default(rule.default)
    value = values.get(name)
    if value is None:
        if rule.required:
            raise _refuse(f"Please specify data for {name}.", rule.error)
        return
    if rule.type is not None and not _has_type(value, rule.type):
        raise _refuse(f"Invalid type for {name}. Expected: {rule.type.lower()}", rule.error)
    if rule.options is not None and not await _is_option(value, rule.options):
        if isinstance(rule.options, (list, tuple)):
            expected = ", ".join(str(option) for option in rule.options)
            raise _refuse(f"Invalid option for {name}. Expected: {expected}", rule.error)
        if callable(rule.options):
            raise _refuse(f"Invalid option for {name}.", rule.error)
        raise _refuse(f"Invalid option for {name}. Expected: {rule.options}", rule.error)


def _default(default: Any) -> Any:
    return default() if callable(default) else copy.deepcopy(default)


def _has_type(value: Any, type_name: str) -> bool:
    if type_name == "Number" and isinstance(value, bool):
        return False
    if type_name in TYPED_FIELDS:  # a REST typed value; a function's Date param arrives as a datetime
        if type_name == "Date" and isinstance(value, datetime):
            return True
        return isinstance(value, dict) and value.get("__type") == type_name
    if type_name == "Object" and isinstance(value, dict) and "__type" in value:
        return False
    return isinstance(value, FIELD_TYPES[type_name])


async def _is_option(value: Any, options: Any) -> bool:
    if callable(options):
        verdict = options(value)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return bool(verdict)
    if isinstance(options, (list, tuple, set, frozenset)):
        return value in options
    return bool(value == options)
