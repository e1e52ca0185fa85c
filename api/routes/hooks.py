"""`/hooks/functions` and `/hooks/triggers` (master key): webhooks, as Parse Server and its dashboard use them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from api.cloud.webhooks import TRIGGER_KINDS, public
from api.request import Call
from api.router import Handler, Reply, Router
from api.routes.system import require_master
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services


def _function_key(call: Call) -> dict[str, Any]:
    name = call.path_params.get("functionName") or call.body.get("functionName")
    if not isinstance(name, str) or not name:
        raise ParseError(ErrorCode.WEBHOOK_ERROR, "invalid hook declaration")
    return {"functionName": name}


def _trigger_key(call: Call) -> dict[str, Any]:
    class_name = call.path_params.get("className") or call.body.get("className")
    trigger = call.path_params.get("triggerName") or call.body.get("triggerName")
    if not isinstance(class_name, str) or not class_name or trigger not in TRIGGER_KINDS:
        raise ParseError(ErrorCode.WEBHOOK_ERROR, "invalid hook declaration")
    return {"className": class_name, "triggerName": trigger}


def _missing(key: dict[str, Any]) -> ParseError:
    if "functionName" in key:
        return ParseError(ErrorCode.WEBHOOK_ERROR, f"no function named: {key['functionName']} is defined")
    return ParseError(ErrorCode.WEBHOOK_ERROR, f"class {key['className']} does not exist")


def _url(call: Call) -> str:
    url = call.body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ParseError(ErrorCode.WEBHOOK_ERROR, "invalid hook declaration")
    return url


KeyOf = Callable[[Call], dict[str, Any]]


def _handlers(key_of: KeyOf) -> tuple[Handler, Handler, Handler, Handler, Handler]:
    async def list_all(call: Call, s: Services) -> Reply:
        require_master(call)
        kind = "functionName" if key_of is _function_key else "triggerName"
        return Reply([public(row) for row in await s.webhooks.rows() if kind in row])

    async def get_one(call: Call, s: Services) -> Reply:
        require_master(call)
        key = key_of(call)
        found = await s.webhooks.get(key)
        if found is None:
            raise _missing(key)
        return Reply(found)

    async def create(call: Call, s: Services) -> Reply:
        require_master(call, write=True)
        key = key_of(call)
        url = _url(call)
        if await s.webhooks.get(key) is not None:
            if "functionName" in key:
                raise ParseError(ErrorCode.WEBHOOK_ERROR, f"function name: {key['functionName']} already exists")
            raise ParseError(ErrorCode.WEBHOOK_ERROR,
                             f"class {key['className']} already has trigger {key['triggerName']}")
        return Reply(await s.webhooks.save(key, url))

    async def update(call: Call, s: Services) -> Reply:
        require_master(call, write=True)
        key = key_of(call)
        if call.body.get("__op") == "Delete":
            await s.webhooks.delete(key)
            return Reply({})
        if await s.webhooks.get(key) is None:
            raise _missing(key)
        return Reply(await s.webhooks.save(key, _url(call)))

    async def delete(call: Call, s: Services) -> Reply:
        require_master(call, write=True)
        await s.webhooks.delete(key_of(call))
        return Reply({})

    return list_all, get_one, create, update, delete


def register(router: Router) -> None:
    for base, member, key_of in (("/hooks/functions", "/{functionName}", _function_key),
                                 ("/hooks/triggers", "/{className}/{triggerName}", _trigger_key)):
        list_all, get_one, create, update, delete = _handlers(key_of)
        router.add(base, "GET", list_all)
        router.add(base, "POST", create)
        router.add(base + member, "GET", get_one)
        router.add(base + member, "PUT", update)
        router.add(base + member, "DELETE", delete)
