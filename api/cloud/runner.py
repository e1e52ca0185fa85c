"""Running one hook: the request it gets, its validator, its handler (sync or async), and Parse's error rules.

A CloudError (or any ParseError) keeps its code and message; any other exception is logged with its traceback
and a reference, and the client gets 141 with that reference only. After-triggers are bounded by a timeout and
never fail the write that already happened.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from typing import TYPE_CHECKING, Any, Mapping

import msgspec

from api.cloud.validation import validate
from api.request import Call
from auth import users as user_rules
from auth.principal import ANONYMOUS, Principal
from livequery.cloud import Cloud, CloudRequest, Hook
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger("livequery.cloud")


class Caller(msgspec.Struct, frozen=True):
    """Who a cloud-visible operation acts for, and the HTTP facts hooks see about the request."""

    principal: Principal = ANONYMOUS
    installation_id: str | None = None
    ip: str | None = None
    headers: Mapping[str, str] | None = None
    context: dict[str, Any] | None = None

    def acting_as(self, principal: Principal) -> Caller:
        return msgspec.structs.replace(self, principal=principal, context=None)


def caller_of(call: Call) -> Caller:
    return Caller(call.principal, call.credentials.installation_id, call.ip, call.headers, call.context)


_AROUND = {operation: (f"before_{operation}", f"after_{operation}") for operation in ("save", "delete", "find")}


def hook_name(hook: Hook) -> str:
    return f"{hook.kind} {hook.target}".strip()


class HookRunner:
    """The hooks in force (the module's, plus webhooks registered through /hooks) and how to run one."""

    def __init__(self, services: Services, cloud: Cloud | None, after_timeout: float) -> None:
        self._services = services
        self.after_timeout = after_timeout
        self.cloud = cloud or Cloud()
        self._webhooks: dict[str, dict[str, Hook]] = {}
        self._table: dict[str, dict[str, Hook]] = {}
        self.version = 0  # counts changes of the hooks in force (GraphQL rebuilds its CloudCodeFunction enum)
        self._rebuild()

    def use(self, cloud: Cloud) -> None:
        """Put a (re)loaded module in force; requests already running finish with the hooks they found."""
        self.cloud = cloud
        self._rebuild()

    def use_webhooks(self, hooks: dict[str, dict[str, Hook]]) -> None:
        self._webhooks = hooks
        self._rebuild()

    def _rebuild(self) -> None:
        table: dict[str, dict[str, Hook]] = {}
        for source in (self._webhooks, self.cloud.hooks):  # the module's hooks win over webhooks of one name
            for kind, hooks in source.items():
                table.setdefault(kind, {}).update(hooks)
        self._table = table
        self.version += 1

    def find(self, kind: str, target: str = "") -> Hook | None:
        """The hook of `kind` for a class (or function/job name); a dict look-up, so free when there is none."""
        hooks = self._table.get(kind)
        return None if hooks is None else hooks.get(target)

    def around(self, operation: str, class_name: str) -> tuple[Hook | None, Hook | None]:
        """The before_ and after_ hooks of `operation` ("save", "delete", "find") for a class."""
        before, after = _AROUND[operation]
        return self.find(before, class_name), self.find(after, class_name)

    def names(self, kind: str) -> list[str]:
        return sorted(self._table.get(kind, {}))

    # --- requests ------------------------------------------------------------------------------------------
    async def request_for(self, hook: Hook, caller: Caller, **fields: Any) -> CloudRequest:
        from api.cloud.api import CloudApi

        principal = caller.principal
        request = CloudRequest(**fields)
        request.trigger_name = request.trigger_name or hook.kind
        request.master = principal.is_master
        request.installation_id = caller.installation_id
        request.ip = caller.ip
        request.headers = dict(caller.headers) if caller.headers is not None else {}
        if "context" not in fields:
            request.context = caller.context if caller.context is not None else {}
        if principal.user_id is not None and "user" not in fields:
            request.user = await self.user_json(principal)
        request.session_token = request.session_token or principal.session_token
        request.log = logging.getLogger(f"cloud.{hook.kind}" + (f".{hook.target}" if hook.target else ""))
        request.api = CloudApi(self._services, caller)
        return request

    async def user_json(self, principal: Principal) -> dict[str, Any] | None:
        """The caller's `_User` as REST JSON (with its session token, as Parse's `request.user`)."""
        found = await self._services.store.find("_User", Field(("objectId",), (Compare("$eq", principal.user_id),)))
        if not found:
            return None
        return user_rules.user_for_output(found[0], principal, session_token=principal.session_token)

    # --- running -------------------------------------------------------------------------------------------
    async def run(self, hook: Hook, request: CloudRequest, principal: Principal = ANONYMOUS,
                  values: dict[str, Any] | None = None) -> Any:
        """Validator, then handler; returns the handler's result. Raises ParseError as Parse answers it."""
        validator = hook.validator
        if validator is not None:
            await validate(validator, request, principal, values)
            if request.master and validator.skip_with_master_key:
                return None
        return await self.call(hook, request)

    async def call(self, hook: Hook, request: CloudRequest) -> Any:
        try:
            result = hook.handler(request)
            if inspect.isawaitable(result):
                result = await result
            return result
        except ParseError:
            raise
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("cloud code %s (%s) failed [ref %s]", hook_name(hook), hook.source, reference)
            raise ParseError(ErrorCode.SCRIPT_FAILED,
                             f"Cloud code failed (reference {reference}; the server log has the details).") from None

    async def run_after(self, hook: Hook, request: CloudRequest, principal: Principal = ANONYMOUS) -> None:
        """An after-trigger: awaited (its effects are done when the client gets the answer) but bounded by its
        timeout; what it raises or how long it takes is logged and never changes the answer of the write."""
        timeout = hook.timeout or self.after_timeout
        try:
            await asyncio.wait_for(self.run(hook, request, principal), timeout)
        except TimeoutError:
            log.warning("cloud code %s (%s) took more than %.1f s: abandoned; the write stands",
                        hook_name(hook), hook.source, timeout)
        except ParseError as error:
            log.warning("cloud code %s (%s) failed after the write (code %d: %s); the write stands",
                        hook_name(hook), hook.source, error.code, error.message)
