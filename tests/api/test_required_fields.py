"""`/schemas` field options `required` and `defaultValue`, enforced on every write as Parse Server enforces them."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ParseClient

WHEN = {"__type": "Date", "iso": "2025-01-02T03:04:05.000Z"}


async def make_class(client: ParseClient, class_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    response = await client.request("POST", f"/schemas/{class_name}", {"fields": fields}, master=True)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def review(client: ParseClient) -> None:
    await make_class(client, "Review", {
        "stars": {"type": "Number", "required": True},
        "status": {"type": "String", "defaultValue": "pending"},
        "score": {"type": "Number", "required": True, "defaultValue": 3},
        "comment": {"type": "String"},
    })


async def test_schema_answers_required_and_default_value_as_parse_does(client: ParseClient) -> None:
    created = await make_class(client, "Review", {
        "stars": {"type": "Number", "required": True},
        "status": {"type": "String", "defaultValue": "pending"},
        "when": {"type": "Date", "defaultValue": WHEN},
        "movie": {"type": "Pointer", "targetClass": "Movie", "required": True},
        "plain": {"type": "String", "required": False},
    })
    fields = (await client.request("GET", "/schemas/Review", master=True)).json()["fields"]
    assert created["fields"] == fields
    assert fields["stars"] == {"type": "Number", "required": True}
    assert fields["status"] == {"type": "String", "defaultValue": "pending"}
    assert fields["when"] == {"type": "Date", "defaultValue": WHEN}
    assert fields["movie"] == {"type": "Pointer", "targetClass": "Movie", "required": True}
    assert fields["plain"] == {"type": "String", "required": False}  # echoed as given, as Parse Server does
    listed = (await client.request("GET", "/schemas", master=True)).json()["results"]
    assert next(s for s in listed if s["className"] == "Review")["fields"] == fields


async def test_create_without_a_required_field_is_refused_with_142(client: ParseClient, review: None) -> None:
    response = await client.request("POST", "/classes/Review", {"comment": "fine"})
    assert response.status_code == 400
    assert response.json() == {"code": 142, "error": "stars is required"}
    assert await client.find("Review") == []


@pytest.mark.parametrize("value", [None, "", {"__op": "Delete"}])
async def test_a_null_empty_or_deleted_required_value_is_missing(client: ParseClient, review: None,
                                                                  value: Any) -> None:
    response = await client.request("POST", "/classes/Review", {"stars": value})
    assert response.json() == {"code": 142, "error": "stars is required"}


async def test_a_default_is_filled_in_on_create_and_answered(client: ParseClient, review: None) -> None:
    created = await client.create("Review", {"stars": 5})
    assert created["status"] == "pending" and created["score"] == 3
    assert set(created) == {"objectId", "createdAt", "status", "score"}
    stored = (await client.request("GET", f"/classes/Review/{created['objectId']}")).json()
    assert (stored["stars"], stored["status"], stored["score"]) == (5, "pending", 3)
    assert "comment" not in stored


async def test_a_sent_value_wins_over_the_default(client: ParseClient, review: None) -> None:
    created = await client.create("Review", {"stars": 5, "status": "done"})
    assert set(created) == {"objectId", "createdAt", "score"}
    stored = (await client.request("GET", f"/classes/Review/{created['objectId']}")).json()
    assert stored["status"] == "done"


async def test_null_keeps_an_optional_field_null_but_a_delete_op_gets_the_default(client: ParseClient,
                                                                                   review: None) -> None:
    nulled = await client.create("Review", {"stars": 1, "status": None})
    stored = (await client.request("GET", f"/classes/Review/{nulled['objectId']}")).json()
    assert stored.get("status") is None
    deleted = await client.create("Review", {"stars": 1, "status": {"__op": "Delete"}})
    assert deleted["status"] == "pending"


async def test_null_for_a_required_field_with_a_default_is_refused(client: ParseClient, review: None) -> None:
    response = await client.request("POST", "/classes/Review", {"stars": 1, "score": None})
    assert response.json() == {"code": 142, "error": "score is required"}


@pytest.mark.parametrize("value", [None, "", {"__op": "Delete"}])
async def test_an_update_cannot_unset_a_required_field(client: ParseClient, review: None, value: Any) -> None:
    created = await client.create("Review", {"stars": 4})
    response = await client.request("PUT", f"/classes/Review/{created['objectId']}", {"stars": value})
    assert response.status_code == 400
    assert response.json() == {"code": 142, "error": "stars is required"}
    stored = (await client.request("GET", f"/classes/Review/{created['objectId']}")).json()
    assert stored["stars"] == 4


async def test_an_update_that_leaves_required_fields_alone_succeeds(client: ParseClient, review: None) -> None:
    created = await client.create("Review", {"stars": 4})
    response = await client.request("PUT", f"/classes/Review/{created['objectId']}",
                                    {"comment": "ok", "status": None, "stars": {"__op": "Increment", "amount": 1}})
    assert response.status_code == 200, response.text
    stored = (await client.request("GET", f"/classes/Review/{created['objectId']}")).json()
    assert stored["stars"] == 5 and stored["comment"] == "ok" and stored.get("status") is None


async def test_a_refused_create_adds_no_field_to_the_schema(client: ParseClient, review: None) -> None:
    response = await client.request("POST", "/classes/Review", {"brandNew": 1})
    assert response.json()["code"] == 142
    fields = (await client.request("GET", "/schemas/Review", master=True)).json()["fields"]
    assert "brandNew" not in fields


async def test_the_master_key_is_held_to_required_fields_too(client: ParseClient, review: None) -> None:
    response = await client.request("POST", "/classes/Review", {}, master=True)
    assert response.json() == {"code": 142, "error": "stars is required"}


async def test_a_batch_create_missing_a_required_field_fails_alone(client: ParseClient, review: None) -> None:
    response = await client.request("POST", "/batch", {"requests": [
        {"method": "POST", "path": "/parse/classes/Review", "body": {"stars": 2}},
        {"method": "POST", "path": "/parse/classes/Review", "body": {"comment": "no stars"}},
    ]})
    first, second = response.json()
    assert first["success"]["status"] == "pending"
    assert second == {"error": {"code": 142, "error": "stars is required"}}


async def test_options_are_added_with_new_fields_by_put_and_dropped_with_the_field(client: ParseClient) -> None:
    await make_class(client, "Task", {"title": {"type": "String"}})
    updated = await client.request("PUT", "/schemas/Task", {"fields": {
        "priority": {"type": "Number", "required": True, "defaultValue": 1}}}, master=True)
    assert updated.json()["fields"]["priority"] == {"type": "Number", "required": True, "defaultValue": 1}
    assert (await client.create("Task", {"title": "t"}))["priority"] == 1
    await client.request("PUT", "/schemas/Task", {"fields": {"priority": {"__op": "Delete"}}}, master=True)
    readded = await client.request("PUT", "/schemas/Task", {"fields": {"priority": {"type": "Number"}}}, master=True)
    assert readded.json()["fields"]["priority"] == {"type": "Number"}
    assert "priority" not in await client.create("Task", {"title": "t"})


async def test_a_user_sign_up_gets_defaults_and_is_held_to_required_fields(client: ParseClient) -> None:
    await client.request("PUT", "/schemas/_User", {"fields": {
        "role": {"type": "String", "required": True}, "plan": {"type": "String", "defaultValue": "free"}}},
        master=True)
    refused = await client.request("POST", "/users", {"username": "ann", "password": "pw"})
    assert refused.json() == {"code": 142, "error": "role is required"}
    signed_up = await client.request("POST", "/users", {"username": "ann", "password": "pw", "role": "host"})
    assert signed_up.status_code == 201, signed_up.text
    assert signed_up.json()["plan"] == "free"


@pytest.mark.parametrize("spec, code, message", [
    ({"type": "Number", "defaultValue": "three"}, 111,
     "schema mismatch for Bad.f default value; expected Number but got String"),
    ({"type": "Pointer", "targetClass": "A", "defaultValue": {"__type": "Pointer", "className": "B",
                                                               "objectId": "x"}}, 111,
     "schema mismatch for Bad.f default value; expected Pointer<A> but got Pointer<B>"),
    ({"type": "Relation", "targetClass": "A", "required": True}, 111,
     "The 'required' option is not applicable for Relation<A>"),
    ({"type": "String", "required": "yes"}, 107, "required of Bad.f must be true or false"),
])
async def test_invalid_field_options_are_refused(client: ParseClient, spec: dict[str, Any], code: int,
                                                 message: str) -> None:
    response = await client.request("POST", "/schemas/Bad", {"fields": {"f": spec}}, master=True)
    assert response.json() == {"code": code, "error": message}
    assert (await client.request("GET", "/schemas/Bad", master=True)).json()["code"] == 103
