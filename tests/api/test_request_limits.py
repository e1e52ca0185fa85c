"""Hostile input gets Parse's answer quickly: linear-time regexes, and every dimension of a request bounded before
any work is done on it (issue 8, items 1-4)."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.api.conftest import ParseClient, make_settings
from tests.storage.mongo_server import is_switched_to_mongodb

CATASTROPHIC = ["^(a+)+$", "^(a|aa)+$", "(a*)*b", "^(a|a?)+$", "(.*a){20}$"]
EVIL_STRING = "a" * 40 + "!"


@pytest.mark.parametrize("pattern", CATASTROPHIC)
async def test_a_catastrophic_regex_answers_no_match(client: ParseClient, pattern: str) -> None:
    if is_switched_to_mongodb():
        pytest.skip("the MongoDB server evaluates regexes itself (bounded by maxTimeMS: tests/storage/"
                    "test_mongo_adapter.py); the test server SecantusDB uses Python's re and would spin")
    await client.create("Evil", {"s": EVIL_STRING}, master=True)
    response = await client.request("GET", "/classes/Evil", params={"where": {"s": {"$regex": pattern}}})
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []


@pytest.mark.parametrize("pattern,options", [("(a)\\1", ""), ("a(?=b)", ""), ("(?<!a)b", ""), ("x", "q")])
async def test_a_regex_that_cannot_run_in_linear_time_is_102(client: ParseClient, pattern: str, options: str) -> None:
    await client.create("Evil", {"s": "ab"}, master=True)
    spec: dict[str, Any] = {"$regex": pattern}
    if options:
        spec["$options"] = options
    response = await client.request("GET", "/classes/Evil", params={"where": {"s": spec}})
    assert response.status_code == 400
    assert response.json()["code"] == 102


@pytest.mark.parametrize("pattern,options,matches", [
    ("^PAR", "i", ["Paris"]),
    ("^b$", "m", ["a\nb"]),
    ("^a.b$", "s", ["a\nb", "a.b", "axb"]),
    ("^a.b$", "", ["a.b", "axb"]),
    ("P a r  # the start of Paris", "x", ["Paris"]),
    ("^\\Qa.b\\E", "", ["a.b"]),
])
async def test_regex_options_keep_their_parse_meaning(client: ParseClient, pattern: str, options: str,
                                                      matches: list[str]) -> None:
    for value in ("Paris", "a\nb", "a.b", "axb"):
        await client.create("Town", {"name": value}, master=True)
    where = {"name": {"$regex": pattern, "$options": options} if options else {"$regex": pattern}}
    found = await client.find("Town", where=where)
    assert sorted(item["name"] for item in found) == matches


def _nested_or(levels: int) -> dict[str, Any]:
    where: dict[str, Any] = {"a": 1}
    for _ in range(levels):
        where = {"$or": [where, {"b": 2}]}
    return where


def _deep_object(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


# (query parameters, expected code, words the message names)
OVER_LIMIT = [
    ({"keys": ",".join(f"k{i}" for i in range(100_000))}, 102, "1000"),
    ({"excludeKeys": [f"k{i}" for i in range(5000)]}, 102, "1000"),
    ({"include": ".".join(["self"] * 500)}, 102, "includeDepth"),
    ({"include": ",".join(f"p{i}" for i in range(101))}, 102, "includeCount"),
    ({"where": {"$or": [{"a": i} for i in range(993)]}}, 102, "100 clauses"),
    ({"where": _nested_or(20)}, 102, "16 levels"),
    ({"where": _nested_or(400)}, 107, "256 levels"),
    ({"where": {"a": {"$in": list(range(20_000))}}}, 102, "10000 values"),
    ({"where": {"$and": [{"$or": [{"a": i} for i in range(100)]} for _ in range(10)]}}, 102, "500 conditions"),
    ({"limit": 10**30}, 102, "2147483647"),
    ({"skip": 10**30}, 102, "2147483647"),
    ({"order": ",".join(f"k{i}" for i in range(2000))}, 102, "1000"),
    ({"where": _deep_object(300)}, 107, "256 levels"),
]


@pytest.mark.parametrize("params,code,named", OVER_LIMIT,
                         ids=["keys", "excludeKeys", "include-depth", "include-count", "or-branches",
                              "where-depth", "where-json-depth", "in-size", "conditions", "limit", "skip", "order",
                              "json-depth"])
async def test_an_over_limit_query_is_400_naming_the_limit(client: ParseClient, params: dict[str, Any], code: int,
                                                          named: str) -> None:
    await client.create("Item", {"a": 1}, master=True)
    # a large query goes as the JS SDK sends it: a POST with _method GET
    response = await client.request("POST", "/classes/Item", {"_method": "GET", **params})
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    assert body["code"] == code and named in body["error"], body


@pytest.mark.parametrize("levels", [300, 5000, 1_000_000])
async def test_json_nested_past_the_decoder_is_107(client: ParseClient, levels: int) -> None:
    raw = b'{"_method":"GET","where":' + b'{"x":' * levels + b"1" + b"}" * levels + b"}"
    response = await client.http.post("/parse/classes/Item", content=raw, headers=client.headers())
    assert response.status_code == 400
    assert response.json()["code"] == 107 and "256 levels" in response.json()["error"]


async def test_a_query_within_the_limits_still_works(client: ParseClient) -> None:
    await client.create("Item", {"a": 3}, master=True)
    where = {"$or": [{"a": i} for i in range(100)], "b": {"$nin": list(range(10_000))}}
    response = await client.request("POST", "/classes/Item", {"_method": "GET", "where": where,
                                                             "keys": ",".join(f"k{i}" for i in range(999)) + ",a"})
    assert response.status_code == 200, response.text[:300]
    assert [item["a"] for item in response.json()["results"]] == [3]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_an_object_nested_too_deep_is_107_and_nothing_is_written(client: ParseClient, method: str) -> None:
    existing = await client.create("Deep", {"n": 0}, master=True)
    path = "/classes/Deep" if method == "POST" else f"/classes/Deep/{existing['objectId']}"
    response = await client.request(method, path, {"n": 1, "nest": _deep_object(490)}, master=True)
    assert response.status_code == 400
    assert response.json()["code"] == 107 and "256 levels" in response.json()["error"]
    assert [item["n"] for item in await client.find("Deep", master=True)] == [0]


async def test_a_huge_number_is_stored_or_refused_never_a_500(client: ParseClient) -> None:
    await client.create("Big", {"n": 1}, master=True)
    response = await client.request("POST", "/classes/Big", {"n": 10**30}, master=True)
    assert response.status_code == 201 or response.json()["code"] == 107, response.text
    response = await client.request("GET", "/classes/Big", params={"where": {"n": {"$gt": 10**30}}})
    assert response.status_code == 200 or response.json()["code"] in (102, 107), response.text


async def test_a_self_include_is_bounded_in_depth(client: ParseClient) -> None:
    first = await client.create("Node", {"name": "n"}, master=True)
    pointer = {"__type": "Pointer", "className": "Node", "objectId": first["objectId"]}
    response = await client.request("PUT", f"/classes/Node/{first['objectId']}", {"next": pointer}, master=True)
    assert response.status_code == 200
    ten = ".".join(["next"] * 10)
    found = await client.find("Node", include=ten)
    value = found[0]
    for _ in range(10):
        value = value["next"]
        assert value["__type"] == "Object"
    eleven = ".".join(["next"] * 11)
    response = await client.request("GET", "/classes/Node", params={"include": eleven})
    assert response.status_code == 400 and response.json()["code"] == 102


async def test_a_response_over_the_size_limit_is_refused(tmp_path: Any) -> None:
    import httpx

    from api.app import create_app

    app = create_app(make_settings(tmp_path, max_response_bytes=20_000))
    await app.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            client = ParseClient(http)
            for _ in range(10):
                await client.create("Blob", {"text": "x" * 3000}, master=True)
            response = await client.request("GET", "/classes/Blob")
            assert response.status_code == 400 and "20000 bytes" in response.json()["error"]
            small = await client.request("GET", "/classes/Blob", params={"limit": 2})
            assert small.status_code == 200
    finally:
        await app.state.services.stop()


async def test_expected_errors_write_no_traceback(client: ParseClient, caplog: pytest.LogCaptureFixture) -> None:
    await client.create("Item", {"a": 1}, master=True)
    caplog.set_level(logging.DEBUG)
    for params, _code, _named in OVER_LIMIT:
        await client.request("POST", "/classes/Item", {"_method": "GET", **params})
    assert "Traceback" not in caplog.text
    assert len(caplog.text) < 20_000
