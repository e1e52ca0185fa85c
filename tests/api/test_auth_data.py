"""`authData` on REST: anonymous users (`Parse.AnonymousUtils.logIn()`), signing up later while keeping the
objectId and data, linking and unlinking, and Parse's MongoDB layout (`_auth_data_<provider>`)."""
from __future__ import annotations

from typing import Any

import pymongo
import pytest

from tests.api.conftest import ParseClient
from tests.storage.mongo_server import is_switched_to_mongodb

ANON = {"anonymous": {"id": "5f3c3f2e-8d9a-4c71-9a44-3b0f2c1f6a01"}}


async def anonymous_log_in(client: ParseClient, auth_data: dict[str, Any] = ANON) -> tuple[int, dict]:
    response = await client.request("POST", "/users", {"authData": auth_data})
    return response.status_code, response.json()


async def test_an_anonymous_id_signs_up_once_then_logs_in_to_the_same_user(client: ParseClient) -> None:
    status, first = await anonymous_log_in(client)
    assert status == 201 and first["sessionToken"].startswith("r:") and len(first["username"]) == 25
    status, again = await anonymous_log_in(client)
    assert status == 200 and again["objectId"] == first["objectId"] and again["sessionToken"] != first["sessionToken"]
    assert again["authData"] == ANON  # the user sees their own auth data
    me = (await client.request("GET", "/users/me", session=again["sessionToken"])).json()
    assert me["objectId"] == first["objectId"]
    other = await client.request("GET", f"/users/{first['objectId']}", master=True)
    assert other.json()["authData"] == ANON
    stranger = (await client.request("POST", "/users", {"username": "eve", "password": "pw"})).json()
    seen = await client.request("GET", "/users", session=stranger["sessionToken"])
    assert all("authData" not in user for user in seen.json()["results"])


async def test_an_anonymous_user_signs_up_later_and_keeps_their_data(client: ParseClient) -> None:
    _, anon = await anonymous_log_in(client)
    token = anon["sessionToken"]
    note = await client.create("Note", {"text": "mine", "ACL": {anon["objectId"]: {"read": True, "write": True}}},
                               session=token)
    upgraded = await client.request("PUT", f"/users/{anon['objectId']}", {"username": "ann", "password": "pw"},
                                    session=token)
    assert upgraded.status_code == 200, upgraded.text
    logged = (await client.request("POST", "/login", {"username": "ann", "password": "pw"})).json()
    assert logged["objectId"] == anon["objectId"] and "authData" not in logged
    mine = await client.request("GET", f"/classes/Note/{note['objectId']}", session=logged["sessionToken"])
    assert mine.status_code == 200
    status, fresh = await anonymous_log_in(client)  # the anonymous id no longer leads to ann
    assert status == 201 and fresh["objectId"] != anon["objectId"]


async def test_link_unlink_and_refusals(client: ParseClient) -> None:
    user = (await client.request("POST", "/users", {"username": "ann", "password": "pw"})).json()
    link = {"anonymous": {"id": "link-me"}}
    linked = await client.request("PUT", f"/users/{user['objectId']}", {"authData": link},
                                  session=user["sessionToken"])
    assert linked.status_code == 200
    status, again = await anonymous_log_in(client, link)
    assert status == 200 and again["objectId"] == user["objectId"]
    _, other = await anonymous_log_in(client, {"anonymous": {"id": "someone-else"}})
    taken = await client.request("PUT", f"/users/{other['objectId']}", {"authData": link},
                                 session=other["sessionToken"])
    assert taken.status_code == 400 and taken.json()["code"] == 208
    unlinked = await client.request("PUT", f"/users/{user['objectId']}", {"authData": {"anonymous": None}},
                                    session=user["sessionToken"])
    assert unlinked.status_code == 200
    status, _ = await anonymous_log_in(client, link)
    assert status == 201  # a new user: the link is gone
    unknown = await client.request("POST", "/users", {"authData": {"myspace": {"id": "x", "token": "t"}}})
    assert unknown.status_code == 400 and unknown.json()["code"] == 252
    bad = await client.request("POST", "/users", {"authData": {"anonymous": {}}})
    assert bad.status_code == 404 and bad.json()["code"] == 101


async def test_auth_data_is_stored_as_parse_server_stores_it(client: ParseClient, settings) -> None:
    if not is_switched_to_mongodb():
        pytest.skip("MongoDB's layout (LIVEQUERY_TEST_STORE=mongodb); on SQLite authData is one JSON column")
    _, anon = await anonymous_log_in(client)
    with pymongo.MongoClient(settings.database_uri) as mongo:
        stored = mongo.get_default_database()["_User"].find_one({"_id": anon["objectId"]})
    assert stored["_auth_data_anonymous"] == ANON["anonymous"] and "authData" not in stored


async def test_clients_cannot_filter_users_by_auth_data(client: ParseClient) -> None:
    await anonymous_log_in(client)
    for where in ({"authData.anonymous.id": {"$regex": "^5"}}, {"authData": {"$exists": True}}):
        response = await client.request("GET", "/users", params={"where": where})
        assert response.status_code == 400 and response.json()["code"] == 119
    master = await client.request("GET", "/users", params={"where": {"authData.anonymous.id": ANON["anonymous"]["id"]}},
                                  master=True)
    assert len(master.json()["results"]) == 1
