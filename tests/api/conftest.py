"""API tests drive the real ASGI app (real SQLite store, in-process bus) through httpx.

`LIVEQUERY_TEST_STORE=mongodb` builds every app of these tests on a MongoDB database of the test's own instead
(the session's SecantusDB, or the server in MONGODB_URI).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import msgspec
import pytest

from api.app import create_app
from api.settings import Settings
from tests.storage.mongo_server import switched_database, switched_database_uri

APP_ID = "test-app"
MASTER_KEY = "test-master-key"


class ParseClient:
    """A thin REST client that speaks Parse's headers, as the SDKs do."""

    def __init__(self, http: httpx.AsyncClient, mount: str = "/parse") -> None:
        self.http = http
        self.mount = mount

    def headers(self, master: bool = False, session: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
        if master:
            headers["X-Parse-Master-Key"] = MASTER_KEY
        if session:
            headers["X-Parse-Session-Token"] = session
        headers.update(extra)
        return headers

    async def request(self, method: str, path: str, body: Any = None, *, master: bool = False,
                      session: str | None = None, params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        content = msgspec.json.encode(body) if body is not None else None
        query = {k: (v if isinstance(v, str) else msgspec.json.encode(v).decode()) for k, v in (params or {}).items()}
        return await self.http.request(method, self.mount + path, content=content, params=query,
                                       headers=headers if headers is not None else self.headers(master, session))

    async def create(self, class_name: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """Create and assert 201; `session=` / `master=` as for `request`."""
        response = await self.request("POST", f"/classes/{class_name}", body, **kw)
        assert response.status_code == 201, response.text
        return response.json()

    async def find(self, class_name: str, **params: Any) -> list[dict[str, Any]]:
        master = params.pop("master", False)
        response = await self.request("GET", f"/classes/{class_name}", params=params, master=master)
        assert response.status_code == 200, response.text
        return response.json()["results"]


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(app_id=APP_ID, master_key=MASTER_KEY, data_dir=str(tmp_path),
                                  allow_client_class_creation=True, database_uri=switched_database_uri(tmp_path))
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(autouse=True)
def test_store(tmp_path: Path) -> Iterator[None]:
    """The store switch: under LIVEQUERY_TEST_STORE=mongodb, the test's database is dropped afterwards."""
    with switched_database(tmp_path):
        yield


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    await application.state.services.start()
    try:
        yield application
    finally:
        await application.state.services.stop()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[ParseClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield ParseClient(http)
