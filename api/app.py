"""The ASGI application: Parse REST under the mount path, LiveQuery websockets, CORS as Parse sends it."""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from api import examples
from api.cloud.http import cloud_route_endpoint
from api.files.http import files_routes
from api.graphql import GraphQLMount
from api.live import live_endpoint
from api.metrics import UNMATCHED, metrics_endpoint
from api.observe import RequestObserver
from api.request import BodyTooLarge, Unauthorized, call_from_request
from api.router import NoRoute, Reply, Router
from api.routes import register_all
from api.routes.system import MasterRequired
from api.services import Services
from api.settings import Settings
from livequery.cloud import Cloud
from storage.errors import ErrorCode, ParseError, brief_traceback

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,PUT,POST,DELETE,OPTIONS",
    "Access-Control-Allow-Headers": (
        "X-Parse-Master-Key, X-Parse-REST-API-Key, X-Parse-Javascript-Key, X-Parse-Application-Id, "
        "X-Parse-Client-Version, X-Parse-Session-Token, X-Requested-With, X-Parse-Revocable-Session, "
        "X-Parse-Request-Id, X-Parse-Installation-Id, X-Parse-Client-Key, X-Parse-Windows-Key, "
        "X-Parse-Cloud-Context, Content-Type, Pragma, Cache-Control, Authorization"),
    "Access-Control-Expose-Headers": "X-Parse-Job-Status-Id, X-Parse-Push-Status-Id",
}
_encode = msgspec.json.Encoder().encode


def status_for(code: int) -> int:
    """Parse's HTTP statuses: 404 for OBJECT_NOT_FOUND, 500 for INTERNAL_SERVER_ERROR, 400 otherwise."""
    if code == ErrorCode.OBJECT_NOT_FOUND:
        return 404
    if code == ErrorCode.INTERNAL_SERVER_ERROR:
        return 500
    return 400


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged = {**CORS_HEADERS, **(headers or {})}
    return Response(_encode(body), status_code=status, headers=merged, media_type="application/json")


def error_response(error: Exception, request_path: str) -> Response:
    if isinstance(error, ParseError):
        return json_response({"code": error.code, "error": error.message}, status_for(error.code))
    if isinstance(error, Unauthorized):
        return json_response({"error": error.message}, 403)
    if isinstance(error, MasterRequired):
        return json_response({"error": "unauthorized: master key is required"}, 403)
    if isinstance(error, BodyTooLarge):
        return json_response({"code": ErrorCode.OBJECT_TOO_LARGE, "error": "request entity too large"}, 413)
    if isinstance(error, NoRoute):
        return json_response({"code": ErrorCode.INVALID_JSON, "error": str(error)}, 404)
    # unexpected: logged with its context, bounded (storage.errors.brief_traceback), never the whole stack
    log.error("internal error answering %s\n%s", request_path[:200], brief_traceback(error))
    return json_response({"code": 1, "error": "Internal server error.", "message": "Internal server error."}, 500)


def create_app(settings: Settings, cloud: Cloud | None = None) -> Starlette:
    """The app; `cloud` (else `settings.cloud`, a module path) gives its cloud code."""
    router = Router()
    register_all(router)
    folder = examples.find_app_folder(settings.example) if settings.example else None
    if folder is not None:
        settings = examples.with_app_folder(settings, folder)
    services = Services(settings, router, cloud)
    mount = settings.mount_path
    graphql = None if settings.no_graphql else GraphQLMount(services, CORS_HEADERS)
    observer = RequestObserver(settings, services.metrics)

    async def parse_endpoint(request: Request) -> Response:
        path = "/" + request.path_params.get("path", "")
        if request.method == "OPTIONS":
            return Response(status_code=200, headers=CORS_HEADERS)
        started, method, route = time.perf_counter(), request.method, UNMATCHED
        try:
            call = await call_from_request(request, path, settings.max_body_bytes)
            method = call.method
            handler, call.path_params, route = router.match(call.method, path)
            if path.rstrip("/") not in router.public_paths:
                use_session = path.rstrip("/") not in ("/login", "/users/login")
                call.principal = await services.authenticator.principal(call.credentials, use_session=use_session)
            reply: Reply = await handler(call, services)
            encoded = _encode(reply.body)
            if len(encoded) > settings.max_response_bytes:
                raise ParseError(ErrorCode.INVALID_QUERY,
                                 f"The response would exceed {settings.max_response_bytes} bytes: ask for fewer "
                                 "objects (limit), keys or includes")
            response = Response(encoded, status_code=reply.status, headers={**CORS_HEADERS, **(reply.headers or {})},
                                media_type="application/json")
        except Exception as error:  # every failure becomes a Parse answer; the server keeps serving
            response = error_response(error, request.url.path)
        observer.done(method, path, route, response.status_code, started, request.headers.get("x-parse-request-id"))
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        if graphql is not None:
            graphql.start()
        try:
            if folder is not None:
                await examples.prepare(app, services, folder)
            yield
        finally:
            await services.stop()

    routes: list[Any] = [
        # @cloud.route endpoints (before the API: with an empty mount path the API route matches everything)
        Route(settings.cloud_route_prefix + "/{path:path}", cloud_route_endpoint,
              methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        *files_routes(mount, error_response, CORS_HEADERS),  # raw, streamed bodies: not the JSON path below
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route(mount + "/{path:path}", parse_endpoint, methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
        *(graphql.routes() if graphql is not None else []),
        *(examples.web_routes(settings, folder) if folder else []),
    ]
    app = _App(routes=routes, lifespan=lifespan)
    app.other_sockets = frozenset() if graphql is None else frozenset({settings.graphql_path})
    app.state.services = services
    return app


class _App(Starlette):
    """Starlette, except that a LiveQuery socket goes straight to its endpoint, past the middleware and router
    (they do nothing for a socket): every idle socket would otherwise hold their coroutine frames and closures
    (~4 KB), and the endpoint gets uvicorn's own `send`, whose protocol it writes frames to directly."""

    other_sockets: frozenset[str] = frozenset()  # socket paths some other route serves (GraphQL's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Parse Server does not check a LiveQuery socket's path; the SDKs use the REST URL's, but any will do
        if scope["type"] == "websocket" and scope["path"] not in self.other_sockets:
            scope["app"] = self
            await live_endpoint(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)
