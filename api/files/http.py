"""The `/files` endpoints. They bypass the JSON request path: uploads and downloads stream.

- `POST /files/{name}`: 201 `{url, name}` (any body shape `api.files.upload` reads), 413 past the size limit.
- `GET|HEAD /files/{appId}/{name}`: the bytes, typed by the name's extension, with `nosniff`, validators (304)
  and single byte ranges (206/416). Public, as in Parse: a file's URL is its capability.
- `GET /files/{appId}/metadata/{name}`: `{"metadata": ...}` or `{}`.
- `DELETE /files/{name}`: master key only.
"""
from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.files.policy import content_type_for
from api.files.ranges import Unsatisfiable, etag_of, http_date, is_not_modified, requested_range
from api.files.service import FileService, FileTooLarge
from api.files.upload import read_upload
from api.request import header_credentials
from api.routes.system import MasterRequired
from storage.errors import ErrorCode, ParseError
from storage.files import StoredFile

ErrorResponder = Callable[[Exception, str], Response]
_encode = msgspec.json.Encoder().encode


class WrongApplication(Exception):
    """A download URL naming another application id: 403, as Parse answers it."""


def files_routes(mount: str, respond_error: ErrorResponder, cors: Mapping[str, str]) -> list[Route]:
    """The routes to put before the catch-all Parse route. `respond_error` is the API's one error handler."""

    def services_of(request: Request) -> FileService:
        return request.app.state.services.files  # type: ignore[no-any-return]

    def json_reply(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(_encode(body), status, {**cors, **(headers or {})}, media_type="application/json")

    def failed(error: Exception, request: Request) -> Response:
        if isinstance(error, ClientDisconnect):  # the uploader went away: nothing was stored, nobody to answer
            return Response(b"", 400, dict(cors))
        if isinstance(error, FileTooLarge):
            return json_reply({"code": error.code, "error": error.message}, 413)
        if isinstance(error, WrongApplication):
            return json_reply({"code": ErrorCode.OPERATION_FORBIDDEN, "error": "Invalid application ID."}, 403)
        return respond_error(error, request.url.path)  # CORS headers included

    def preflight() -> Response:
        return Response(status_code=200, headers=dict(cors))

    async def create(request: Request) -> Response:
        services = request.app.state.services
        files: FileService = services.files
        try:
            name = request.path_params.get("name", "")
            upload = await read_upload(request, files.rules.max_upload_bytes)
            principal = await services.authenticator.principal(upload.credentials)
            saved = await files.upload(principal, name, upload.declared_type, upload.chunks, size=upload.size,
                                       metadata=upload.metadata, tags=upload.tags)
        except Exception as error:  # every failure is a Parse answer; the server keeps serving
            return failed(error, request)
        return json_reply(saved, 201, {"Location": saved["url"]})

    async def delete(request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight()
        services = request.app.state.services
        try:
            principal = await services.authenticator.principal(header_credentials(request.headers))
            if not principal.is_master:
                raise MasterRequired()
            await services.files.delete(principal, request.path_params["name"])
        except Exception as error:
            return failed(error, request)
        return Response(b"", 200, dict(cors))

    async def named_file(request: Request) -> StoredFile | None:
        if not _same_app(request):
            raise WrongApplication()
        return await services_of(request).find(request.path_params["name"])

    async def download(request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight()
        try:
            found = await named_file(request)
        except Exception as error:
            return failed(error, request)
        if found is None:
            return Response(b"File not found.", 404, dict(cors), media_type="text/plain")
        return _file_response(request, services_of(request), found, cors)

    async def metadata(request: Request) -> Response:
        try:
            found = await named_file(request)
        except Exception as error:
            return failed(error, request)
        return json_reply({"metadata": found.metadata} if found is not None else {})

    async def unnamed(request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight()
        return failed(ParseError(ErrorCode.INVALID_FILE_NAME, "Filename not provided."), request)

    base = mount + "/files"
    return [
        Route(base, unnamed, methods=["POST", "OPTIONS"]),
        Route(base + "/{app_id}/metadata/{name:path}", metadata, methods=["GET"]),
        Route(base + "/{app_id}/{name:path}", download, methods=["GET", "HEAD", "OPTIONS"]),
        Route(base + "/{name:path}", create, methods=["POST"]),
        Route(base + "/{name:path}", delete, methods=["DELETE", "OPTIONS"]),
    ]


def _same_app(request: Request) -> bool:
    expected: str = request.app.state.services.settings.app_id
    return hmac.compare_digest(request.path_params["app_id"].encode(), expected.encode())


def _file_response(request: Request, files: FileService, found: StoredFile, cors: Mapping[str, str]) -> Response:
    headers = {**cors, "Content-Type": content_type_for(found.name), "X-Content-Type-Options": "nosniff",
               "Accept-Ranges": "bytes", "ETag": etag_of(found), "Last-Modified": http_date(found.modified)}
    if is_not_modified(found, request.headers.get("if-none-match"), request.headers.get("if-modified-since")):
        return Response(None, 304, {k: v for k, v in headers.items() if k != "Content-Type"})
    try:
        span = requested_range(found, request.headers.get("range"), request.headers.get("if-range"))
    except Unsatisfiable:
        return Response(b"", 416, {**headers, "Content-Range": f"bytes */{found.length}"})
    start, end, status = 0, found.length, 200
    if span is not None:
        (start, end), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.length}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD" or end == start:
        return Response(b"", status, headers)
    return StreamingResponse(_streamed(files, found, start, end), status, headers)


async def _streamed(files: FileService, found: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
    # aclosing: a client that goes away mid-download closes the adapter's file or cursor at once
    async with aclosing(files.read(found, start, end)) as chunks:
        async for chunk in chunks:
            yield chunk
