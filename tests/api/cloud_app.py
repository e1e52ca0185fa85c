"""Serving an app with a given `Cloud` for the cloud code tests: the real ASGI app, store and bus."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx

from api.app import create_app
from api.settings import Settings
from livequery.cloud import Cloud
from tests.api.conftest import ParseClient


@asynccontextmanager
async def serving(settings: Settings, cloud: Cloud) -> AsyncIterator[ParseClient]:
    app = create_app(settings, cloud)
    await app.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            client = ParseClient(http)
            client.app = app  # type: ignore[attr-defined]
            yield client
    finally:
        await app.state.services.stop()


async def sign_up(client: ParseClient, username: str, **fields: Any) -> dict[str, Any]:
    response = await client.request("POST", "/users", {"username": username, "password": "pw", **fields})
    assert response.status_code == 201, response.text
    return response.json()
