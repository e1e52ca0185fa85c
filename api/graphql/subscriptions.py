"""GraphQL subscriptions over the standard `graphql-transport-ws` protocol, fed by the LiveQuery engine.

`subscription { <classes>(where: ...) { event node { ... } original { ... } } }` delivers create, enter,
update, leave and delete. Each socket is a client of the LiveQuery hub of its own, spoken to in the LiveQuery
protocol (`LiveSession`): the keys, the session (re-resolved after a log-out or role change), ACL, CLP,
protectedFields and the bounded outbox are the hub's, exactly as for a Parse LiveQuery socket. Queries and
mutations sent on the socket run once, as over HTTP.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from graphql import (
    ExecutionResult,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    OperationType,
    get_operation_ast,
    subscribe,
)
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.graphql.classes import ClassTypes
from api.graphql.context import PointerLoader, RequestContext, tagged
from api.graphql.endpoint import RequestFailed, error_json, execute_operation, result_body
from api.graphql.names import field_name, pluralize
from api.graphql.transform import where_to_rest
from api.request import Credentials, header_credentials
from livequery.hub import Hub
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.graphql.endpoint import GraphQLEndpoint

log = logging.getLogger(__name__)

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0
_EVENTS = ("create", "enter", "update", "leave", "delete")
_END = object()  # queued when a subscription can deliver no more (socket closed, hub dropped the client)
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class LiveSession:
    """One socket's client of the LiveQuery hub. `run` writes the hub's frames to the subscriptions' queues."""

    def __init__(self, hub: Hub, credentials: Credentials, queue_size: int) -> None:
        self._credentials = credentials
        self._queue_size = queue_size
        self._handle = hub.connect(self._on_frame)
        self._connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._queues: dict[int, asyncio.Queue[Any]] = {}
        self._next_id = 0

    async def run(self) -> None:
        await self._handle.pump()
        self._end_all()

    async def connect(self) -> None:
        """Present the socket's keys and session to the hub; ParseError when it refuses them."""
        c = self._credentials
        frame = {"op": "connect", "applicationId": c.app_id or "", "masterKey": c.master_key,
                 "javascriptKey": c.client_key, "restAPIKey": c.client_key, "clientKey": c.client_key,
                 "sessionToken": c.session_token, "installationId": c.installation_id}
        await self._handle.receive(_encode({k: v for k, v in frame.items() if v is not None}))
        await asyncio.wait_for(self._connected, INIT_TIMEOUT)

    async def subscribe(self, class_name: str, where: dict[str, Any]) -> tuple[int, asyncio.Queue[Any]]:
        self._next_id += 1
        request_id = self._next_id
        self._pending[request_id] = asyncio.get_running_loop().create_future()
        self._queues[request_id] = asyncio.Queue(self._queue_size)
        frame = {"op": "subscribe", "requestId": request_id, "query": {"className": class_name, "where": where}}
        if self._credentials.session_token:
            frame["sessionToken"] = self._credentials.session_token
        await self._handle.receive(_encode(frame))
        try:
            await asyncio.wait_for(self._pending[request_id], INIT_TIMEOUT)
        except BaseException:
            self._queues.pop(request_id, None)
            raise
        finally:
            self._pending.pop(request_id, None)
        return request_id, self._queues[request_id]

    async def unsubscribe(self, request_id: int) -> None:
        if self._queues.pop(request_id, None) is not None and not self._handle.closed:
            await self._handle.receive(_encode({"op": "unsubscribe", "requestId": request_id}))

    def close(self) -> None:
        self._handle.close()
        self._end_all()

    async def _on_frame(self, frame: bytes) -> None:
        message = _decode(frame)
        op, request_id = message.get("op"), message.get("requestId")
        if op == "connected":
            if not self._connected.done():
                self._connected.set_result(None)
        elif op == "subscribed":
            pending = self._pending.get(request_id)
            if pending is not None and not pending.done():
                pending.set_result(None)
        elif op == "error":
            error = ParseError(int(message.get("code", ErrorCode.INTERNAL_SERVER_ERROR)), str(message.get("error")))
            waiting = self._pending.get(request_id) if request_id is not None else self._connected
            if waiting is not None and not waiting.done():
                waiting.set_exception(error)
        elif op in _EVENTS:
            queue = self._queues.get(request_id)
            if queue is not None:
                try:
                    queue.put_nowait(message)
                except asyncio.QueueFull:  # the GraphQL side fell behind: end this socket, as the hub would
                    log.warning("GraphQL subscriber is too slow: closing it")
                    self.close()

    def _end_all(self) -> None:
        for queue in self._queues.values():
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_END)


