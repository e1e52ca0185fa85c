"""The ASGI application: Parse REST under the mount path, LiveQuery websockets, CORS as Parse sends it."""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

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
_CORS_RAW = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in CORS_HEADERS.items()]
_CORS_NAMES = frozenset(name.lower() for name in CORS_HEADERS)


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


def encoded_response(encoded: bytes, status: int, headers: dict[str, str] | None) -> Response:
    """A JSON answer with the CORS headers, encoded once at import rather than on every response."""
    response = Response(encoded, status_code=status, media_type="application/json")
    raw = response.raw_headers
    if headers:
        raw.extend((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
        overridden = {name.lower() for name in headers} & _CORS_NAMES
        raw.extend(item for item in _CORS_RAW if item[0].decode("latin-1") not in overridden)
    else:
        raw.extend(_CORS_RAW)
    return response


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


_API_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "OPTIONS"})


class App(Starlette):
    """Starlette, with the Parse API's requests handed straight to their endpoint.

    Every REST call went through starlette's error and exception middlewares, its route matching (a regex per
    route until the catch-all API route) and its request/response wrapper: about a tenth of a request's CPU. The
    API endpoint answers every failure itself, so a request for it (under the mount path, not a file, a cloud
    route or /metrics, which have their own routes) skips them; everything else is routed as before.

    A LiveQuery socket, too, goes straight to its endpoint (the middleware and router do nothing for a socket):
    every idle socket would otherwise hold their coroutine frames and closures (~4 KB), and the endpoint gets
    uvicorn's own `send`, whose protocol it writes frames to directly.
    """

    api_prefix: str = ""  # the mount path and "/"; empty: no shortcut
    not_api: tuple[str, ...] = ()  # paths under the prefix other routes serve
    api_endpoint: Callable[[Request], Awaitable[Response]] | None = None
    other_sockets: frozenset[str] = frozenset()  # socket paths some other route serves (GraphQL's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Parse Server does not check a LiveQuery socket's path; the SDKs use the REST URL's, but any will do
        if scope["type"] == "websocket" and scope["path"] not in self.other_sockets:
            scope["app"] = self
            await live_endpoint(WebSocket(scope, receive, send))
            return
        if (scope["type"] == "http" and self.api_endpoint is not None and scope["method"] in _API_METHODS
                and not scope.get("root_path")):
            path: str = scope["path"]
            if path.startswith(self.api_prefix) and not path.startswith(self.not_api):
                scope["app"] = self
                scope["path_params"] = {"path": path[len(self.api_prefix):]}
                response = await self.api_endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


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
        call = None
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
            response = encoded_response(encoded, reply.status, reply.headers)
        except Exception as error:  # every failure becomes a Parse answer; the server keeps serving
            response = error_response(error, request.url.path)
        headers = call.headers if call is not None and call.headers is not None else request.headers
        observer.done(method, path, route, response.status_code, started, headers.get("x-parse-request-id"))
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
    app = App(routes=routes, lifespan=lifespan)
    app.other_sockets = frozenset() if graphql is None else frozenset({settings.graphql_path})
    app.state.services = services
    if mount:
        app.api_prefix = mount + "/"
        app.not_api = (mount + "/files", settings.cloud_route_prefix + "/", "/metrics")
        app.api_endpoint = parse_endpoint
    return app

