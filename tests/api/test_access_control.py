"""ACLs, roles and class-level permissions, including the ways people try to get around them."""
from __future__ import annotations

import pytest

from tests.api.conftest import APP_ID, MASTER_KEY, ParseClient, make_settings
from tests.api.test_user_routes import sign_up


def ptr(class_name: str, object_id: str) -> dict:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


@pytest.fixture
async def people(client: ParseClient) -> dict[str, dict]:
    return {name: await sign_up(client, name) for name in ("ann", "bob", "cat")}


async def private_note(client: ParseClient, owner: dict, text: str = "secret") -> dict:
    return await client.create("Note", {"text": text, "ACL": {owner["objectId"]: {"read": True, "write": True}}},
                               session=owner["sessionToken"])


async def test_another_users_private_object_is_not_readable_by_id_or_query(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    note = await private_note(client, ann)
    by_id = await client.request("GET", f"/classes/Note/{note['objectId']}", session=bob["sessionToken"])
    assert by_id.status_code == 404 and by_id.json()["code"] == 101
    found = await client.request("GET", "/classes/Note", session=bob["sessionToken"], params={"count": 1})
    assert found.json() == {"results": [], "count": 0}
    mine = await client.request("GET", f"/classes/Note/{note['objectId']}", session=ann["sessionToken"])
    assert mine.json()["text"] == "secret" and mine.json()["ACL"] == {ann["objectId"]: {"read": True, "write": True}}
    master = await client.request("GET", f"/classes/Note/{note['objectId']}", master=True)
    assert master.status_code == 200


async def test_private_objects_do_not_leak_through_include_or_in_query(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    note = await private_note(client, ann)
    await client.create("Link", {"note": ptr("Note", note["objectId"])}, session=bob["sessionToken"])
    included = await client.request("GET", "/classes/Link", session=bob["sessionToken"], params={"include": "note"})
    assert included.json()["results"][0]["note"] == ptr("Note", note["objectId"])
    sub = {"note": {"$inQuery": {"className": "Note", "where": {"text": "secret"}}}}
    leaked = await client.request("GET", "/classes/Link", session=bob["sessionToken"], params={"where": sub})
    assert leaked.json()["results"] == []
    allowed = await client.request("GET", "/classes/Link", session=ann["sessionToken"], params={"where": sub})
    assert len(allowed.json()["results"]) == 1


async def test_another_users_object_cannot_be_updated_or_deleted(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    note = await private_note(client, ann)
    for method, body in (("PUT", {"text": "pwned"}), ("DELETE", None)):
        response = await client.request(method, f"/classes/Note/{note['objectId']}", body, session=bob["sessionToken"])
        assert response.status_code == 404 and response.json()["code"] == 101
    got = await client.request("GET", f"/classes/Note/{note['objectId']}", session=ann["sessionToken"])
    assert got.json()["text"] == "secret"


async def test_public_read_private_write(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    note = await client.create("Note", {"text": "hello", "ACL": {
        "*": {"read": True}, ann["objectId"]: {"write": True}}}, session=ann["sessionToken"])
    assert (await client.request("GET", f"/classes/Note/{note['objectId']}")).status_code == 200
    edit = await client.request("PUT", f"/classes/Note/{note['objectId']}", {"text": "x"}, session=bob["sessionToken"])
    assert edit.json()["code"] == 101


@pytest.mark.parametrize("field", ["_rperm", "_wperm", "_hashed_password", "_session_token"])
async def test_clients_cannot_write_internal_fields(client: ParseClient, people, field: str) -> None:
    response = await client.request("POST", "/classes/Note", {"text": "x", field: ["*"]},
                                    session=people["bob"]["sessionToken"])
    assert response.status_code == 400 and response.json()["code"] == 105


async def test_clients_cannot_query_internal_fields(client: ParseClient, people) -> None:
    response = await client.request("GET", "/classes/_User", params={"where": {"_hashed_password": {"$exists": True}}},
                                    session=people["bob"]["sessionToken"])
    assert response.status_code == 400 and response.json()["code"] == 105


async def test_role_members_read_role_protected_objects_and_lose_access_when_removed(client: ParseClient,
                                                                                     people) -> None:
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    role = await client.request("POST", "/roles", {
        "name": "Editors", "ACL": {"*": {"read": True}},
        "users": {"__op": "AddRelation", "objects": [ptr("_User", bob["objectId"])]}}, master=True)
    assert role.status_code == 201, role.text
    note = await client.create("Note", {"text": "team", "ACL": {"role:Editors": {"read": True}}},
                               session=ann["sessionToken"])
    path = f"/classes/Note/{note['objectId']}"
    assert (await client.request("GET", path, session=bob["sessionToken"])).status_code == 200
    assert (await client.request("GET", path, session=cat["sessionToken"])).status_code == 404
    await client.request("PUT", f"/roles/{role.json()['objectId']}", {
        "users": {"__op": "RemoveRelation", "objects": [ptr("_User", bob["objectId"])]}}, master=True)
    assert (await client.request("GET", path, session=bob["sessionToken"])).status_code == 404


async def test_inherited_roles_grant_access(client: ParseClient, people) -> None:
    bob = people["bob"]
    staff = await client.request("POST", "/roles", {"name": "Staff", "ACL": {"*": {"read": True}}}, master=True)
    await client.request("POST", "/roles", {
        "name": "Admins", "ACL": {"*": {"read": True}},
        "users": {"__op": "AddRelation", "objects": [ptr("_User", bob["objectId"])]}}, master=True)
    admins = (await client.request("GET", "/roles", params={"where": {"name": "Admins"}}, master=True)).json()
    # members of Admins get Staff's permissions when Staff's `roles` holds Admins
    await client.request("PUT", f"/roles/{staff.json()['objectId']}", {
        "roles": {"__op": "AddRelation", "objects": [ptr("_Role", admins["results"][0]["objectId"])]}}, master=True)
    note = await client.create("Note", {"text": "staff", "ACL": {"role:Staff": {"read": True}}}, master=True)
    answer = await client.request("GET", f"/classes/Note/{note['objectId']}", session=bob["sessionToken"])
    assert answer.status_code == 200


@pytest.mark.parametrize(("body", "code"), [
    ({"ACL": {"*": {"read": True}}}, 111),
    ({"name": "NoAcl"}, 111),
    ({"name": "bad/name", "ACL": {}}, 139),
])
async def test_role_validation(client: ParseClient, body: dict, code: int) -> None:
    response = await client.request("POST", "/roles", body, master=True)
    assert response.json()["code"] == code


async def test_role_names_are_unique_and_cannot_change(client: ParseClient) -> None:
    first = await client.request("POST", "/roles", {"name": "Mods", "ACL": {}}, master=True)
    again = await client.request("POST", "/roles", {"name": "Mods", "ACL": {}}, master=True)
    assert again.json()["code"] == 137
    rename = await client.request("PUT", f"/roles/{first.json()['objectId']}", {"name": "Other"}, master=True)
    assert rename.json()["code"] == 136


async def test_class_level_permissions_forbid_operations(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    await client.request("POST", "/schemas/Event", {"fields": {"title": {"type": "String"}},
                                                    "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "count": {}, "create": {ann["objectId"]: True},
        "update": {"requiresAuthentication": True}, "delete": {}, "addField": {}}}, master=True)
    created = await client.create("Event", {"title": "t"}, session=ann["sessionToken"])
    refused = await client.request("POST", "/classes/Event", {"title": "x"}, session=bob["sessionToken"])
    assert refused.json() == {"code": 119, "error": "Permission denied for action create on class Event."}
    counting = await client.request("GET", "/classes/Event", params={"count": 1, "limit": 0})
    assert counting.json()["code"] == 119
    anonymous_update = await client.request("PUT", f"/classes/Event/{created['objectId']}", {"title": "y"})
    assert anonymous_update.json()["code"] == 101
    assert (await client.request("PUT", f"/classes/Event/{created['objectId']}", {"title": "y"},
                                 session=bob["sessionToken"])).status_code == 200
    new_field = await client.request("PUT", f"/classes/Event/{created['objectId']}", {"extra": 1},
                                     session=bob["sessionToken"])
    assert new_field.json()["code"] == 119
    assert (await client.request("DELETE", f"/classes/Event/{created['objectId']}",
                                 session=ann["sessionToken"])).json()["code"] == 119


async def test_pointer_permissions_let_only_the_owner_read(client: ParseClient, people) -> None:
    ann, bob = people["ann"], people["bob"]
    await client.request("POST", "/schemas/Booking", {"fields": {"owner": {"type": "Pointer", "targetClass": "_User"}},
                                                      "classLevelPermissions": {
        "find": {}, "get": {}, "create": {"*": True}, "readUserFields": ["owner"]}}, master=True)
    await client.create("Booking", {"owner": ptr("_User", ann["objectId"])}, session=ann["sessionToken"])
    assert len((await client.request("GET", "/classes/Booking", session=ann["sessionToken"])).json()["results"]) == 1
    assert (await client.request("GET", "/classes/Booking", session=bob["sessionToken"])).json()["results"] == []


async def test_protected_fields_are_hidden(client: ParseClient, people) -> None:
    await client.request("POST", "/schemas/Profile", {"fields": {"phone": {"type": "String"}},
                                                      "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "create": {"*": True},
        "protectedFields": {"*": ["phone"]}}}, master=True)
    await client.create("Profile", {"phone": "555", "name": "x"}, session=people["ann"]["sessionToken"])
    seen = (await client.request("GET", "/classes/Profile", session=people["bob"]["sessionToken"])).json()
    assert seen["results"][0]["name"] == "x" and "phone" not in seen["results"][0]
    assert (await client.request("GET", "/classes/Profile", master=True)).json()["results"][0]["phone"] == "555"


async def test_invalid_class_level_permissions_are_107(client: ParseClient) -> None:
    response = await client.request("POST", "/schemas/Bad", {"classLevelPermissions": {"fly": {"*": True}}},
                                    master=True)
    assert response.json()["code"] == 107


async def test_without_the_flag_only_the_master_key_creates_classes(tmp_path) -> None:
    import httpx

    from api.app import create_app

    application = create_app(make_settings(tmp_path, allow_client_class_creation=False))
    await application.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            headers = {"X-Parse-Application-Id": APP_ID}
            refused = await http.post("/parse/classes/Fresh", json={"a": 1}, headers=headers)
            assert refused.json() == {"code": 119,
                                      "error": "This user is not allowed to access non-existent class: Fresh"}
            made = await http.post("/parse/classes/Fresh", json={"a": 1},
                                   headers={**headers, "X-Parse-Master-Key": MASTER_KEY})
            assert made.status_code == 201
            assert (await http.post("/parse/classes/Fresh", json={"a": 2}, headers=headers)).status_code == 201
            signup = await http.post("/parse/users", json={"username": "u", "password": "p"}, headers=headers)
            assert signup.status_code == 201
    finally:
        await application.state.services.stop()


async def test_querying_a_protected_field_is_119_even_inside_or(client: ParseClient, people) -> None:
    await client.request("POST", "/schemas/Profile", {"fields": {"phone": {"type": "String"}},
                                                      "classLevelPermissions": {
        "find": {"*": True}, "get": {"*": True}, "count": {"*": True}, "create": {"*": True},
        "protectedFields": {"*": ["phone"]}}}, master=True)
    await client.create("Profile", {"phone": "555"}, session=people["ann"]["sessionToken"])
    for where in ({"phone": "555"}, {"$or": [{"phone": "555"}, {"x": 1}]}):
        response = await client.request("GET", "/classes/Profile", params={"where": where, "count": 1},
                                        session=people["bob"]["sessionToken"])
        assert response.json() == {"code": 119, "error": "This user is not allowed to query phone on class Profile"}
    assert len((await client.request("GET", "/classes/Profile", params={"where": {"phone": "555"}},
                                     master=True)).json()["results"]) == 1


async def test_roles_are_found_fetched_and_destroyed_through_classes_role(client: ParseClient) -> None:
    created = await client.request("POST", "/classes/_Role", {"name": "Ops", "ACL": {"*": {"read": True}}},
                                   master=True)
    oid = created.json()["objectId"]
    found = await client.request("GET", "/classes/_Role", params={"where": {"name": "Ops"}})
    assert [r["objectId"] for r in found.json()["results"]] == [oid]
    assert (await client.request("GET", f"/classes/_Role/{oid}")).json()["name"] == "Ops"
    assert (await client.request("DELETE", f"/classes/_Role/{oid}", master=True)).json() == {}
