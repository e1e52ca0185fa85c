"""`/aggregate/{className}`: pipelines and distinct values on the MongoDB store (always on MongoDB here: the
session's SecantusDB, or MONGODB_URI), and a clear 102 on the SQLite store, which has no pipelines."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.api.conftest import APP_ID, MASTER_KEY, ParseClient, make_settings
from tests.storage.mongo_server import fresh_database

NOT_SUPPORTED = {"code": 102, "error": "aggregate is only available with the MongoDB store"}
MASTER_REQUIRED = {"error": "unauthorized: master key is required"}


def ptr(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


@asynccontextmanager
async def serving(tmp_path: Path, database_uri: str) -> AsyncIterator[ParseClient]:
    application = create_app(make_settings(tmp_path, database_uri=database_uri))
    await application.state.services.start()
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield ParseClient(http)
    finally:
        await application.state.services.stop()


@pytest.fixture
async def mongo(tmp_path: Path) -> AsyncIterator[ParseClient]:
    with fresh_database() as uri:
        async with serving(tmp_path, uri) as client:
            yield client


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[ParseClient]:
    async with serving(tmp_path, f"sqlite:///{tmp_path / 'aggregate.db'}") as client:
        yield client


async def scores(client: ParseClient) -> dict[str, str]:
    """Five GameScores of three players (two Players, one score without a player); their objectIds by name."""
    players = {name: (await client.create("Player", {"name": name}, master=True))["objectId"]
               for name in ("ann", "bob")}
    rows = [("ann", 10, ["a", "b"]), ("ann", 20, ["b"]), ("bob", 5, ["c"]), ("bob", 7, []), ("cat", 1, None)]
    for name, score, tags in rows:
        body: dict[str, Any] = {"playerName": name, "score": score}
        if name in players:
            body["player"] = ptr("Player", players[name])
        if tags is not None:
            body["tags"] = tags
        await client.create("GameScore", body, master=True)
    return players


async def aggregate(client: ParseClient, class_name: str = "GameScore", *, master: bool = True,
                    **params: Any) -> httpx.Response:
    return await client.request("GET", f"/aggregate/{class_name}", params=params, master=master)


def by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["objectId"]: row for row in rows}


# --- pipelines ------------------------------------------------------------------------------------------------

async def test_group_renames_id_to_object_id(mongo: ParseClient) -> None:
    await scores(mongo)
    response = await aggregate(mongo, pipeline=[{"$group": {"_id": "$playerName", "total": {"$sum": "$score"}}}])
    assert response.status_code == 200, response.text
    assert by_id(response.json()["results"]) == {"ann": {"objectId": "ann", "total": 30},
                                                 "bob": {"objectId": "bob", "total": 12},
                                                 "cat": {"objectId": "cat", "total": 1}}


async def test_group_by_a_pointer_gives_the_pointed_to_object_id(mongo: ParseClient) -> None:
    players = await scores(mongo)
    response = await aggregate(mongo, pipeline=[{"$group": {"_id": "$player", "n": {"$sum": 1}}}])
    assert by_id(response.json()["results"]) == {players["ann"]: {"objectId": players["ann"], "n": 2},
                                                 players["bob"]: {"objectId": players["bob"], "n": 2},
                                                 None: {"objectId": None, "n": 1}}


async def test_group_by_nothing_counts_everything(mongo: ParseClient) -> None:
    await scores(mongo)
    response = await aggregate(mongo, pipeline=[{"$group": {"_id": None, "n": {"$sum": 1},
                                                            "best": {"$max": "$score"}}}])
    assert response.json() == {"results": [{"objectId": None, "n": 5, "best": 20}]}


async def test_match_takes_rest_names_pointers_and_dates(mongo: ParseClient) -> None:
    players = await scores(mongo)
    by_pointer = await aggregate(mongo, pipeline=[{"$match": {"player": players["ann"]}},
                                                  {"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert by_pointer.json()["results"] == [{"objectId": None, "n": 2}]
    as_pointer = await aggregate(mongo, pipeline=[{"$match": {"player": ptr("Player", players["bob"])}},
                                                  {"$project": {"score": 1}}, {"$sort": {"score": 1}}])
    assert [row["score"] for row in as_pointer.json()["results"]] == [5, 7]
    since = {"$gte": {"__type": "Date", "iso": "2000-01-01T00:00:00.000Z"}}
    dated = await aggregate(mongo, pipeline=[{"$match": {"createdAt": since, "$or": [{"score": 1}, {"score": 5}]}},
                                             {"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert dated.json()["results"] == [{"objectId": None, "n": 2}]
    future = await aggregate(mongo, pipeline=[{"$match": {"createdAt": {"$gt": "2999-01-01T00:00:00.000Z"}}}])
    assert future.json() == {"results": []}


async def test_project_and_sort_read_as_rest_fields(mongo: ParseClient) -> None:
    players = await scores(mongo)
    response = await aggregate(mongo, pipeline=[{"$match": {"playerName": "ann"}},
                                                {"$project": {"player": 1, "createdAt": 1, "score": 1}},
                                                {"$sort": {"createdAt": -1}}])
    rows = response.json()["results"]
    assert [row["score"] for row in rows] == [20, 10]
    for row in rows:
        assert set(row) == {"objectId", "player", "createdAt", "score"}
        assert row["player"] == ptr("Player", players["ann"])
        assert isinstance(row["createdAt"], str) and row["createdAt"].endswith("Z")


async def test_rows_of_whole_objects_carry_no_internal_keys(mongo: ParseClient) -> None:
    await mongo.request("POST", "/users", {"username": "ann", "password": "pw"})
    response = await aggregate(mongo, "_User", pipeline=[{"$match": {"username": "ann"}}])
    [row] = response.json()["results"]
    assert row["username"] == "ann" and isinstance(row["objectId"], str)
    assert not any(key.startswith("_") for key in row) and "password" not in row and "ACL" not in row


async def test_a_pipeline_object_is_split_into_stages(mongo: ParseClient) -> None:
    await scores(mongo)
    response = await aggregate(mongo, pipeline={"$match": {"score": {"$gt": 6}}, "$count": "n"})
    assert response.json() == {"results": [{"n": 3}]}


async def test_the_js_sdk_style_post_with_method_get(mongo: ParseClient) -> None:
    await scores(mongo)
    body = {"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": MASTER_KEY,
            "pipeline": [{"$match": {"playerName": "cat"}}, {"$project": {"score": 1, "_id": 0}}]}
    response = await mongo.request("POST", "/aggregate/GameScore", body, headers={"Content-Type": "text/plain"})
    assert response.json() == {"results": [{"score": 1}]}


async def test_an_unknown_class_has_no_results(mongo: ParseClient) -> None:
    assert (await aggregate(mongo, "Nothing", pipeline=[{"$match": {}}])).json() == {"results": []}
    assert (await aggregate(mongo, "Nothing", distinct="a")).json() == {"results": []}


@pytest.mark.parametrize(("pipeline", "message"), [
    ([{"$match": {}, "$limit": 1}], "Pipeline stages should only have one key but found $match, $limit"),
    ([{"match": {}}], "Invalid aggregate stage 'match'."),
    ([{"$group": {"n": {"$sum": 1}}}], "Invalid parameter for query: group. Missing key _id"),
    ([{"$group": {"_id": None, "objectId": "$score"}}], "Cannot use 'objectId' in aggregation stage $group."),
    ([{"$out": "Stolen"}], "Invalid aggregate stage '$out': aggregate only reads."),
    ([{"$merge": {"into": "GameScore"}}], "Invalid aggregate stage '$merge': aggregate only reads."),
    ("not stages", "pipeline must be an array of stages"),
])
async def test_malformed_pipelines_are_102(mongo: ParseClient, pipeline: Any, message: str) -> None:
    await scores(mongo)
    response = await aggregate(mongo, pipeline=pipeline)
    assert response.status_code == 400 and response.json() == {"code": 102, "error": message}


async def test_a_stage_mongodb_refuses_is_102(mongo: ParseClient) -> None:
    await scores(mongo)
    response = await aggregate(mongo, pipeline=[{"$frobnicate": {}}])
    assert response.status_code == 400 and response.json()["code"] == 102


# --- distinct -------------------------------------------------------------------------------------------------

async def test_distinct_values_of_a_field(mongo: ParseClient) -> None:
    players = await scores(mongo)
    names = await aggregate(mongo, distinct="playerName")
    assert sorted(names.json()["results"]) == ["ann", "bob", "cat"]
    high = await aggregate(mongo, distinct="playerName", where={"score": {"$gte": 7}})
    assert sorted(high.json()["results"]) == ["ann", "bob"]
    tags = await aggregate(mongo, distinct="tags")
    assert sorted(tags.json()["results"]) == ["a", "b", "c"]  # an array gives its elements
    pointers = (await aggregate(mongo, distinct="player")).json()["results"]
    assert sorted(pointers, key=lambda p: p["objectId"]) == sorted(
        [ptr("Player", players["ann"]), ptr("Player", players["bob"])], key=lambda p: p["objectId"])
    in_query = {"player": {"$inQuery": {"className": "Player", "where": {"name": "bob"}}}}
    scores_of_bob = await aggregate(mongo, distinct="score", where=in_query)
    assert sorted(scores_of_bob.json()["results"]) == [5, 7]


async def test_distinct_dates_are_parse_dates(mongo: ParseClient) -> None:
    await mongo.create("Event", {"at": {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}}, master=True)
    response = await aggregate(mongo, "Event", distinct="at")
    assert response.json() == {"results": [{"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}]}


# --- who may, and where ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{"pipeline": [{"$match": {}}]}, {"distinct": "score"}])
async def test_only_the_master_key_aggregates(mongo: ParseClient, params: dict[str, Any]) -> None:
    await scores(mongo)
    response = await aggregate(mongo, master=False, **params)
    assert response.status_code == 403 and response.json() == MASTER_REQUIRED


@pytest.mark.parametrize("params", [{"pipeline": [{"$match": {}}]}, {"distinct": "score"}])
async def test_the_sqlite_store_answers_102(sqlite: ParseClient, params: dict[str, Any]) -> None:
    await scores(sqlite)
    response = await aggregate(sqlite, **params)
    assert response.status_code == 400 and response.json() == NOT_SUPPORTED
    anonymous = await aggregate(sqlite, master=False, **params)
    assert anonymous.status_code == 403 and anonymous.json() == MASTER_REQUIRED
