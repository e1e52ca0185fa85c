"""The LiveQuery wire format (PARSE_PROTOCOL 6.2/6.3): client messages decoded and validated, server frames encoded.

Lenient where old SDKs need it: unknown extra fields are ignored, `null` optional values mean absent, and the
pre-PS7 `fields` is accepted as `keys`. A frame that is not a JSON object (not JSON, not UTF-8, nested too deep)
is a ProtocolError: the client gets an `error` frame and the socket stays open.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any

import msgspec

from storage.errors import ParseError
from storage.limits import MAX_JSON_DEPTH, check_decoded_depth


class LiveQueryErrorCode(IntEnum):
    """Codes of LiveQuery `error` frames (Parse's REST codes such as 209 are used as well)."""

    INVALID_MESSAGE = 1  # schema validation failed
    NOT_CONNECTED = 2  # subscribe/unsubscribe before connect; unknown requestId
    UNKNOWN_OPERATION = 3
    INVALID_KEYS = 4  # connect keys do not match
    HISTORY_LOST = 4100  # ours: a resumed subscription missed events that are no longer kept (livequery/resume.py)


class ProtocolError(Exception):
    """A message the server answers with an `error` frame (`reconnect: true`, no requestId)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message


# --- client -> server ----------------------------------------------------------------------------------------

class Connect(msgspec.Struct, kw_only=True):
    applicationId: str
    javascriptKey: str | None = None
    clientKey: str | None = None
    restAPIKey: str | None = None
    windowsKey: str | None = None
    masterKey: str | None = None
    sessionToken: str | None = None
    installationId: str | None = None


class QuerySpec(msgspec.Struct, kw_only=True):
    className: str
    where: dict[str, Any] | None = None
    keys: list[str] | None = None
    fields: list[str] | None = None  # the pre-PS7 name of `keys`
    watch: list[str] | None = None
    # our extensions (unknown to Parse's server, which ignores them): livequery/include.py, livequery/snapshot.py
    include: list[str] | str | None = None
    limit: int | None = None  # of the snapshot
    order: str | None = None  # of the snapshot, as REST's `order`

    def selected_keys(self) -> tuple[str, ...] | None:
        chosen = self.keys if self.keys is not None else self.fields
        return None if chosen is None else tuple(chosen)

    def watched(self) -> tuple[str, ...] | None:
        return None if self.watch is None else tuple(self.watch)


class Subscribe(msgspec.Struct, kw_only=True):
    requestId: int
    query: QuerySpec
    sessionToken: str | None = None
    # Our extension (Parse Server ignores unknown fields): resume from a position token; present at all (even
    # null), event frames carry their position.
    resumeFrom: str | None | msgspec.UnsetType = msgspec.UNSET
    snapshot: bool = False  # our extension: send the matching objects first (livequery/snapshot.py)


class Update(Subscribe, kw_only=True):
    """Replaces the subscription with the same requestId; answered with `subscribed`."""


class Unsubscribe(msgspec.Struct, kw_only=True):
    requestId: int


class QueryRequest(msgspec.Struct, kw_only=True):
    """`op: query` (the JS SDK's `subscription.find()`): the subscription's snapshot, answered by `result`."""

    requestId: int


ClientMessage = Connect | Subscribe | Update | Unsubscribe | QueryRequest

_MESSAGE_TYPES: dict[str, type[ClientMessage]] = {
    "connect": Connect, "subscribe": Subscribe, "update": Update, "unsubscribe": Unsubscribe,
    "query": QueryRequest,
}


def decode_message(data: str | bytes) -> ClientMessage:
    """One client frame (text, or binary holding UTF-8 JSON) as a message. Raises ProtocolError for a bad one."""
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, "Invalid message: not UTF-8 JSON") from None
    except RecursionError:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE,
                            f"Invalid message: nested deeper than {MAX_JSON_DEPTH} levels") from None
    try:
        check_decoded_depth(data, raw, "The message")
    except ParseError as exc:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, exc.message) from None
    if not isinstance(raw, dict):
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, "Invalid type: expected object")
    op = raw.get("op")
    message_type = _MESSAGE_TYPES.get(op) if isinstance(op, str) else None
    if message_type is None:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, f"No enum match for: {op!r} at op")
    try:
        message = msgspec.convert(raw, message_type, strict=True)
    except msgspec.ValidationError as exc:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, str(exc)) from None
    if isinstance(message, Subscribe):
        spec = message.query
        for name in ("keys", "fields", "watch"):
            _check_field_list(name, getattr(spec, name))
        if spec.limit is not None and spec.limit < 0:
            raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, "query.limit must not be negative")
    return message


def _check_field_list(name: str, values: list[str] | None) -> None:
    if values is None:
        return
    if not values:
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, f"Array is too short (0), minimum 1 at query.{name}")
    if len(set(values)) != len(values):
        raise ProtocolError(LiveQueryErrorCode.INVALID_MESSAGE, f"Array items are not unique at query.{name}")


# --- server -> client ----------------------------------------------------------------------------------------

class _Connected(msgspec.Struct, tag_field="op", tag="connected", omit_defaults=True, kw_only=True):
    clientId: str
    installationId: str | None = None


class _Subscribed(msgspec.Struct, tag_field="op", tag="subscribed", omit_defaults=True, kw_only=True):
    clientId: str
    installationId: str | None = None
    requestId: int


class _Unsubscribed(_Subscribed, tag="unsubscribed", kw_only=True):
    pass


class _Error(msgspec.Struct, tag_field="op", tag="error", kw_only=True):
    code: int
    error: str
    reconnect: bool
    requestId: int | None = None


def connected_frame(client_id: str, installation_id: str | None) -> bytes:
    return msgspec.json.encode(_Connected(clientId=client_id, installationId=installation_id))


def subscribed_frame(client_id: str, installation_id: str | None, request_id: int) -> bytes:
    return msgspec.json.encode(_Subscribed(clientId=client_id, installationId=installation_id,
                                           requestId=request_id))


def unsubscribed_frame(client_id: str, installation_id: str | None, request_id: int) -> bytes:
    return msgspec.json.encode(_Unsubscribed(clientId=client_id, installationId=installation_id,
                                             requestId=request_id))


def error_frame(code: int, message: str, *, reconnect: bool, request_id: int | None = None) -> bytes:
    return msgspec.json.encode(_Error(code=int(code), error=message, reconnect=reconnect, requestId=request_id))


def event_ident(client_id: str, installation_id: str | None, request_id: int) -> bytes:
    """The per-client middle of every event frame: `"clientId":..,"installationId":..,"requestId":..`."""
    ident = b'"clientId":' + msgspec.json.encode(client_id)
    if installation_id is not None:
        ident += b',"installationId":' + msgspec.json.encode(installation_id)
    return ident + b',"requestId":' + msgspec.json.encode(request_id)


def event_frame(kind: str, ident: bytes, object_json: bytes, original_json: bytes | None = None) -> bytes:
    """An event frame around already-encoded objects: the objects are encoded once per event and audience, and
    only this small envelope is built per client."""
    head, tail = event_parts(kind, object_json, original_json)
    return b"".join((head, ident, tail))


def event_parts(kind: str, object_json: bytes, original_json: bytes | None = None) -> tuple[bytes, bytes]:
    """An event frame without its per-client middle (`event_ident`): `head + ident + tail` is the frame. The fan-out
    builds these once per event and audience, so a subscriber costs one join."""
    head = b'{"op":"' + kind.encode() + b'",'
    if original_json is None:
        return head, b"".join((b',"object":', object_json, b"}"))
    return head, b"".join((b',"object":', object_json, b',"original":', original_json, b"}"))
