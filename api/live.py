"""LiveQuery over websockets: the hub built from settings and auth's rules, and the endpoint feeding it."""
from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers

from api import permissions
from api.output import file_fields_of, with_file_urls
from api.queries import QueryService
from api.settings import Settings
from auth import clp as clp_rules
from auth.principal import Principal
from auth.sessions import SessionStore, is_own_session
from livequery.bus import SharedDepartures
from livequery.connection import ConfiguredKeys
from livequery.hooks import LiveHooks
from livequery.history import History
from livequery.hub import ClientHandle, Hub
from livequery.reads import Reading
from livequery.resume import AckPings, Resumes, ack_payload, acked_position
from livequery.snapshot import MAX_SNAPSHOT
from storage.errors import ParseError
from storage.query import Field, In, Node, conjoin, parse_where
from storage.schema_cache import SchemaCache

log = logging.getLogger(__name__)


class RestReads:
    """LiveQuery's reads (livequery/reads.py) made by the REST read path: CLP, pointer permissions and the ACL
    exactly as a REST find applies them, and cloud code's before_find on included classes as REST `include`."""

    def __init__(self, settings: Settings, queries: QueryService) -> None:
        self._settings = settings
        self._queries = queries

    async def find(self, principal: Principal, class_name: str, reading: Reading) -> list[dict[str, Any]]:
        permissions.check_system_class(principal, class_name, "find")
        settings = self._settings
        limit = min(settings.default_limit if reading.limit is None else reading.limit,
                    settings.max_limit or MAX_SNAPSHOT, MAX_SNAPSHOT)
        if limit <= 0:
            return []
        where = parse_where(reading.where or {}, internal=principal.is_master)
        return await self._queries.fetch(principal, class_name, where, limit=limit, order=reading.order)

    async def get_many(self, principal: Principal, class_name: str,
                       object_ids: Sequence[str]) -> list[dict[str, Any]]:
        permissions.check_system_class(principal, class_name, "find")
        wanted: Node = Field(("objectId",), (In(tuple(object_ids)),))
        scope = self._queries.include_scope
        if scope is not None:
            extra = await scope(principal, class_name)
            if extra is not None:
                wanted = conjoin(wanted, extra)
        return await self._queries.fetch(principal, class_name, wanted, limit=len(object_ids))


