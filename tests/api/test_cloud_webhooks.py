"""Webhooks: functions and triggers served by another HTTP server (a real one on loopback), registered through
`/hooks` with the master key and called as Parse calls them."""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import msgspec
import pytest
from aiohttp import web

from api.settings import Settings
from livequery.cloud import Cloud
from tests.api.cloud_app import serving
from tests.conftest import free_port


class HookServer:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.received: list[tuple[str, dict[str, Any], str | None]] = []


@pytest.fixture
async def hook_server() -> AsyncIterator[HookServer]:
    server = HookServer(free_port())

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        server.received.append((request.path, body, request.headers.get("X-Parse-Webhook-Key")))
        if request.path == "/double":
            return web.json_response({"success": body["params"]["n"] * 2})
        if request.path == "/refuse":
            return web.json_response({"error": "not from here"})
        if request.path == "/stamp":
            return web.json_response({"success": {**body["object"], "stamped": True}})
        return web.Response(text="not json")

    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(server.url.rsplit(":", 1)[1]))
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_a_function_webhook_is_called_with_the_params_and_the_key(settings: Settings,
                                                                        hook_server: HookServer) -> None:
    keyed = msgspec.structs.replace(settings, webhook_key="hook-key")
    async with serving(keyed, Cloud()) as client:
        created = await client.request("POST", "/hooks/functions",
                                       {"functionName": "double", "url": hook_server.url + "/double"}, master=True)
        assert created.json() == {"functionName": "double", "url": hook_server.url + "/double"}
        response = await client.request("POST", "/functions/double", {"n": 21})
        assert response.json() == {"result": 42}
        path, body, key = hook_server.received[0]
        assert (path, body["params"], body["functionName"], body["master"], key) == (
            "/double", {"n": 21}, "double", False, "hook-key")


async def test_webhook_errors_become_parse_errors(settings: Settings, hook_server: HookServer) -> None:
    async with serving(settings, Cloud()) as client:
        for name in ("refuse", "garbage"):
            await client.request("POST", "/hooks/functions", {"functionName": name, "url": f"{hook_server.url}/{name}"},
                                 master=True)
        assert (await client.request("POST", "/functions/refuse", {})).json() == {"code": 141, "error": "not from here"}
        assert (await client.request("POST", "/functions/garbage", {})).json()["code"] == 143


async def test_a_before_save_webhook_returns_the_object_to_save(settings: Settings, hook_server: HookServer) -> None:
    async with serving(settings, Cloud()) as client:
        registered = await client.request("POST", "/hooks/triggers", {
            "className": "Doc", "triggerName": "beforeSave", "url": hook_server.url + "/stamp"}, master=True)
        assert registered.json() == {"className": "Doc", "triggerName": "beforeSave", "url": hook_server.url + "/stamp"}
        created = await client.create("Doc", {"title": "t"})
        assert created["stamped"] is True
        assert (await client.find("Doc"))[0]["stamped"] is True
        _, body, _ = hook_server.received[0]
        assert body["triggerName"] == "beforeSave" and body["object"]["title"] == "t"


async def test_hooks_are_listed_read_updated_and_deleted_by_the_master_key_only(settings: Settings,
                                                                                hook_server: HookServer) -> None:
    async with serving(settings, Cloud()) as client:
        assert (await client.request("GET", "/hooks/functions")).status_code == 403
        body = {"functionName": "double", "url": hook_server.url + "/double"}
        await client.request("POST", "/hooks/functions", body, master=True)
        again = await client.request("POST", "/hooks/functions", body, master=True)
        assert again.json()["code"] == 143
        assert (await client.request("GET", "/hooks/functions", master=True)).json() == [body]
        moved = await client.request("PUT", "/hooks/functions/double", {"url": hook_server.url + "/refuse"},
                                     master=True)
        assert moved.json()["url"] == hook_server.url + "/refuse"
        assert (await client.request("POST", "/functions/double", {"n": 1})).json()["error"] == "not from here"
        await client.request("PUT", "/hooks/functions/double", {"__op": "Delete"}, master=True)
        assert (await client.request("GET", "/hooks/functions", master=True)).json() == []
        missing = await client.request("GET", "/hooks/functions/double", master=True)
        assert missing.json() == {"code": 143, "error": "no function named: double is defined"}
        assert (await client.request("POST", "/functions/double", {"n": 1})).json()["code"] == 141


async def test_registered_hooks_survive_a_restart(settings: Settings, hook_server: HookServer) -> None:
    async with serving(settings, Cloud()) as client:
        await client.request("POST", "/hooks/functions", {"functionName": "double", "url": hook_server.url + "/double"},
                             master=True)
    async with serving(settings, Cloud()) as client:
        assert (await client.request("POST", "/functions/double", {"n": 2})).json() == {"result": 4}




async def test_a_hook_registered_in_one_process_is_called_by_another(settings: Settings, hook_server: HookServer,
                                                                     redis_server: str) -> None:
    shared = msgspec.structs.replace(settings, redis_url=redis_server, app_id=settings.app_id)
    async with serving(shared, Cloud()) as first, serving(shared, Cloud()) as second:
        await first.request("POST", "/hooks/functions", {"functionName": "double", "url": hook_server.url + "/double"},
                            master=True)
        for _ in range(500):  # the change travels on the bus
            response = await second.request("POST", "/functions/double", {"n": 5})
            if response.status_code == 200:
                break
            await asyncio.sleep(0.01)
        assert response.json() == {"result": 10}
