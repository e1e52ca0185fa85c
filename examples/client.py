"""A small Parse client for the examples' seeds, demos and benchmarks: REST over httpx, LiveQuery over websockets.

It speaks the public protocol only (Parse's headers, JSON bodies, the LiveQuery frames), exactly as the SDKs do,
so what an example does through it any client could do. Every wait is bounded.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


class ParseFailure(Exception):
    """A Parse error answer: `code` and `error` as the server sent them, and the HTTP status."""

    def __init__(self, status: int, code: int | None, error: str) -> None:
        super().__init__(f"{status} {code}: {error}")
        self.status = status
        self.code = code
        self.error = error


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def date(value: datetime) -> dict[str, str]:
    """A Parse Date value (UTC, millisecond precision, as Parse stores it)."""
    utc = value.astimezone(timezone.utc)
    return {"__type": "Date", "iso": utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"}


def days_from_now(days: float, hour: int = 9, minute: int = 0) -> datetime:
    """A time `days` ahead of today at hour:minute UTC: seeds and demos stay in the future whenever they run."""
    day = datetime.now(timezone.utc) + timedelta(days=days)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


class ParseClient:
    """REST calls as one app: `session=` acts as a logged-in user, `master=True` uses the master key."""

    def __init__(self, server_url: str, app_id: str, *, master_key: str | None = None,
                 javascript_key: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self.server_url = server_url.rstrip("/")
        self.app_id = app_id
        self.master_key = master_key
        self.javascript_key = javascript_key
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout,
                                       limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))

    async def __aenter__(self) -> ParseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def live_url(self) -> str:
        return self.server_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    def headers(self, *, session: str | None = None, master: bool = False) -> dict[str, str]:
        headers = {"X-Parse-Application-Id": self.app_id, "Content-Type": "application/json"}
        if self.javascript_key:
            headers["X-Parse-Javascript-Key"] = self.javascript_key
        if master:
            if not self.master_key:
                raise ValueError("this client has no master key")
            headers["X-Parse-Master-Key"] = self.master_key
        if session:
            headers["X-Parse-Session-Token"] = session
        return headers

    async def request(self, method: str, path: str, body: Any = None, *, session: str | None = None,
                      master: bool = False, params: dict[str, Any] | None = None) -> Any:
        """The decoded answer; raises ParseFailure for an error answer."""
        query = {key: value if isinstance(value, str) else json.dumps(value) for key, value in (params or {}).items()}
        reply = await self._http.request(method, self.server_url + path, params=query,
                                         content=None if body is None else json.dumps(body),
                                         headers=self.headers(session=session, master=master))
        payload = reply.json() if reply.content else {}
        if reply.status_code >= 400:
            raise ParseFailure(reply.status_code, payload.get("code"), str(payload.get("error", payload)))
        return payload

    # --- users ----------------------------------------------------------------------------------------------
    async def sign_up(self, username: str, password: str, **fields: Any) -> dict[str, Any]:
        """The new user's `objectId` and `sessionToken`."""
        return await self.request("POST", "/users", {"username": username, "password": password, **fields})

    async def log_in(self, username: str, password: str) -> dict[str, Any]:
        return await self.request("POST", "/login", {"username": username, "password": password})

    async def log_out(self, session: str) -> None:
        await self.request("POST", "/logout", {}, session=session)

    # --- objects --------------------------------------------------------------------------------------------
    async def create(self, class_name: str, body: dict[str, Any], **auth: Any) -> dict[str, Any]:
        return await self.request("POST", f"/classes/{class_name}", body, **auth)

    async def update(self, class_name: str, object_id: str, body: dict[str, Any], **auth: Any) -> dict[str, Any]:
        return await self.request("PUT", f"/classes/{class_name}/{object_id}", body, **auth)

    async def delete(self, class_name: str, object_id: str, **auth: Any) -> None:
        await self.request("DELETE", f"/classes/{class_name}/{object_id}", **auth)

    async def get(self, class_name: str, object_id: str, **auth: Any) -> dict[str, Any]:
        return await self.request("GET", f"/classes/{class_name}/{object_id}", **auth)

    async def find(self, class_name: str, where: dict[str, Any] | None = None, *, order: str | None = None,
                   limit: int | None = None, **auth: Any) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"where": where or {}}
        if order:
            params["order"] = order
        if limit is not None:
            params["limit"] = str(limit)
        return (await self.request("GET", f"/classes/{class_name}", params=params, **auth))["results"]

    async def run(self, function: str, params: dict[str, Any] | None = None, **auth: Any) -> Any:
        return (await self.request("POST", f"/functions/{function}", params or {}, **auth))["result"]

    async def live(self, session: str | None = None) -> LiveSubscriber:
        """A LiveQuery socket, connected (as the user of `session`, if given)."""
        socket = await connect(self.live_url, open_timeout=10)
        subscriber = LiveSubscriber(socket)
        connect_frame: dict[str, Any] = {"op": "connect", "applicationId": self.app_id}
        if self.javascript_key:
            connect_frame["javascriptKey"] = self.javascript_key
        if session:
            connect_frame["sessionToken"] = session
        await subscriber.send(connect_frame)
        answer = await subscriber.receive()
        if answer.get("op") != "connected":
            await socket.close()
            raise ParseFailure(0, answer.get("code"), str(answer.get("error", answer)))
        return subscriber


class LiveSubscriber:
    """One LiveQuery socket: subscribe to queries, then read the events as they arrive."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self._next_request_id = 1

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(frame))

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def subscribe(self, class_name: str, where: dict[str, Any] | None = None) -> int:
        """Subscribe and wait for the server's `subscribed`; returns the request id events will carry."""
        request_id, self._next_request_id = self._next_request_id, self._next_request_id + 1
        await self.send({"op": "subscribe", "requestId": request_id,
                         "query": {"className": class_name, "where": where or {}}})
        answer = await self.receive()
        if answer.get("op") != "subscribed":
            raise ParseFailure(0, answer.get("code"), str(answer.get("error", answer)))
        return request_id

    async def events(self, quiet_seconds: float = 0.5) -> list[dict[str, Any]]:
        """Every frame that arrives until none has for `quiet_seconds`."""
        frames = []
        while True:
            try:
                frames.append(await self.receive(timeout=quiet_seconds))
            except asyncio.TimeoutError:
                return frames

    async def events_until(self, done: Any, timeout: float) -> list[dict[str, Any]]:
        """Every frame that arrives until one for which `done(frame)` is true (or `timeout` seconds pass)."""
        frames: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while not frames or not done(frames[-1]):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                frames.append(await self.receive(timeout=left))
            except asyncio.TimeoutError:
                break
        return frames

    async def close(self) -> None:
        await self.socket.close()