def subscription_fields(registry: dict[str, ClassTypes]) -> dict[str, GraphQLField]:
    """`<classes>(where:)` per class, answering `<T>LiveEvent {event, node, original}`."""
    kind = GraphQLEnumType("LiveEventKind", {name: name for name in _EVENTS})
    fields: dict[str, GraphQLField] = {}
    for class_name, types in registry.items():
        name = pluralize(field_name(class_name))
        if name == field_name(class_name):
            continue
        event_type = GraphQLObjectType(f"{types.name}LiveEvent", {
            "event": GraphQLField(GraphQLNonNull(kind)), "node": GraphQLField(GraphQLNonNull(types.output)),
            "original": GraphQLField(types.output)})
        fields[name] = GraphQLField(GraphQLNonNull(event_type), args={"where": GraphQLArgument(types.where)},
                                    subscribe=_subscriber(class_name), resolve=_fresh_loader)
    return fields


def _fresh_loader(payload: dict[str, Any], info: GraphQLResolveInfo, **_args: Any) -> dict[str, Any]:
    context: RequestContext = info.context  # pointers are read anew for every event
    context.loader = PointerLoader(context.services, context.principal)
    return payload


def _subscriber(class_name: str):
    async def subscribe_field(_root: Any, info: GraphQLResolveInfo, where: Any = None) -> AsyncIterator[Any]:
        context: RequestContext = info.context
        live: LiveSession = context.live
        request_id, queue = await live.subscribe(class_name, where_to_rest(where, class_name, context.schemas))
        return _events(live, request_id, queue, class_name)

    return subscribe_field


async def _events(live: LiveSession, request_id: int, queue: asyncio.Queue[Any],
                  class_name: str) -> AsyncIterator[dict[str, Any]]:
    try:
        while True:
            message = await queue.get()
            if message is _END:
                return
            original = message.get("original")
            yield {"event": message["op"], "node": tagged(message["object"], class_name),
                   "original": tagged(original, class_name) if original is not None else None}
    finally:
        await live.unsubscribe(request_id)


