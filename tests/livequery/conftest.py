"""A real server (uvicorn over loopback) for the LiveQuery endpoint tests, and a Parse websocket client.

`LIVEQUERY_TEST_STORE=mongodb` serves it from a MongoDB database of the test's own instead of SQLite.
"""
from __future__ import annotations

import asyncio
import json
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from api.app import create_app
from api.serving import uvicorn_config
from api.settings import Settings
from livequery.cloud import Cloud
from tests.storage.mongo_server import switched_database, switched_database_uri

APP_ID = "lq-app"
MASTER_KEY = "lq-master"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    def __init__(self, port: int, http: aiohttp.ClientSession, app: Any) -> None:
        self.port = port
        self.http = http
        self.app = app
        self.rest = f"http://127.0.0.1:{port}/parse"
        self.ws_url = f"ws://127.0.0.1:{port}/parse"

    async def call(self, method: str, path: str, body: Any = None, *, session: str | None = None,
                   master: bool = False) -> Any:
        headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
        if session:
            headers["X-Parse-Session-Token"] = session
        if master:
            headers["X-Parse-Master-Key"] = MASTER_KEY
        async with self.http.request(method, self.rest + path, headers=headers,
                                     data=json.dumps(body) if body is not None else None) as reply:
            payload = await reply.json()
            if reply.status >= 300:
                raise AssertionError(f"{method} {path} -> {reply.status} {payload}")
            return payload

    async def sign_up(self, username: str) -> dict[str, Any]:
        return await self.call("POST", "/users", {"username": username, "password": "pw"})

    async def client(self, **connect_fields: Any) -> "LiveClient":
        socket_ = await connect(self.ws_url, open_timeout=5)
        live = LiveClient(socket_)
        await live.send({"op": "connect", "applicationId": APP_ID, **connect_fields})
        return live


class LiveClient:
    """A plain websocket client speaking the LiveQuery protocol; every wait is bounded."""

    def __init__(self, socket_: ClientConnection) -> None:
        self.socket = socket_

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.socket.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def nothing_within(self, seconds: float = 0.3) -> bool:
        try:
            frame = await asyncio.wait_for(self.socket.recv(), seconds)
        except asyncio.TimeoutError:
            return True
        raise AssertionError(f"expected no frame, got {frame}")

    async def frames_before(self, fence_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every frame that arrives before the event of object `fence_id` (a write made after the ones under
        test, on a subscription that sees it): a fence, so "nothing else arrived" needs no waiting."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            if frame.get("object", {}).get("objectId") == fence_id:
                return frames
            frames.append(frame)

    async def subscribe(self, request_id: int, class_name: str, where: dict[str, Any], **extra: Any) -> dict:
        await self.send({"op": "subscribe", "requestId": request_id,
                         "query": {"className": class_name, "where": where, **extra.pop("query_extra", {})},
                         **extra})
        return await self.receive()

    async def close(self) -> None:
        await self.socket.close()


@pytest.fixture
def test_store(tmp_path: Path) -> Iterator[None]:
    """The store switch: under LIVEQUERY_TEST_STORE=mongodb, the test's database is dropped afterwards."""
    with switched_database(tmp_path):
        yield


@pytest.fixture
def live_cloud() -> Cloud | None:
    """The cloud code the live server runs; a test module overrides this fixture to give its own."""
    return None


def live_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(app_id=APP_ID, master_key=MASTER_KEY, data_dir=str(tmp_path),
                                  allow_client_class_creation=True, port=_free_port(),
                                  database_uri=switched_database_uri(tmp_path))
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def serving(settings: Settings, cloud: Cloud | None = None) -> AsyncIterator[LiveServer]:
    """The app under uvicorn on loopback (as `livequery serve` runs it) until the block ends."""
    app = create_app(settings, cloud)
    config = uvicorn_config(app, settings, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.025)
        assert server.started, "uvicorn did not start"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            yield LiveServer(settings.port, http, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def live_server(tmp_path: Path, test_store: None, live_cloud: Cloud | None) -> AsyncIterator[LiveServer]:
    async with serving(live_settings(tmp_path), live_cloud) as server:
        yield server
