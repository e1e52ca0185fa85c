"""Helpers for the GraphQL tests: a POST to /graphql with Parse's headers."""
from __future__ import annotations

from typing import Any

import httpx
import msgspec

from tests.api.conftest import ParseClient


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