def build_hub(settings: Settings, schemas: SchemaCache, sessions: SessionStore,
              hooks: LiveHooks | None = None, coalesce_ms: dict[str, float] | None = None,
              history: History | None = None, reads: RestReads | None = None,
              departures: SharedDepartures | None = None) -> Hub:
    async def resolve_session(token: str) -> Principal | None:
        try:
            return await sessions.resolve(token)
        except ParseError:
            return None  # as Parse: a bad token is not refused, it just grants nothing

    def can_see(principal: Principal, class_name: str, document: dict[str, Any]) -> bool:
        """The class's `find` permission, pointer permissions included (the ACL is checked by the hub); a
        `_Session` only to its own user, as on REST."""
        if class_name == "_Session" and not is_own_session(principal, document):
            return False
        schema = schemas.cached(class_name)
        if schema is None:
            return True
        try:
            rule = clp_rules.check_operation(schema.clp, class_name, "find", principal)
        except ParseError:
            return False
        if rule is None:
            return True
        return rule.user_id is not None and any(
            clp_rules.points_to_user(document.get(name), rule.user_id) for name in rule.fields)

    def visible_fields(principal: Principal, class_name: str, document: dict[str, Any]) -> dict[str, Any]:
        schema = schemas.cached(class_name)  # none cached yet: the default rules (a `_User` email) still hold
        hidden = clp_rules.protected_fields(schema.clp if schema is not None else None, class_name, principal,
                                            document)
        visible = {k: v for k, v in document.items() if k not in hidden} if hidden else document
        if schema is None:
            return visible
        files = file_fields_of(schema)
        return with_file_urls(visible, settings.files_url, files) if files else visible

    def authorize(principal: Principal, class_name: str, where: Mapping[str, Any] | None,
                  watch: tuple[str, ...] | None) -> None:
        """A subscription is a standing `find`: refused as REST refuses the same find (101/119), and its `where`
        and `watch` may read only the keys a REST query may."""
        permissions.check_system_class(principal, class_name, "find")
        schema = schemas.cached(class_name)
        permissions.check_class_operation(schema, "find", principal)
        permissions.check_query_fields(schema, principal, parse_where(where or {}))
        if watch:
            permissions.check_readable_keys(schema, principal, (name.split(".")[0] for name in watch))

    keys = ConfiguredKeys(settings.app_id, master_key=settings.master_key, client_keys={
        "javascriptKey": settings.javascript_key or "", "restAPIKey": settings.rest_api_key or "",
        "clientKey": settings.client_key or ""})
    live = None if settings.live_classes is None else frozenset(settings.live_classes)
    # cloud code's live_query_options, then --coalesce, which wins for a class it names (0: off)
    coalesce_ms = {**(coalesce_ms or {}), **dict(settings.coalesce)}
    coalesce_ms = {class_name: window for class_name, window in coalesce_ms.items() if window > 0}
    return Hub(check_keys=keys, resolve_session=resolve_session, live_classes=live, can_see=can_see,
               visible_fields=visible_fields, outbox_size=settings.client_queue_frames, authorize=authorize,
               hooks=hooks, budget_bytes=settings.client_buffer_bytes,
               max_subscriptions=settings.max_subscriptions_per_client, coalesce_ms=coalesce_ms,
               history=history, reads=reads,
               resumes=None if history is None else Resumes(history, shared=departures))


CLOSE_TIMEOUT_SECONDS = 2.0


async def live_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.services.hub
    await websocket.accept()
    socket = _Socket(websocket, _sansio_protocol(websocket))
    protocol, transport = socket.protocol, socket.transport
    if protocol is not None:
        _drop_handshake(protocol)
    direct = protocol is not None and transport is not None
    handle = socket.handle = hub.connect(socket.send, socket.buffered if direct else None,
                                         socket.write if direct else None)
    acks: AckPings = websocket.app.state.services.acks
    if hub.resumes is not None and socket.listen_for_pongs():
        acks.add(handle, socket.ping)
    try:
        close = await handle.serve(_frames(websocket))
    except WebSocketDisconnect:
        return
    finally:
        acks.remove(handle)
        handle.close()
    try:
        # a peer that stopped reading never takes the close frame: give up on it and drop the connection
        await asyncio.wait_for(websocket.close(close.code, close.reason), CLOSE_TIMEOUT_SECONDS)
    except (RuntimeError, WebSocketDisconnect):
        pass  # the peer is already gone
    except TimeoutError:
        if transport is not None:
            transport.abort()


_NO_HEADERS = Headers()  # shared by every socket's spent handshake request; never written to


def _drop_handshake(protocol: WebSocketsSansIOProtocol) -> None:
    """Let go of the handshake's request and response, which uvicorn reads only during the handshake. websockets'
    parser keeps the request for the socket's life all the same (a local of its suspended generator), so its
    headers go too: their text, a list per header and their dict and list, ~15 objects and 1.5 KB (a browser's
    cookies: several KB) a socket that every full garbage collection would walk. The ASGI scope has its own copy
    of them."""
    request = protocol.request
    if request is not None:
        request.headers = _NO_HEADERS
    protocol.request = protocol.response = None  # type: ignore[assignment]


