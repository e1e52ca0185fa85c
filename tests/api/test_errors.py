"""Bad input gets Parse's code and HTTP status, never a 500, and never writes half an object."""
from __future__ import annotations

import pytest

from tests.api.conftest import APP_ID, ParseClient

BAD_WRITES = [
    # (body, code)
    ({"objectId": "custom"}, 105),
    ({"bad-name": 1}, 105),
    ({"1abc": 1}, 105),
    ({"length": 1}, 105),
    ({"nested": {"$bad": 1}}, 121),
    ({"nested": {"a.b": 1}}, 121),
    ({"n": {"__op": "Increment", "amount": "x"}}, 107),
    ({"n": {"__op": "Explode"}}, 108),
    ({"p": {"__type": "Pointer", "className": "X"}}, 106),
    ({"d": {"__type": "Date", "iso": "not a date"}}, 111),
    ({"g": {"__type": "GeoPoint", "latitude": 100, "longitude": 0}}, 107),
    ({"b": {"__type": "Bytes", "base64": "***"}}, 107),
    ({"w": {"__type": "Weird"}}, 107),
    ({"ACL": {"*": {"read": "yes"}}}, 123),
    ({"ACL": "public"}, 123),
]


@pytest.mark.parametrize(("body", "code"), BAD_WRITES)
async def test_bad_create_gets_its_parse_error_and_writes_nothing(client: ParseClient, body: dict,
                                                                   code: int) -> None:
    await client.create("Thing", {"ok": True, "n": 1})
    response = await client.request("POST", "/classes/Thing", {"good": "value", **body})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert isinstance(response.json()["error"], str)
    assert len(await client.find("Thing")) == 1


async def test_a_later_write_of_another_type_is_111_incorrect_type(client: ParseClient) -> None:
    await client.create("Typed", {"score": 1})
    response = await client.request("POST", "/classes/Typed", {"score": "high"})
    assert response.status_code == 400
    assert response.json() == {"code": 111,
                               "error": "schema mismatch for Typed.score; expected Number but got String"}


async def test_a_failed_update_changes_nothing(client: ParseClient) -> None:
    created = await client.create("Typed", {"score": 1, "name": "a"})
    response = await client.request("PUT", f"/classes/Typed/{created['objectId']}",
                                    {"name": "b", "score": "high"})
    assert response.status_code == 400 and response.json()["code"] == 111
    got = (await client.request("GET", f"/classes/Typed/{created['objectId']}")).json()
    assert got["name"] == "a" and got["score"] == 1


async def test_increment_of_a_string_field_is_rejected_not_half_applied(client: ParseClient) -> None:
    created = await client.create("Mixed", {"label": "x", "n": 1})
    response = await client.request("PUT", f"/classes/Mixed/{created['objectId']}",
                                    {"n": {"__op": "Increment"}, "label": {"__op": "Increment"}})
    assert response.status_code == 400 and response.json()["code"] in (107, 111)
    got = (await client.request("GET", f"/classes/Mixed/{created['objectId']}")).json()
    assert got["n"] == 1


@pytest.mark.parametrize("class_name", ["1Bad", "bad-name", "_Secret"])
async def test_invalid_class_names_are_103(client: ParseClient, class_name: str) -> None:
    response = await client.request("POST", f"/classes/{class_name}", {"a": 1})
    assert response.status_code == 400 and response.json()["code"] == 103


async def test_malformed_json_is_107(client: ParseClient) -> None:
    response = await client.http.post("/parse/classes/Thing", content=b'{"a": 1,',
                                      headers=client.headers())
    assert response.status_code == 400 and response.json() == {"code": 107, "error": "Invalid JSON"}


async def test_a_body_that_is_not_an_object_is_107(client: ParseClient) -> None:
    response = await client.http.post("/parse/classes/Thing", content=b"[1, 2]", headers=client.headers())
    assert response.status_code == 400 and response.json()["code"] == 107


async def test_a_body_over_20_megabytes_is_refused_with_413_and_nothing_written(client: ParseClient) -> None:
    await client.create("Big", {"seed": 1})
    huge = b'{"blob": "' + b"x" * (20 * 1024 * 1024 + 10) + b'"}'
    response = await client.http.post("/parse/classes/Big", content=huge, headers=client.headers())
    assert response.status_code == 413
    assert response.json()["code"] == 116
    assert len(await client.find("Big")) == 1


async def test_a_multi_megabyte_object_is_accepted(client: ParseClient) -> None:
    created = await client.create("Big", {"blob": "y" * (3 * 1024 * 1024)})
    got = (await client.request("GET", f"/classes/Big/{created['objectId']}")).json()
    assert len(got["blob"]) == 3 * 1024 * 1024


BAD_QUERIES = [
    ({"where": {"a": {"$bogus": 1}}}, 107),
    ({"where": {"a": {"$in": 5}}}, 107),
    ({"where": {"a": {"$regex": "x", "$options": "z"}}}, 102),
    ({"where": {"a": {"$regex": "(unclosed"}}}, 102),
    ({"where": {"$or": "nope"}}, 102),
    ({"where": {"ACL": 1}}, 102),
    ({"where": {"bad-key": 1}}, 105),
    ({"where": {"a": {"$exists": "yes"}}}, 107),
    ({"where": {"loc": {"$nearSphere": {"__type": "GeoPoint", "latitude": 200, "longitude": 0}}}}, 107),
    ({"where": "{not json"}, 107),
    ({"limit": "many"}, 102),
    ({"unknownParam": 1}, 102),
]


@pytest.mark.parametrize(("params", "code"), BAD_QUERIES)
async def test_bad_query_gets_its_parse_error(client: ParseClient, params: dict, code: int) -> None:
    await client.create("Thing", {"a": 1})
    response = await client.request("GET", "/classes/Thing", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


async def test_get_by_id_with_a_query_parameter_is_102(client: ParseClient) -> None:
    created = await client.create("Thing", {"a": 1})
    response = await client.request("GET", f"/classes/Thing/{created['objectId']}", params={"limit": 1})
    assert response.status_code == 400 and response.json()["code"] == 102


async def test_the_server_keeps_serving_after_bad_input(client: ParseClient) -> None:
    for _ in range(3):
        bad = await client.http.post("/parse/classes/Thing", content=b"\xff\xfe", headers=client.headers())
        assert bad.status_code == 400 and bad.json()["code"] == 107
    assert (await client.request("POST", "/classes/Thing", {"a": 1})).status_code == 201


async def test_a_wrong_or_missing_application_id_is_403_unauthorized(client: ParseClient) -> None:
    for headers in ({"X-Parse-Application-Id": "other"}, {}):
        response = await client.request("GET", "/classes/Thing", headers=headers)
        assert response.status_code == 403 and response.json() == {"error": "unauthorized"}


async def test_a_wrong_master_key_is_refused(client: ParseClient) -> None:
    response = await client.request("GET", "/classes/Thing",
                                    headers={"X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": "nope"})
    assert response.status_code == 403


async def test_master_only_routes_refuse_clients_with_403(client: ParseClient) -> None:
    for method, path in (("GET", "/schemas"), ("GET", "/serverInfo"), ("DELETE", "/purge/Thing")):
        response = await client.request(method, path)
        assert response.status_code == 403
        assert response.json() == {"error": "unauthorized: master key is required"}