class GraphQLSocket:
    """One graphql-transport-ws connection: `connection_init` (credentials as headers in its payload, or on the
    upgrade request), then `subscribe`/`complete` by operation id, `ping`/`pong`."""

    def __init__(self, websocket: WebSocket, endpoint: GraphQLEndpoint, hub: Hub) -> None:
        self._ws = websocket
        self._endpoint = endpoint
        self._hub = hub
        self._send_lock = asyncio.Lock()
        self._operations: dict[str, asyncio.Task[None]] = {}

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._ws.send_text(_encode(message).decode())

    async def serve(self) -> None:
        await self._ws.accept(subprotocol=PROTOCOL)
        try:
            init = await asyncio.wait_for(self._receive(), INIT_TIMEOUT)
        except TimeoutError:
            return await self._ws.close(4408, "Connection initialisation timeout")
        if init is None:
            return None
        if init.get("type") != "connection_init":
            return await self._ws.close(4401, "Unauthorized")
        payload = init.get("payload") if isinstance(init.get("payload"), dict) else {}
        headers = {**{k.lower(): v for k, v in self._ws.headers.items()},
                   **{str(k).lower(): v for k, v in payload.items() if isinstance(v, str)}}
        credentials = header_credentials(headers)
        try:
            principal = await self._endpoint.principal(credentials)
        except RequestFailed:
            return await self._ws.close(4403, "Forbidden")
        live = LiveSession(self._hub, credentials, self._endpoint.settings.client_queue_frames)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(live.run())
            try:
                await live.connect()
            except (ParseError, TimeoutError):
                live.close()
                return await self._ws.close(4403, "Forbidden")
            await self.send({"type": "connection_ack"})
            try:
                await self._read_loop(tasks, live, principal, credentials)
            finally:
                for task in self._operations.values():
                    task.cancel()
                live.close()
        return None

    async def _read_loop(self, tasks: asyncio.TaskGroup, live: LiveSession, principal: Any,
                         credentials: Credentials) -> None:
        while True:
            message = await self._receive()
            if message is None:
                return
            kind, op_id = message.get("type"), message.get("id")
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "subscribe" and isinstance(op_id, str) and isinstance(message.get("payload"), dict):
                if op_id in self._operations:
                    return await self._ws.close(4409, f"Subscriber for {op_id} already exists")
                self._operations[op_id] = tasks.create_task(
                    self._operate(op_id, message["payload"], live, principal, credentials))
            elif kind == "complete" and isinstance(op_id, str):
                task = self._operations.pop(op_id, None)
                if task is not None:
                    task.cancel()
            elif kind == "connection_init":
                return await self._ws.close(4429, "Too many initialisation requests")
            else:
                return await self._ws.close(4400, "Invalid message received")

    async def _receive(self) -> dict[str, Any] | None:
        try:
            text = await self._ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return None
        try:
            message = _decode(text)
        except msgspec.DecodeError:
            message = None
        if not isinstance(message, dict):
            await self._ws.close(4400, "Invalid message received")
            return None
        return message

    async def _operate(self, op_id: str, payload: dict[str, Any], live: LiveSession, principal: Any,
                       credentials: Credentials) -> None:
        try:
            await self._run(op_id, payload, live, principal, credentials)
        except asyncio.CancelledError:
            raise
        except RequestFailed as failure:
            await self._quietly({"type": "error", "id": op_id, "payload": failure.errors})
        except Exception:
            log.exception("GraphQL subscription %s failed", op_id)
            await self._quietly({"type": "error", "id": op_id, "payload": [
                {"message": "Internal server error.", "extensions": {"code": int(ErrorCode.INTERNAL_SERVER_ERROR)}}]})
        finally:
            self._operations.pop(op_id, None)

    async def _quietly(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the socket may be gone already
            await self.send(message)

    async def _run(self, op_id: str, payload: dict[str, Any], live: LiveSession, principal: Any,
                   credentials: Credentials) -> None:
        query, variables = payload.get("query"), payload.get("variables")
        operation_name = payload.get("operationName") if isinstance(payload.get("operationName"), str) else None
        if not isinstance(query, str) or (variables is not None and not isinstance(variables, dict)):
            raise RequestFailed(400, "A subscribe payload needs a `query` string.", "BAD_REQUEST")
        built = self._endpoint.schemas.current()
        document = self._endpoint.prepare(built, query, principal)
        context = RequestContext(self._endpoint.services, principal, credentials, built.classes)
        context.live = live
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.SUBSCRIPTION:
            _status, body = await execute_operation(built, document, context, variables, operation_name)
            await self._deliver(op_id, body)
            return
        stream = await subscribe(built.schema, document, context_value=context, variable_values=variables,
                                 operation_name=operation_name)
        if isinstance(stream, ExecutionResult):
            await self.send({"type": "error", "id": op_id,
                             "payload": [error_json(e) for e in stream.errors or ()]})
            return
        try:
            async for result in stream:
                await self.send({"type": "next", "id": op_id, "payload": result_body(result)[1]})
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        await self._quietly({"type": "complete", "id": op_id})

    async def _deliver(self, op_id: str, body: dict[str, Any]) -> None:
        await self.send({"type": "next", "id": op_id, "payload": body})
        await self.send({"type": "complete", "id": op_id})


async def serve_socket(websocket: WebSocket, endpoint: GraphQLEndpoint, hub: Hub) -> None:
    if PROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(4406, "Subprotocol not acceptable")
        return
    await GraphQLSocket(websocket, endpoint, hub).serve()
