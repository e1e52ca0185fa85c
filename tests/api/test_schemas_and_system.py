"""`/schemas`, `/purge`, `/serverInfo`, `/config` and `/health`."""
from __future__ import annotations

from tests.api.conftest import ParseClient


async def test_schema_is_created_on_first_write_with_inferred_types(client: ParseClient) -> None:
    await client.create("Game", {"score": 1, "name": "x", "when": {"__type": "Date", "iso": "2024-01-01T00:00:00Z"},
                                 "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"}})
    schema = (await client.request("GET", "/schemas/Game", master=True)).json()
    assert schema["className"] == "Game"
    assert schema["fields"]["score"] == {"type": "Number"}
    assert schema["fields"]["when"] == {"type": "Date"}
    assert schema["fields"]["owner"] == {"type": "Pointer", "targetClass": "_User"}
    assert schema["fields"]["objectId"] == {"type": "String"}


async def test_schema_api_creates_updates_and_deletes_a_class(client: ParseClient) -> None:
    created = await client.request("POST", "/schemas/Venue", {"className": "Venue", "fields": {
        "name": {"type": "String"}, "host": {"type": "Pointer", "targetClass": "_User"}}}, master=True)
    assert created.status_code == 200, created.text
    assert created.json()["fields"]["host"] == {"type": "Pointer", "targetClass": "_User"}
    again = await client.request("POST", "/schemas/Venue", {"className": "Venue"}, master=True)
    assert again.json() == {"code": 103, "error": "Class Venue already exists."}
    updated = await client.request("PUT", "/schemas/Venue", {"fields": {
        "capacity": {"type": "Number"}, "name": {"__op": "Delete"}}}, master=True)
    assert "capacity" in updated.json()["fields"] and "name" not in updated.json()["fields"]
    clash = await client.request("PUT", "/schemas/Venue", {"fields": {"capacity": {"type": "String"}}}, master=True)
    assert clash.json()["code"] == 255
    bad_type = await client.request("PUT", "/schemas/Venue", {"fields": {"x": {"type": "Blob"}}}, master=True)
    assert bad_type.json()["code"] == 111
    await client.create("Venue", {"capacity": 3})
    not_empty = await client.request("DELETE", "/schemas/Venue", master=True)
    assert not_empty.json()["code"] == 255
    await client.request("DELETE", "/purge/Venue", master=True)
    assert (await client.request("DELETE", "/schemas/Venue", master=True)).json() == {}
    missing = await client.request("GET", "/schemas/Venue", master=True)
    assert missing.json() == {"code": 103, "error": "Class Venue does not exist."}


async def test_a_declared_type_is_enforced_on_writes(client: ParseClient) -> None:
    await client.request("POST", "/schemas/Typed", {"fields": {"n": {"type": "Number"}}}, master=True)
    response = await client.request("POST", "/classes/Typed", {"n": "text"})
    assert response.json()["code"] == 111


async def test_purge_empties_a_class_but_keeps_its_schema(client: ParseClient) -> None:
    for i in range(3):
        await client.create("Junk", {"i": i})
    assert (await client.request("DELETE", "/purge/Junk", master=True)).json() == {}
    assert await client.find("Junk") == []
    assert (await client.request("GET", "/schemas/Junk", master=True)).json()["fields"]["i"] == {"type": "Number"}


async def test_server_info_reports_version_and_features(client: ParseClient) -> None:
    body = (await client.request("GET", "/serverInfo", master=True)).json()
    assert body["parseServerVersion"].startswith("7.")
    assert body["features"]["schemas"]["addClass"] is True


async def test_config_is_set_by_master_and_read_by_anyone_without_master_only_params(client: ParseClient) -> None:
    assert (await client.request("GET", "/config")).json() == {"params": {}}
    put = await client.request("PUT", "/config", {"params": {"welcome": "hi", "secret": 42},
                                                  "masterKeyOnly": {"secret": True}}, master=True)
    assert put.json() == {"result": True}
    assert (await client.request("GET", "/config")).json() == {"params": {"welcome": "hi"}}
    master_view = (await client.request("GET", "/config", master=True)).json()
    assert master_view == {"params": {"welcome": "hi", "secret": 42}, "masterKeyOnly": {"secret": True}}
    assert (await client.request("PUT", "/config", {"params": {"x": 1}})).status_code == 403


async def test_health_reports_ok_and_the_bus(client: ParseClient) -> None:
    body = (await client.http.get("/parse/health")).json()
    assert body["status"] == "ok" and body["bus"]["bus"] == "memory"


async def test_deleting_a_class_that_does_not_exist_succeeds_as_in_parse(client: ParseClient) -> None:
    response = await client.request("DELETE", "/schemas/Missing", master=True)
    assert (response.status_code, response.json()) == (200, {})
    invalid = await client.request("DELETE", "/schemas/9bad", master=True)
    assert invalid.json()["code"] == 103


async def test_indexes_are_added_listed_and_deleted_through_the_schema_api(client: ParseClient) -> None:
    await client.request("POST", "/schemas/Indexed", {}, master=True)
    added = await client.request("PUT", "/schemas/Indexed", {
        "fields": {"a": {"type": "String"}, "b": {"type": "String"}, "c": {"type": "Number"}},
        "indexes": {"name1": {"a": 1}, "name2": {"b": 1, "c": -1}, "byDate": {"createdAt": 1}}}, master=True)
    assert added.json()["indexes"] == {"_id_": {"_id": 1}, "name1": {"a": 1}, "name2": {"b": 1, "c": -1},
                                       "byDate": {"createdAt": 1}}
    dropped = await client.request("PUT", "/schemas/Indexed", {"indexes": {"name1": {"__op": "Delete"}}},
                                   master=True)
    assert set(dropped.json()["indexes"]) == {"_id_", "name2", "byDate"}
    assert (await client.request("GET", "/schemas/Indexed", master=True)).json()["indexes"] == \
        dropped.json()["indexes"]
    missing = await client.request("PUT", "/schemas/Indexed", {"indexes": {"nope": {"__op": "Delete"}}},
                                   master=True)
    assert missing.json() == {"code": 102, "error": "Index nope does not exist, cannot delete."}
    again = await client.request("PUT", "/schemas/Indexed", {"indexes": {"name2": {"a": 1}}}, master=True)
    assert again.json() == {"code": 102, "error": "Index name2 exists, cannot update."}
    unknown = await client.request("PUT", "/schemas/Indexed", {"indexes": {"x": {"zzz": 1}}}, master=True)
    assert unknown.json() == {"code": 102, "error": "Field zzz does not exist, cannot add index."}
    field_gone = await client.request("PUT", "/schemas/Indexed", {"fields": {"b": {"__op": "Delete"}}}, master=True)
    assert set(field_gone.json()["indexes"]) == {"_id_", "byDate"}  # an index on a deleted field goes with it
