"""Turns an HTTP request into a `Call`: the effective method, the JSON body and the credentials.

Parse clients send credentials either as headers or (the JS SDK) inside a POST body together with `_method`,
often as `text/plain`; both arrive here as one shape.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request

from auth.principal import ANONYMOUS, Principal
from storage.errors import ErrorCode, ParseError
from storage.limits import check_decoded_depth, too_deep

_BODY_CREDENTIALS = ("_ApplicationId", "_JavaScriptKey", "_ClientKey", "_RestAPIKey", "_MasterKey",
                     "_SessionToken", "_InstallationId", "_ClientVersion", "_context", "_ContentType")
_ALWAYS_DROPPED = ("_RevocableSession", "_noBody", "_method")


class BodyTooLarge(Exception):
    pass


class Unauthorized(Exception):
    """Answered as 403 `{"error": "unauthorized"}` (Parse gives this body no code)."""

    def __init__(self, message: str = "unauthorized") -> None:
        super().__init__(message)
        self.message = message


class Credentials(msgspec.Struct):
    app_id: str | None = None
    master_key: str | None = None
    client_key: str | None = None
    session_token: str | None = None
    installation_id: str | None = None


class Call(msgspec.Struct):
    """One Parse API call, from HTTP or from a `/batch` sub-request."""

    method: str
    path: str  # below the mount path, e.g. "/classes/GameScore/abc"
    body: dict[str, Any]
    params: dict[str, Any]  # query parameters (GET) or body keys for GETs sent as POST + _method
    credentials: Credentials
    principal: Principal = ANONYMOUS
    path_params: dict[str, str] = msgspec.field(default_factory=dict)
    headers: Mapping[str, str] | None = None  # the HTTP request's (lower-case names), for cloud code
    ip: str | None = None
    context: dict[str, Any] | None = None  # X-Parse-Cloud-Context or the SDK's `_context`, for cloud code


_json_decoder = msgspec.json.Decoder()


def decode_json_body(raw: bytes) -> Any:
    """The body as JSON; INVALID_JSON if it is not JSON or nests deeper than storage.limits allows."""
    if not raw.strip():
        return {}
    try:
        body = _json_decoder.decode(raw)
    except msgspec.DecodeError:
        raise ParseError(ErrorCode.INVALID_JSON, "Invalid JSON") from None
    except RecursionError:
        raise too_deep("The request body") from None
    check_decoded_depth(raw, body, "The request body")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _query_value(raw: str) -> Any:
    """Parse runs every query-string value through JSON.parse, keeping the raw string when that fails."""
    try:
        value = _json_decoder.decode(raw)
    except msgspec.DecodeError:
        return raw
    except RecursionError:
        raise too_deep("A query parameter") from None
    check_decoded_depth(raw, value, "A query parameter")
    return value


def _basic_auth(header: str | None, credentials: Credentials) -> None:
    if not header or not header.lower().startswith("basic "):
        return
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return
    app_id, _, secret = decoded.partition(":")
    credentials.app_id = credentials.app_id or app_id
    if secret.startswith("javascript-key="):
        credentials.client_key = credentials.client_key or secret[len("javascript-key="):]
    elif secret:
        credentials.master_key = credentials.master_key or secret


def header_credentials(headers: Mapping[str, str]) -> Credentials:
    """Credentials sent as `X-Parse-*` headers or HTTP Basic auth."""
    credentials = Credentials(
        app_id=headers.get("x-parse-application-id"),
        master_key=headers.get("x-parse-master-key"),
        client_key=(headers.get("x-parse-rest-api-key") or headers.get("x-parse-javascript-key")
                    or headers.get("x-parse-client-key") or headers.get("x-parse-windows-key")),
        session_token=headers.get("x-parse-session-token"),
        installation_id=headers.get("x-parse-installation-id"),
    )
    _basic_auth(headers.get("authorization"), credentials)
    return credentials


def take_body_credentials(body: dict[str, Any], credentials: Credentials) -> None:
    """The JS SDK's credentials inside the body (used when no header named the app); removed from `body`."""
    if credentials.app_id is None and "_ApplicationId" in body:
        credentials.app_id = _text(body.get("_ApplicationId"))
        credentials.master_key = _text(body.get("_MasterKey"))
        credentials.client_key = _text(body.get("_JavaScriptKey") or body.get("_ClientKey")
                                       or body.get("_RestAPIKey"))
        credentials.session_token = _text(body.get("_SessionToken"))
        credentials.installation_id = _text(body.get("_InstallationId"))
    for key in _BODY_CREDENTIALS:
        body.pop(key, None)


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict of lower-case names (the first of repeated ones, as starlette's
    `Headers.get` answers): built once, where each `Headers.get` scans every header."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(request.scope["headers"])}


def query_params(request: Request) -> dict[str, Any]:
    """The query string's parameters (the last of repeated ones, as starlette's `QueryParams` in a dict), each
    through `_query_value`."""
    raw = request.scope["query_string"].decode("latin-1")
    return {key: _query_value(value) for key, value in parse_qsl(raw, keep_blank_values=True)} if raw else {}


async def call_from_request(request: Request, path: str, body_limit: int) -> Call:
    headers = request_headers(request)
    method = request.method.upper()
    raw = await read_body(request, body_limit) if method in ("POST", "PUT", "DELETE") else b""
    body = decode_json_body(raw) if raw else {}
    if not isinstance(body, dict):
        if method == "POST" and path == "/batch":
            raise ParseError(ErrorCode.INVALID_JSON, "requests must be an array")
        raise ParseError(ErrorCode.INVALID_JSON, "body must be a JSON object")
    credentials = header_credentials(headers)
    context = cloud_context(headers.get("x-parse-cloud-context"), body.get("_context"))
    take_body_credentials(body, credentials)
    override = body.get("_method")
    for key in _ALWAYS_DROPPED:
        body.pop(key, None)
    if method == "POST" and isinstance(override, str) and override.upper() in ("GET", "PUT", "DELETE", "POST"):
        method = override.upper()
    if method == "GET" and request.method.upper() != "GET":
        params, body = body, {}
    else:
        params = query_params(request)
    client = request.scope.get("client")
    return Call(method=method, path=path, body=body, params=params, credentials=credentials, headers=headers,
                ip=client[0] if client else None, context=context)


def cloud_context(header: str | None, body_value: Any) -> dict[str, Any] | None:
    """Parse's cloud context: a JSON object in a header, or an object in the body (the JS SDK); else 107."""
    if header is None and body_value is None:
        return None
    value = body_value
    if header is not None:
        try:
            value = _json_decoder.decode(header)
        except msgspec.DecodeError:
            value = None
    if not isinstance(value, dict):
        raise ParseError(ErrorCode.INVALID_JSON, "Invalid object for context.")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
