"""`POST /batch`: several calls in one request, answered in request order."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from api.request import Call, Credentials
from api.router import NoRoute, Reply, Router
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger(__name__)

MAX_BATCH = 1000


async def batch(call: Call, s: Services) -> Reply:
    requests = call.body.get("requests")
    if not isinstance(requests, list):
        raise ParseError(ErrorCode.INVALID_JSON, "requests must be an array")
    if len(requests) > MAX_BATCH:
        raise ParseError(ErrorCode.INVALID_JSON, f"a batch holds at most {MAX_BATCH} requests")
    prefix = s.settings.mount_path
    results: list[dict[str, Any]] = []
    # Run in order: the SDKs' saveAll/destroyAll expect results in request order, and the embedded store
    # serialises writes anyway, so concurrency would only reorder side effects.
    for item in requests:
        results.append(await _one(call, s, item, prefix))
    return Reply(results)


async def _one(outer: Call, s: Services, item: Any, prefix: str) -> dict[str, Any]:
    try:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ParseError(ErrorCode.INVALID_JSON, "each batch request needs a method and a path")
        path = item["path"]
        if not path.startswith(prefix + "/") and prefix:
            raise ParseError(ErrorCode.INVALID_JSON, f"cannot route batch path {path}")
        method = str(item.get("method", "")).upper()
        body = item.get("body") or {}
        if not isinstance(body, dict):
            raise ParseError(ErrorCode.INVALID_JSON, "batch request body must be an object")
        sub_path = path[len(prefix):].split("?", 1)[0]
        if sub_path.rstrip("/") == "/batch":
            raise ParseError(ErrorCode.INVALID_JSON, "cannot nest batch requests")
        try:
            handler, params = s.router.resolve(method, sub_path)
        except NoRoute:
            raise ParseError(ErrorCode.INVALID_JSON, f"cannot route batch path {path}") from None
        sub = Call(method=method, path=sub_path, body=dict(body) if method != "GET" else {},
                   params=dict(body) if method == "GET" else {}, credentials=outer.credentials or Credentials(),
                   principal=outer.principal, path_params=params, headers=outer.headers, ip=outer.ip,
                   context=outer.context)
        reply = await handler(sub, s)
        return {"success": reply.body}
    except ParseError as error:
        return {"error": {"code": error.code, "error": error.message}}
    except Exception:  # one broken sub-request must not lose the others' results
        log.exception("internal error in a batch sub-request")
        return {"error": {"code": ErrorCode.INTERNAL_SERVER_ERROR, "error": "Internal server error."}}


def register(router: Router) -> None:
    router.add("/batch", "POST", batch)
