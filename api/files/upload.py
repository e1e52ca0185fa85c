"""The shapes an upload arrives in, read into one `Upload`: credentials, declared type and a stream of bytes.

- Raw bytes with `X-Parse-*` headers and any Content-Type (REST, the iOS/Android/PHP SDKs, the JS SDK 8's
  Buffer and stream uploads, which send metadata and tags as JSON in `X-Parse-File-Metadata`/`-Tags`): streamed.
- The JS SDK's JSON in a `text/plain` body: `{"base64", "_ContentType", "fileData": {metadata, tags},
  "_ApplicationId", "_SessionToken", ...}`, credentials inside (as Parse reads it when no header names the app).
- `{"base64": ...}` as JSON with the credentials in headers.

A JSON body carries the file as base64, so it is held whole (its limit is the base64 length of `maxUploadSize`)
and decoded in a worker thread. A body that merely starts like JSON but is not one of these shapes is the file.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request

from api.files.policy import bare_type
from api.files.service import FileTooLarge
from api.request import Credentials, Unauthorized, header_credentials, take_body_credentials
from storage.errors import ErrorCode, ParseError

_JSON_SHAPE_KEYS = frozenset({"base64", "fileData", "_ContentType", "_ApplicationId", "_JavaScriptKey", "_ClientKey",
                              "_RestAPIKey", "_MasterKey", "_SessionToken", "_InstallationId", "_ClientVersion",
                              "_context", "_method", "_RevocableSession"})
_JSON_TYPES = frozenset({None, "text/plain", "application/json"})
_JSON_SLACK = 64 * 1024  # room for fileData and credentials next to the base64 text


class Upload(msgspec.Struct):
    credentials: Credentials
    declared_type: str | None
    chunks: AsyncIterator[bytes]
    size: int | None  # known in advance: a Content-Length, or the decoded length of a JSON body
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: dict[str, Any] = msgspec.field(default_factory=dict)


async def read_upload(request: Request, max_bytes: int) -> Upload:
    credentials = header_credentials(request.headers)
    declared = request.headers.get("content-type")
    length = _content_length(request)
    stream = request.stream().__aiter__()
    if credentials.app_id is not None and bare_type(declared) not in _JSON_TYPES:
        return _raw(request, credentials, declared, stream, length)
    first = await _first_chunk(stream)
    if credentials.app_id is not None and not first.lstrip().startswith(b"{"):
        return _raw(request, credentials, declared, _chained(first, stream), length)
    json_limit = 4 * ((max_bytes + 2) // 3) + _JSON_SLACK
    if length is not None and length > json_limit:
        raise FileTooLarge(max_bytes)
    raw = await _rest(first, stream, json_limit, max_bytes)
    body = await asyncio.to_thread(_decode_object, raw)
    if body is None or not isinstance(body.get("base64"), str) or not set(body) <= _JSON_SHAPE_KEYS:
        if credentials.app_id is None:
            raise Unauthorized()  # as Parse: no app id in a header, and the body does not name one
        return Upload(credentials, declared, _chained(raw, _nothing()), len(raw))  # a file that looks like JSON
    if credentials.app_id is None and "_ApplicationId" not in body:
        raise Unauthorized()
    content_type = body.get("_ContentType")
    take_body_credentials(body, credentials)
    data = await asyncio.to_thread(_decode_base64, body["base64"])
    file_data = body.get("fileData") if isinstance(body.get("fileData"), dict) else {}
    return Upload(credentials, content_type if isinstance(content_type, str) else declared,
                  _chained(data, _nothing()), len(data), _object(file_data.get("metadata")),
                  _object(file_data.get("tags")))


def _raw(request: Request, credentials: Credentials, declared: str | None, chunks: AsyncIterator[bytes],
         length: int | None) -> Upload:
    headers = request.headers
    return Upload(credentials, declared, chunks, length, _header_object(headers.get("x-parse-file-metadata")),
                  _header_object(headers.get("x-parse-file-tags")))


def _header_object(value: str | None) -> dict[str, Any]:
    return _object(_decode_object(value.encode())) if value else {}


def _content_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _first_chunk(stream: AsyncIterator[bytes]) -> bytes:
    async for chunk in stream:
        if chunk:
            return chunk
    return b""


async def _rest(first: bytes, stream: AsyncIterator[bytes], limit: int, max_bytes: int) -> bytes:
    parts, size = [first], len(first)
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(max_bytes)
        parts.append(chunk)
    return b"".join(parts)


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _decode_object(raw: bytes) -> dict[str, Any] | None:
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _decode_base64(text: str) -> bytes:
    """Lenient as Node's Buffer.from(text, "base64"): a data-URL prefix, whitespace and missing padding pass."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = "".join(text.split())
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
    except (binascii.Error, ValueError):
        raise ParseError(ErrorCode.FILE_SAVE_ERROR, "Invalid file upload.") from None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
