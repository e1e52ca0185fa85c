"""Objects over REST: the shapes Parse clients rely on for create, get, update and delete."""
from __future__ import annotations

import asyncio
import re

from tests.api.conftest import ParseClient

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_answers_201_with_location_object_id_and_created_at(client: ParseClient) -> None:
    response = await client.request("POST", "/classes/GameScore", {"score": 1337, "playerName": "Sean"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"objectId", "createdAt"}
    assert re.match(r"^[A-Za-z0-9]{10}$", body["objectId"])
    assert ISO.match(body["createdAt"])
    assert response.headers["location"] == f"http://127.0.0.1:1337/parse/classes/GameScore/{body['objectId']}"


async def test_get_returns_every_field_with_iso_timestamps(client: ParseClient) -> None:
    created = await client.create("GameScore", {"score": 1, "tags": ["a"], "meta": {"level": 2}})
    response = await client.request("GET", f"/classes/GameScore/{created['objectId']}")
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == 1 and body["tags"] == ["a"] and body["meta"] == {"level": 2}
    assert body["createdAt"] == created["createdAt"] == body["updatedAt"]


async def test_every_parse_type_round_trips(client: ParseClient) -> None:
    values = {
        "when": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"},
        "owner": {"__type": "Pointer", "className": "Player", "objectId": "abc1234567"},
        "place": {"__type": "GeoPoint", "latitude": 40.0, "longitude": -30.0},
        "area": {"__type": "Polygon", "coordinates": [[0, 0], [0, 1], [1, 1]]},
        "file": {"__type": "File", "name": "a.txt"},
        "raw": {"__type": "Bytes", "base64": "aGVsbG8="},
        "nested": {"a": [1, {"b": None}]},
        "nothing": None,
        "flag": False,
    }
    created = await client.create("Typed", values)
    got = (await client.request("GET", f"/classes/Typed/{created['objectId']}")).json()
    for key, value in values.items():
        if key == "file":  # stored by name; the URL is the server's, as Parse Server answers it
            assert got[key] == {"__type": "File", "name": "a.txt",
                                "url": "http://127.0.0.1:1337/parse/files/test-app/a.txt"}
        elif key == "area":
            assert got[key]["coordinates"] == [[0, 0], [0, 1], [1, 1], [0, 0]]  # the ring is closed
        else:
            assert got[key] == value, key


async def test_a_dotted_key_in_a_create_builds_a_nested_object(client: ParseClient) -> None:
    created = await client.create("Nest", {"a.b": 1, "a.c": 2})
    got = (await client.request("GET", f"/classes/Nest/{created['objectId']}")).json()
    assert got["a"] == {"b": 1, "c": 2} and "a.b" not in got


async def test_a_deeply_nested_object_is_stored_intact(client: ParseClient) -> None:
    deep: dict = {"leaf": True}
    for _ in range(200):
        deep = {"n": deep}
    created = await client.create("Deep", {"d": deep})
    got = (await client.request("GET", f"/classes/Deep/{created['objectId']}")).json()
    assert got["d"] == deep


async def test_update_answers_updated_at_and_echoes_operation_results(client: ParseClient) -> None:
    created = await client.create("Counter", {"n": 1, "items": ["a"]})
    response = await client.request("PUT", f"/classes/Counter/{created['objectId']}", {
        "n": {"__op": "Increment", "amount": 2}, "items": {"__op": "Add", "objects": ["b"]}, "label": "x"})
    assert response.status_code == 200
    body = response.json()
    assert ISO.match(body["updatedAt"]) and body["n"] == 3 and body["items"] == ["a", "b"]
    assert "label" not in body


async def test_operations_apply_as_parse_defines_them(client: ParseClient) -> None:
    created = await client.create("Ops", {"list": [1, 2, 2, 3], "gone": "x", "stats": {"wins": 1}})
    oid = created["objectId"]
    await client.request("PUT", f"/classes/Ops/{oid}", {
        "list": {"__op": "Remove", "objects": [2]},
        "gone": {"__op": "Delete"},
        "stats.wins": {"__op": "Increment", "amount": 4},
        "fresh": {"__op": "Increment", "amount": -2},
        "set": {"__op": "AddUnique", "objects": ["a", "a", "b"]},
    })
    got = (await client.request("GET", f"/classes/Ops/{oid}")).json()
    assert got["list"] == [1, 3]
    assert "gone" not in got
    assert got["stats"] == {"wins": 5}
    assert got["fresh"] == -2
    assert sorted(got["set"]) == ["a", "b"]


async def test_operations_in_a_create_are_flattened(client: ParseClient) -> None:
    created = await client.create("Flat", {"n": {"__op": "Increment", "amount": 5},
                                           "l": {"__op": "AddUnique", "objects": [1, 1]},
                                           "d": {"__op": "Delete"}})
    got = (await client.request("GET", f"/classes/Flat/{created['objectId']}")).json()
    assert got["n"] == 5 and got["l"] == [1] and "d" not in got


async def test_concurrent_increments_never_lose_one(client: ParseClient) -> None:
    created = await client.create("Counter", {"n": 0})
    oid = created["objectId"]
    responses = await asyncio.gather(*[
        client.request("PUT", f"/classes/Counter/{oid}", {"n": {"__op": "Increment", "amount": 1}})
        for _ in range(40)])
    assert all(r.status_code == 200 for r in responses)
    got = (await client.request("GET", f"/classes/Counter/{oid}")).json()
    assert got["n"] == 40
    assert sorted(r.json()["n"] for r in responses) == list(range(1, 41))


async def test_delete_answers_empty_object_and_the_object_is_gone(client: ParseClient) -> None:
    created = await client.create("Temp", {"x": 1})
    response = await client.request("DELETE", f"/classes/Temp/{created['objectId']}")
    assert response.status_code == 200 and response.json() == {}
    missing = await client.request("GET", f"/classes/Temp/{created['objectId']}")
    assert missing.status_code == 404
    assert missing.json() == {"code": 101, "error": "Object not found."}


async def test_update_or_delete_of_a_missing_object_is_101(client: ParseClient) -> None:
    await client.create("Temp", {"x": 1})
    for method, body in (("PUT", {"x": 2}), ("DELETE", None)):
        response = await client.request(method, "/classes/Temp/doesNotExist", body)
        assert response.status_code == 404 and response.json()["code"] == 101


async def test_relations_are_added_removed_and_read_as_relation(client: ParseClient) -> None:
    players = [await client.create("Player", {"name": n}) for n in ("a", "b", "c")]
    team = await client.create("Team", {"name": "t"})
    pointers = [{"__type": "Pointer", "className": "Player", "objectId": p["objectId"]} for p in players]
    await client.request("PUT", f"/classes/Team/{team['objectId']}",
                         {"members": {"__op": "AddRelation", "objects": pointers}})
    await client.request("PUT", f"/classes/Team/{team['objectId']}",
                         {"members": {"__op": "RemoveRelation", "objects": pointers[:1]}})
    got = (await client.request("GET", f"/classes/Team/{team['objectId']}")).json()
    assert got["members"] == {"__type": "Relation", "className": "Player"}
    related = await client.find("Player", where={"$relatedTo": {
        "object": {"__type": "Pointer", "className": "Team", "objectId": team["objectId"]}, "key": "members"}})
    assert sorted(r["name"] for r in related) == ["b", "c"]


async def test_client_writes_to_created_at_and_updated_at_are_ignored(client: ParseClient) -> None:
    created = await client.create("Stamp", {"createdAt": "1999-01-01T00:00:00.000Z", "x": 1})
    got = (await client.request("GET", f"/classes/Stamp/{created['objectId']}")).json()
    assert got["createdAt"] == created["createdAt"] != "1999-01-01T00:00:00.000Z"