async def _frames(websocket: WebSocket) -> AsyncIterator[str | bytes]:
    """The client's frames, text or binary (the protocol takes binary frames holding UTF-8 JSON too)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        yield text if text is not None else message.get("bytes") or b""


def _sansio_protocol(websocket: WebSocket) -> WebSocketsSansIOProtocol | None:
    """uvicorn's websocket protocol object under this socket (we serve with ws="websockets-sansio"), or None when
    served otherwise (then frames take the ASGI path). ASGI does not expose it: the `send` callable starlette holds
    is the protocol's bound method, possibly wrapped by middleware closures."""
    seen: list[object] = [getattr(websocket, "_send", None)]
    for candidate in seen:  # a breadth-first walk through a few wrapper closures
        if len(seen) > 16:
            break
        owner = getattr(candidate, "__self__", None)
        if isinstance(owner, WebSocketsSansIOProtocol):
            return owner
        for cell in getattr(candidate, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(content):
                seen.append(content)
    return None


class _Socket:
    """One LiveQuery socket as the endpoint drives it: frames sent through ASGI (`send`) or, under uvicorn's
    websockets-sansio protocol (`livequery serve` runs it), written straight to its transport (`write`), its
    transport's buffered bytes, and the acknowledgement pings of resumes (livequery/resume.py).

    The hub keeps these bound methods for the socket's life. They were closures once: a function and a cell per
    variable each, ~15 objects a socket that every full garbage collection walks, for each of tens of thousands of
    idle sockets."""

    __slots__ = ("handle", "protocol", "transport", "websocket")

    def __init__(self, websocket: WebSocket, protocol: WebSocketsSansIOProtocol | None) -> None:
        self.websocket = websocket
        self.protocol = protocol
        self.transport: Any = getattr(protocol, "transport", None)
        self.handle: ClientHandle | None = None

    async def send(self, frame: bytes) -> None:
        await self.websocket.send_text(frame.decode())  # the SDKs read text frames only

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def write(self, frames: list[bytes]) -> bool:
        """Writes LiveQuery text frames straight to the transport: no ASGI message, no await, one write for all
        the frames a client got in one loop iteration. The bytes are what the websockets library would write for
        them (server frames are unmasked, FIN set, uncompressed); uvicorn's own writes (pings, pongs, the close)
        are whole frames too, so they never interleave inside one."""
        protocol: Any = self.protocol
        transport = self.transport
        if protocol.close_sent or protocol.disconnected or transport.is_closing():
            return False
        if len(frames) == 1:
            frame = frames[0]
            transport.write(_text_header(len(frame)) + frame)
        else:
            transport.write(b"".join([part for frame in frames for part in (_text_header(len(frame)), frame)]))
        return True

    def listen_for_pongs(self) -> bool:
        """Take the socket's pongs, those answering our pings (`ping`) acknowledging a position; False when the
        server's websocket implementation does not let us ping (ASGI has none: this is uvicorn's websockets-sansio
        protocol, whose `conn` is a python-websockets protocol)."""
        protocol = self.protocol
        conn = getattr(protocol, "conn", None)
        if (not hasattr(conn, "send_ping") or not hasattr(conn, "data_to_send")
                or not hasattr(protocol, "handle_pong") or self.transport is None):
            return False
        protocol.handle_pong = self.handle_pong  # type: ignore[method-assign, union-attr]
        return True

    def handle_pong(self, event: Any) -> None:
        position = acked_position(bytes(event.data))
        if position is None:
            type(self.protocol).handle_pong(self.protocol, event)  # uvicorn's own keep-alive ping
        elif self.handle is not None:
            self.handle.acknowledge(position)

    def ping(self, position: int) -> None:
        """Ask the client to acknowledge `position`: a websocket ping, which it answers after reading every frame
        before it."""
        protocol: Any = self.protocol
        transport = self.transport
        if transport.is_closing() or getattr(protocol, "close_sent", False):
            return
        conn = protocol.conn
        conn.send_ping(ack_payload(position))
        transport.write(b"".join(conn.data_to_send()))


def _text_header(length: int) -> bytes:
    """The header of an unmasked final text frame of `length` payload bytes (RFC 6455 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)
