"""`@cloud.route` endpoints: plain HTTP next to the API (calendar feeds, inbound webhooks, an app's health),
served under `settings.cloud_route_prefix` (`/cloud`). No Parse headers are needed; a request may still carry
`X-Parse-Session-Token` (request.api then acts as that user) or `X-Parse-Master-Key`."""
from __future__ import annotations

import hmac
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.cloud.runner import Caller
from api.cloud.values import encode_result
from api.request import BodyTooLarge, read_body
from auth.principal import ANONYMOUS, MASTER, Principal
from livequery.cloud import Hook, HttpResponse, Route
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

_encode = msgspec.json.Encoder().encode


@lru_cache(maxsize=256)
def _pattern(path: str) -> re.Pattern[str]:
    """`/calendar/{token}.ics` → a regex with one named group per `{name}` (one path segment each)."""
    parts = re.split(r"(\{\w+\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+?)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            found = _pattern(route.path).match(path)
            if found is not None:
                return route, found.groupdict()
    return None


async def cloud_route_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    path = "/" + request.path_params.get("path", "")
    matched = match(services.hooks.cloud.routes, request.method, path)
    if matched is None:
        return _error(ErrorCode.INVALID_JSON, f"Cannot {request.method} {path}", 404)
    route, params = matched
    hook = Hook("route", f"{route.method} {route.path}", route.handler, source=route.source)
    try:
        body = await read_body(request, services.settings.max_body_bytes)
        caller = Caller(await _principal(request, services), request.headers.get("x-parse-installation-id"),
                        request.client.host if request.client else None, request.headers)
        cloud_request = await services.hooks.request_for(
            hook, caller, trigger_name=None, method=request.method, path=path, path_params=params,
            query_params=dict(request.query_params), body=body)
        result = await services.hooks.call(hook, cloud_request)
    except BodyTooLarge:
        return _error(ErrorCode.OBJECT_TOO_LARGE, "request entity too large", 413)
    except ParseError as error:
        status = 404 if error.code == ErrorCode.OBJECT_NOT_FOUND else 500 if error.code == 1 else 400
        return _error(error.code, error.message, status)
    return to_response(result)


async def _principal(request: Request, services: Services) -> Principal:
    master = request.headers.get("x-parse-master-key")
    if master is not None and hmac.compare_digest(master.encode(), services.settings.master_key.encode()):
        return MASTER
    token = request.headers.get("x-parse-session-token")
    return await services.resolve_session(token) if token else ANONYMOUS


def to_response(result: Any) -> Response:
    """A handler's return value as HTTP: an HttpResponse as given, str as text, bytes as octet-stream,
    None as 204, anything else as JSON."""
    if isinstance(result, HttpResponse):
        return Response(result.body, status_code=result.status, headers=result.headers,
                        media_type=result.content_type)
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    return Response(_encode(encode_result(result)), media_type="application/json")


def _error(code: int, message: str, status: int) -> Response:
    return Response(_encode({"code": int(code), "error": message}), status_code=status,
                    media_type="application/json")
