"""`POST /batch`: per-request results in request order, as saveAll/destroyAll expect."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.api.conftest import ParseClient, make_settings
from tests.storage.mongo_server import is_switched_to_mongodb


async def test_batch_creates_updates_and_deletes_in_order(client: ParseClient) -> None:
    first = await client.create("Item", {"n": 0})
    response = await client.request("POST", "/batch", {"requests": [
        {"method": "POST", "path": "/parse/classes/Item", "body": {"n": 1}},
        {"method": "PUT", "path": f"/parse/classes/Item/{first['objectId']}", "body": {"n": 10}},
        {"method": "GET", "path": f"/parse/classes/Item/{first['objectId']}", "body": {}},
        {"method": "DELETE", "path": f"/parse/classes/Item/{first['objectId']}"},
    ]})
    assert response.status_code == 200
    results = response.json()
    assert set(results[0]["success"]) == {"objectId", "createdAt"}
    assert "updatedAt" in results[1]["success"]
    assert results[2]["success"]["n"] == 10
    assert results[3] == {"success": {}}


async def test_a_failing_sub_request_reports_its_error_and_the_others_succeed(client: ParseClient) -> None:
    response = await client.request("POST", "/batch", {"requests": [
        {"method": "POST", "path": "/parse/classes/Item", "body": {"n": 1}},
        {"method": "POST", "path": "/parse/classes/Item", "body": {"n": "not a number"}},
        {"method": "DELETE", "path": "/parse/classes/Item/missing"},
    ]})
    results = response.json()
    assert "success" in results[0]
    assert results[1]["error"]["code"] == 111
    assert results[2]["error"]["code"] == 101


async def test_requests_that_are_not_an_array_are_107(client: ParseClient) -> None:
    response = await client.request("POST", "/batch", {"requests": {"method": "POST"}})
    assert response.status_code == 400 and response.json()["code"] == 107


VALID = {"method": "POST", "path": "/parse/classes/Item", "body": {"n": 1}}


@pytest.mark.parametrize("bad", [
    {"method": "POST", "body": {"n": 2}},  # no path
    "not an object",
    {"method": "POST", "path": "/elsewhere/classes/Item", "body": {}},  # outside the mount
    {"method": "PATCH", "path": "/parse/classes/Item", "body": {}},  # a method nothing answers
    {"path": "/parse/classes/Item", "body": {}},  # no method
    {"method": "POST", "path": "/parse/classes/Item", "body": [1]},  # a body that is no object
    {"method": "POST", "path": "/parse/batch", "body": {"requests": []}},  # nested
], ids=["no-path", "not-an-object", "outside-mount", "unroutable-method", "no-method", "body-not-object", "nested"])
async def test_a_malformed_item_is_107_and_nothing_runs(client: ParseClient, bad: Any) -> None:
    response = await client.request("POST", "/batch", {"requests": [VALID, bad, VALID]})
    assert response.status_code == 400 and response.json()["code"] == 107, response.text
    assert await client.find("Item", master=True) == []


async def test_a_batch_holds_at_most_the_batch_limit(client: ParseClient, tmp_path: Path) -> None:
    response = await client.request("POST", "/batch", {"requests": [VALID] * 101})
    assert response.status_code == 400 and response.json()["code"] == 107
    assert "100" in response.json()["error"]
    assert await client.find("Item", master=True) == []
    assert len((await client.request("POST", "/batch", {"requests": [VALID] * 100})).json()) == 100

    (tmp_path / "small").mkdir()
    app = create_app(make_settings(tmp_path / "small", batch_limit=2))
    await app.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            small = ParseClient(http)
            response = await small.request("POST", "/batch", {"requests": [VALID] * 3})
            assert response.status_code == 400 and "at most 2" in response.json()["error"]
    finally:
        await app.state.services.stop()


def _transactions(app: Any) -> bool:
    """The SQLite store always has transactions; MongoDB only as a replica set or behind mongos."""
    return getattr(app.state.services.store, "_transactions", True)


async def test_a_transaction_batch_is_all_or_nothing(client: ParseClient, app: Any) -> None:
    kept = await client.create("Item", {"n": 0})
    failing = {"requests": [
        {"method": "POST", "path": "/parse/classes/Item", "body": {"n": 1}},
        {"method": "PUT", "path": f"/parse/classes/Item/{kept['objectId']}", "body": {"n": 5}},
        {"method": "POST", "path": "/parse/classes/Fresh", "body": {"made": True}},
        {"method": "POST", "path": "/parse/classes/Item", "body": {"n": "not a number"}},
    ], "transaction": True}
    response = await client.request("POST", "/batch", failing)
    assert response.status_code == 400
    if not _transactions(app):
        assert response.json()["code"] == 108 and "replica set" in response.json()["error"]
    else:
        assert response.json()["code"] == 111
    assert [item["n"] for item in await client.find("Item", master=True)] == [0]
    assert (await client.request("GET", "/classes/Fresh", master=True)).json()["results"] == []
    if not is_switched_to_mongodb():  # MongoDB: schema writes are not part of its transactions (as in Parse)
        assert (await client.request("GET", "/schemas/Fresh", master=True)).status_code == 400

    if _transactions(app):
        response = await client.request("POST", "/batch", {**failing, "requests": failing["requests"][:3]})
        assert response.status_code == 200, response.text
        assert [list(result) for result in response.json()] == [["success"]] * 3
        assert sorted(item["n"] for item in await client.find("Item", master=True)) == [1, 5]
