"""Every key a query reads is checked like a `where`: no `order`, sub-query or relation reveals a hidden value."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ParseClient
from tests.api.test_user_routes import sign_up

FORBIDDEN_PHONE = {"code": 119, "error": "This user is not allowed to query phone on class Profile"}


def ptr(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


@pytest.fixture
async def people(client: ParseClient) -> dict[str, dict]:
    return {name: await sign_up(client, name) for name in ("ann", "bob")}


@pytest.fixture
async def profiles(client: ParseClient, people: dict[str, dict]) -> None:
    """Profile.phone is protected from everyone but the master key; Guess is any class bob may write."""
    await client.request("POST", "/schemas/Profile", {"fields": {"phone": {"type": "String"}},
                                                      "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "count": {"*": True}, "create": {"*": True},
        "protectedFields": {"*": ["phone"]}}}, master=True)
    for phone in ("555-0101", "555-0199"):
        await client.create("Profile", {"phone": phone, "name": phone[-2:]}, session=people["ann"]["sessionToken"])
    await client.create("Guess", {"guess": "555-0101"}, session=people["bob"]["sessionToken"])


async def _as_bob(client: ParseClient, people: dict[str, dict], class_name: str, **params: Any) -> Any:
    response = await client.request("GET", f"/classes/{class_name}", params=params,
                                    session=people["bob"]["sessionToken"])
    return response.status_code, response.json()


@pytest.mark.parametrize("order", ["phone", "-phone", "name,phone"])
async def test_ordering_by_a_protected_field_is_119(client: ParseClient, people, profiles, order: str) -> None:
    assert await _as_bob(client, people, "Profile", order=order) == (400, FORBIDDEN_PHONE)
    master = await client.request("GET", "/classes/Profile", params={"order": "-phone"}, master=True)
    assert [p["phone"] for p in master.json()["results"]] == ["555-0199", "555-0101"]


@pytest.mark.parametrize("op", ["$select", "$dontSelect"])
async def test_a_select_on_a_protected_key_is_119_and_confirms_nothing(client: ParseClient, people, profiles,
                                                                       op: str) -> None:
    where = {"guess": {op: {"query": {"className": "Profile", "where": {}}, "key": "phone"}}}
    assert await _as_bob(client, people, "Guess", where=where) == (400, FORBIDDEN_PHONE)
    allowed = {"guess": {op: {"query": {"className": "Profile", "where": {}}, "key": "name"}}}
    status, _ = await _as_bob(client, people, "Guess", where=allowed)
    assert status == 200


async def test_a_select_cannot_read_another_users_email_or_any_credential(client: ParseClient, people) -> None:
    await client.request("PUT", f"/users/{people['ann']['objectId']}", {"email": "ann@example.com", "ACL": {
        "*": {"read": True}, people["ann"]["objectId"]: {"read": True, "write": True}}},
                         session=people["ann"]["sessionToken"])
    await client.create("Guess", {"guess": "ann@example.com"}, session=people["bob"]["sessionToken"])
    for key in ("email", "authData", "password", "_hashed_password", "sessionToken"):
        where = {"guess": {"$select": {"query": {"className": "_User", "where": {}}, "key": key}}}
        status, body = await _as_bob(client, people, "Guess", where=where)
        assert (status, body["code"]) == (400, 119), key
    readable = {"guess": {"$select": {"query": {"className": "_User", "where": {}}, "key": "username"}}}
    assert (await _as_bob(client, people, "Guess", where=readable))[0] == 200


async def test_an_in_query_on_a_protected_field_is_119(client: ParseClient, people, profiles) -> None:
    where = {"profile": {"$inQuery": {"className": "Profile", "where": {"phone": "555-0101"}}}}
    assert await _as_bob(client, people, "Guess", where=where) == (400, FORBIDDEN_PHONE)


async def test_related_to_reads_only_a_readable_owner_and_a_visible_relation(client: ParseClient, people) -> None:
    ann = people["ann"]
    friend = await client.create("Friend", {"name": "carol"}, session=ann["sessionToken"])
    acl = {ann["objectId"]: {"read": True, "write": True}}
    secret = await client.create("Circle", {"ACL": acl, "members": {
        "__op": "AddRelation", "objects": [ptr("Friend", friend["objectId"])]}}, session=ann["sessionToken"])
    where = {"$relatedTo": {"object": ptr("Circle", secret["objectId"]), "key": "members"}}
    mine = await client.request("GET", "/classes/Friend", params={"where": where}, session=ann["sessionToken"])
    assert [f["name"] for f in mine.json()["results"]] == ["carol"]
    assert await _as_bob(client, people, "Friend", where=where) == (200, {"results": []})  # bob cannot read the circle
    await client.request("PUT", "/schemas/Circle", {"classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True}, "update": {"*": True},
        "protectedFields": {"*": ["members"]}}}, master=True)
    await client.request("PUT", f"/classes/Circle/{secret['objectId']}", {"ACL": {"*": {"read": True}}},
                         session=ann["sessionToken"])
    status, body = await _as_bob(client, people, "Friend", where=where)
    assert (status, body["code"]) == (400, 119)


async def test_clients_can_neither_list_nor_delete_installations(client: ParseClient, people) -> None:
    created = await client.create("_Installation", {"installationId": "device-1", "deviceType": "ios"},
                                  session=people["ann"]["sessionToken"])
    for path in ("/classes/_Installation", "/installations"):
        listed = await client.request("GET", path, session=people["bob"]["sessionToken"])
        assert listed.status_code == 400 and listed.json() == {"code": 119, "error": (
            "Clients aren't allowed to perform the find operation on the installation collection.")}
    fetched = await client.request("GET", f"/installations/{created['objectId']}")
    assert fetched.status_code == 200 and fetched.json()["installationId"] == "device-1"  # by id, as Parse
    deleted = await client.request("DELETE", f"/installations/{created['objectId']}",
                                   session=people["ann"]["sessionToken"])
    assert deleted.status_code == 400 and deleted.json()["code"] == 119
    assert len((await client.request("GET", "/installations", master=True)).json()["results"]) == 1
    assert (await client.request("DELETE", f"/installations/{created['objectId']}", master=True)).status_code == 200


async def test_include_and_keys_never_reach_a_protected_field(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    diary = await client.create("Diary", {"text": "dear diary"}, session=ann["sessionToken"])
    await client.request("POST", "/schemas/Profile", {"fields": {"phone": {"type": "String"},
                                                                 "diary": {"type": "Pointer", "targetClass": "Diary"}},
                                                      "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True},
        "protectedFields": {"*": ["phone", "diary"]}}}, master=True)
    await client.create("Profile", {"phone": "555", "name": "ann", "diary": ptr("Diary", diary["objectId"])},
                        session=ann["sessionToken"])
    for params in ({"include": "diary"}, {"keys": "phone,diary.text,name"}, {"include": "*"}):
        response = await client.request("GET", "/classes/Profile", params=params, session=bob["sessionToken"])
        assert response.status_code == 200, response.text
        [profile] = response.json()["results"]
        assert profile["name"] == "ann" and "phone" not in profile and "diary" not in profile, (params, sorted(profile))
    [seen] = (await client.request("GET", "/classes/Profile", params={"include": "diary"}, master=True)).json()[
        "results"]
    assert seen["diary"]["text"] == "dear diary"
