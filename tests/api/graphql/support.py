"""Helpers for the GraphQL tests: a POST to /graphql with Parse's headers, and the real `gql` client."""
from __future__ import annotations

from typing import Any

import httpx
import msgspec
from gql import Client
from gql.transport.httpx import HTTPXAsyncTransport

from tests.api.conftest import APP_ID, ParseClient


def transport(app: Any, **headers: str) -> HTTPXAsyncTransport:
    return HTTPXAsyncTransport(url="http://testserver/graphql", transport=httpx.ASGITransport(app=app),
                               headers={"X-Parse-Application-Id": APP_ID, **headers}, timeout=60)


def client_for(app: Any, **kw: Any) -> Client:
    """A `gql` client of `app`; `headers=` adds request headers (session, master key, ...)."""
    # generous timeouts: the MongoDB tests run on SecantusDB, a Python server, on a shared machine
    return Client(transport=transport(app, **kw.pop("headers", {})), execute_timeout=60, **kw)


async def post(client: ParseClient, query: str, variables: dict[str, Any] | None = None, *, master: bool = False,
               session: str | None = None, path: str = "/graphql") -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return await client.http.post(path, content=msgspec.json.encode(body), headers=client.headers(master, session))


async def data(client: ParseClient, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    """Run and return `data`, asserting that there were no errors."""
    response = await post(client, query, variables, **kw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def first_error(client: ParseClient, query: str, variables: dict[str, Any] | None = None,
                      **kw: Any) -> tuple[int, dict[str, Any], Any]:
    """(status, first error, data) of a request expected to fail."""
    response = await post(client, query, variables, **kw)
    body = response.json()
    assert body.get("errors"), body
    return response.status_code, body["errors"][0], body.get("data")
