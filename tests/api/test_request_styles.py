"""The ways SDKs send a call: headers, or the JS SDK's POST with `_method` and keys in a text/plain body."""
from __future__ import annotations

import base64

import msgspec

from tests.api.conftest import APP_ID, MASTER_KEY, ParseClient


async def test_js_sdk_style_post_with_method_get_runs_a_query(client: ParseClient) -> None:
    await client.create("Item", {"n": 1})
    await client.create("Item", {"n": 2})
    body = {"_method": "GET", "_ApplicationId": APP_ID, "_ClientVersion": "js5.0.0",
            "_InstallationId": "abc", "where": {"n": {"$gt": 1}}, "limit": 10}
    response = await client.http.post("/parse/classes/Item", content=msgspec.json.encode(body),
                                      headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert [r["n"] for r in response.json()["results"]] == [2]


async def test_js_sdk_style_create_update_delete(client: ParseClient) -> None:
    def post(path: str, body: dict):
        return client.http.post(f"/parse{path}", content=msgspec.json.encode({"_ApplicationId": APP_ID, **body}),
                                headers={"Content-Type": "text/plain"})

    created = await post("/classes/Item", {"n": 1})
    assert created.status_code == 201
    oid = created.json()["objectId"]
    updated = await post(f"/classes/Item/{oid}", {"_method": "PUT", "n": 5})
    assert updated.status_code == 200 and "updatedAt" in updated.json()
    fetched = await post(f"/classes/Item/{oid}", {"_method": "GET"})
    assert fetched.json()["n"] == 5
    deleted = await post(f"/classes/Item/{oid}", {"_method": "DELETE"})
    assert deleted.status_code == 200 and deleted.json() == {}


async def test_master_key_in_the_body_grants_master(client: ParseClient) -> None:
    body = {"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": MASTER_KEY}
    response = await client.http.post("/parse/schemas", content=msgspec.json.encode(body),
                                      headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and "results" in response.json()


async def test_credentials_are_never_stored_as_fields(client: ParseClient) -> None:
    body = {"_ApplicationId": APP_ID, "_JavaScriptKey": "k", "_ClientVersion": "js", "_InstallationId": "i", "n": 1}
    response = await client.http.post("/parse/classes/Item", content=msgspec.json.encode(body),
                                      headers={"Content-Type": "text/plain"})
    got = (await client.request("GET", f"/classes/Item/{response.json()['objectId']}")).json()
    assert not any(key.startswith("_") for key in got)


async def test_get_query_string_values_are_json_decoded(client: ParseClient) -> None:
    for n in range(5):
        await client.create("Item", {"n": n})
    response = await client.http.get("/parse/classes/Item", params={
        "where": '{"n":{"$gte":1}}', "limit": "2", "order": "-n"}, headers=client.headers())
    assert [r["n"] for r in response.json()["results"]] == [4, 3]


async def test_basic_authorization_header_carries_app_id_and_master_key(client: ParseClient) -> None:
    token = base64.b64encode(f"{APP_ID}:{MASTER_KEY}".encode()).decode()
    response = await client.http.get("/parse/serverInfo", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and "parseServerVersion" in response.json()


async def test_cors_preflight_and_headers(client: ParseClient) -> None:
    preflight = await client.http.options("/parse/classes/Item", headers={"Origin": "http://app.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "X-Parse-Session-Token" in preflight.headers["access-control-allow-headers"]
    response = await client.request("GET", "/classes/Item")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_health_needs_no_credentials(client: ParseClient) -> None:
    response = await client.http.get("/parse/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
