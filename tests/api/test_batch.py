"""`POST /batch`: per-request results in request order, as saveAll/destroyAll expect."""
from __future__ import annotations

from tests.api.conftest import ParseClient


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
        {"method": "POST", "path": "/elsewhere/classes/Item", "body": {}},
    ]})
    results = response.json()
    assert "success" in results[0]
    assert results[1]["error"]["code"] == 111
    assert results[2]["error"]["code"] == 101
    assert results[3]["error"] == {"code": 107, "error": "cannot route batch path /elsewhere/classes/Item"}


async def test_requests_that_are_not_an_array_are_107(client: ParseClient) -> None:
    response = await client.request("POST", "/batch", {"requests": {"method": "POST"}})
    assert response.status_code == 400 and response.json()["code"] == 107
