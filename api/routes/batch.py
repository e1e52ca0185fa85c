"""`POST /batch`: several calls in one request, answered in request order.

Every item is checked before any runs (a malformed one is 400/107 and nothing is executed, as Parse does). With
`"transaction": true` the batch is all or nothing: one store transaction, its LiveQuery events published only
after the commit, and the first failing request's error as the answer.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from api.request import Call, Credentials
from api.router import Handler, NoRoute, Reply, Router
from storage.errors import ErrorCode, ParseError, brief_traceback

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger(__name__)


class _Planned(msgspec.Struct, frozen=True):
    handler: Handler
    call: Call


async def batch(call: Call, s: Services) -> Reply:
    requests = call.body.get("requests")
    if not isinstance(requests, list):
        raise ParseError(ErrorCode.INVALID_JSON, "requests must be an array")
    limit = s.settings.batch_limit
    if len(requests) > limit:
        raise ParseError(ErrorCode.INVALID_JSON, f"A batch may hold at most {limit} requests (batch limit)")
    transaction = call.body.get("transaction", False)
    if not isinstance(transaction, bool):
        raise ParseError(ErrorCode.INVALID_JSON, "transaction must be a boolean")
    planned = [_plan(call, s, item, index) for index, item in enumerate(requests)]
    if transaction:
        return Reply(await _all_or_nothing(s, planned))
    # In order: the SDKs' saveAll/destroyAll expect results in request order, and the embedded store
    # serialises writes anyway, so concurrency would only reorder side effects.
    return Reply([await _one(s, item) for item in planned])


def _plan(outer: Call, s: Services, item: Any, index: int) -> _Planned:
    """The call an item makes, or INVALID_JSON naming the item: nothing runs unless every item is routable."""
    prefix = s.settings.mount_path
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(item.get("method"), str):
        raise ParseError(ErrorCode.INVALID_JSON, f"batch request {index} needs a method and a path")
    path = item["path"]
    if prefix and not path.startswith(prefix + "/"):
        raise ParseError(ErrorCode.INVALID_JSON, f"cannot route batch path {path[:200]}")
    method = item["method"].upper()
    body = item.get("body") or {}
    if not isinstance(body, dict):
        raise ParseError(ErrorCode.INVALID_JSON, f"batch request {index}: body must be an object")
    sub_path = path[len(prefix):].split("?", 1)[0]
    if sub_path.rstrip("/") == "/batch":
        raise ParseError(ErrorCode.INVALID_JSON, "cannot nest batch requests")
    try:
        handler, params = s.router.resolve(method, sub_path)
    except NoRoute:
        raise ParseError(ErrorCode.INVALID_JSON, f"cannot route batch path {path[:200]} ({method[:20]})") from None
    sub = Call(method=method, path=sub_path, body=dict(body) if method != "GET" else {},
               params=dict(body) if method == "GET" else {}, credentials=outer.credentials or Credentials(),
               principal=outer.principal, path_params=params, headers=outer.headers, ip=outer.ip,
               context=outer.context)
    return _Planned(handler, sub)


async def _one(s: Services, item: _Planned) -> dict[str, Any]:
    try:
        reply = await item.handler(item.call, s)
        return {"success": reply.body}
    except ParseError as error:
        return {"error": {"code": error.code, "error": error.message}}
    except Exception as error:  # one broken sub-request must not lose the others' results
        log.error("internal error in a batch sub-request\n%s", brief_traceback(error))
        return {"error": {"code": ErrorCode.INTERNAL_SERVER_ERROR, "error": "Internal server error."}}


async def _all_or_nothing(s: Services, planned: list[_Planned]) -> list[dict[str, Any]]:
    """Every request in one store transaction; the first failure rolls all back and is the answer."""
    results: list[dict[str, Any]] = []
    try:
        async with s.events.holding(), s.store.transaction():
            for item in planned:
                reply = await item.handler(item.call, s)
                results.append({"success": reply.body})
    except BaseException:
        await s.schemas.all()  # classes or fields created inside the transaction are gone again
        raise
    return results


def register(router: Router) -> None:
    router.add("/batch", "POST", batch)
