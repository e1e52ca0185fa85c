"""Queries over REST: every `where` operator, and order, limit, skip, keys, include and count."""
from __future__ import annotations

import pytest

from tests.api.conftest import ParseClient


def ptr(class_name: str, object_id: str) -> dict:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def date(iso: str) -> dict:
    return {"__type": "Date", "iso": iso}


def geo(lat: float, lng: float) -> dict:
    return {"__type": "GeoPoint", "latitude": lat, "longitude": lng}


@pytest.fixture
async def scores(client: ParseClient) -> list[dict]:
    rows = [
        {"name": "ann", "score": 10, "tags": ["red", "blue"], "stats": {"wins": 3}, "city": "Paris",
         "when": date("2024-01-01T00:00:00.000Z"), "loc": geo(48.85, 2.35)},
        {"name": "bob", "score": 20, "tags": ["blue"], "stats": {"wins": 7}, "city": "paris",
         "when": date("2024-06-01T00:00:00.000Z"), "loc": geo(51.5, -0.12)},
        {"name": "cid", "score": 30, "tags": [], "stats": {"wins": 1}, "city": "Berlin",
         "when": date("2025-01-01T00:00:00.000Z"), "loc": geo(52.52, 13.4)},
        {"name": "dee", "score": 40, "city": None, "when": date("2025-06-01T00:00:00.000Z"), "loc": geo(40.7, -74.0)},
    ]
    return [await client.create("Score", row) for row in rows]


WHERE_CASES = [
    ({"name": "bob"}, ["bob"]),
    ({"score": {"$gt": 10, "$lte": 30}}, ["bob", "cid"]),
    ({"score": {"$ne": 20}}, ["ann", "cid", "dee"]),
    ({"score": {"$eq": 40}}, ["dee"]),
    ({"name": {"$in": ["ann", "dee", "zed"]}}, ["ann", "dee"]),
    ({"name": {"$nin": ["ann", "dee"]}}, ["bob", "cid"]),
    ({"tags": "blue"}, ["ann", "bob"]),
    ({"tags": ["blue"]}, ["bob"]),
    ({"tags": {"$all": ["red", "blue"]}}, ["ann"]),
    ({"tags": {"$in": ["red"]}}, ["ann"]),
    ({"tags": {"$containedBy": ["blue", "green"]}}, ["bob", "cid"]),
    ({"tags": {"$exists": True}}, ["ann", "bob", "cid"]),
    ({"tags": {"$exists": False}}, ["dee"]),
    ({"city": None}, ["dee"]),
    ({"city": {"$regex": "^par", "$options": "i"}}, ["ann", "bob"]),
    ({"city": {"$regex": "^\\Qpar\\E"}}, ["bob"]),
    ({"stats.wins": {"$gte": 3}}, ["ann", "bob"]),
    ({"$or": [{"name": "ann"}, {"score": 40}]}, ["ann", "dee"]),
    ({"$and": [{"score": {"$gt": 10}}, {"score": {"$lt": 40}}]}, ["bob", "cid"]),
    ({"$nor": [{"name": "ann"}, {"name": "bob"}]}, ["cid", "dee"]),
    ({"when": {"$gte": date("2024-06-01T00:00:00.000Z"), "$lt": date("2025-06-01T00:00:00.000Z")}},
     ["bob", "cid"]),
    ({"loc": {"$within": {"$box": [geo(45, -5), geo(55, 15)]}}}, ["ann", "bob", "cid"]),
    ({"loc": {"$geoWithin": {"$centerSphere": [[2.35, 48.85], 0.01]}}}, ["ann"]),
    ({"loc": {"$geoWithin": {"$polygon": [geo(45, -5), geo(55, -5), geo(55, 5), geo(45, 5)]}}}, ["ann", "bob"]),
    ({"loc": {"$nearSphere": geo(48.85, 2.35), "$maxDistanceInKilometers": 400}}, ["ann", "bob"]),
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES)
async def test_where_operator(client: ParseClient, scores: list[dict], where: dict, expected: list[str]) -> None:
    results = await client.find("Score", where=where)
    assert sorted(r["name"] for r in results) == expected


async def test_near_sphere_sorts_nearest_first(client: ParseClient, scores: list[dict]) -> None:
    results = await client.find("Score", where={"loc": {"$nearSphere": geo(52.0, 13.0)}})
    assert [r["name"] for r in results] == ["cid", "ann", "bob", "dee"]  # Berlin: Paris 878 km, London 930 km


async def test_created_at_range_uses_dates(client: ParseClient, scores: list[dict]) -> None:
    first = scores[0]["createdAt"]
    results = await client.find("Score", where={"createdAt": {"$gte": date(first)}})
    assert len(results) == 4
    assert await client.find("Score", where={"createdAt": {"$lt": date(first)}}) == []


async def test_order_by_several_keys_with_descending(client: ParseClient) -> None:
    for name, group in (("a", 1), ("b", 2), ("c", 1), ("d", 2)):
        await client.create("Row", {"name": name, "group": group})
    results = await client.find("Row", order="-group,name")
    assert [r["name"] for r in results] == ["b", "d", "a", "c"]


async def test_order_on_an_unknown_key_is_silently_dropped(client: ParseClient, scores: list[dict]) -> None:
    assert len(await client.find("Score", order="nonexistent")) == 4


async def test_limit_defaults_to_100_and_skip_pages(client: ParseClient) -> None:
    for first in (0, 65):  # a batch holds at most 100 requests
        await client.request("POST", "/batch", {"requests": [
            {"method": "POST", "path": "/parse/classes/Many", "body": {"i": i}} for i in range(first, first + 65)]})
    assert len(await client.find("Many")) == 100
    page = await client.find("Many", order="i", skip=120, limit=50)
    assert [r["i"] for r in page] == list(range(120, 130))


async def test_count_ignores_skip_and_limit_and_limit_zero_returns_no_results(client: ParseClient,
                                                                              scores: list[dict]) -> None:
    response = await client.request("GET", "/classes/Score", params={"count": 1, "limit": 0,
                                                                     "where": {"score": {"$gt": 10}}})
    assert response.json() == {"results": [], "count": 3}
    response = await client.request("GET", "/classes/Score", params={"count": 1, "limit": 1, "skip": 1})
    body = response.json()
    assert body["count"] == 4 and len(body["results"]) == 1


async def test_keys_and_exclude_keys_project_fields(client: ParseClient, scores: list[dict]) -> None:
    results = await client.find("Score", keys="name", where={"name": "ann"})
    assert set(results[0]) == {"objectId", "createdAt", "updatedAt", "name"}
    results = await client.find("Score", excludeKeys="tags,stats", where={"name": "ann"})
    assert "tags" not in results[0] and "stats" not in results[0] and results[0]["score"] == 10


async def test_pointer_equality_and_nested_include(client: ParseClient) -> None:
    author = await client.create("Author", {"name": "Ann"})
    post = await client.create("Post", {"title": "Hi", "author": ptr("Author", author["objectId"])})
    await client.create("Comment", {"text": "first", "post": ptr("Post", post["objectId"])})
    await client.create("Comment", {"text": "other", "post": ptr("Post", "missing123")})
    found = await client.find("Comment", where={"post": ptr("Post", post["objectId"])}, include="post.author")
    assert len(found) == 1
    included = found[0]["post"]
    assert included["__type"] == "Object" and included["className"] == "Post" and included["title"] == "Hi"
    assert included["author"]["__type"] == "Object" and included["author"]["name"] == "Ann"
    plain = await client.find("Comment", where={"text": "first"})
    assert plain[0]["post"] == ptr("Post", post["objectId"])


async def test_include_on_get_by_id_and_on_arrays_of_pointers(client: ParseClient) -> None:
    a = await client.create("Tag", {"label": "a"})
    b = await client.create("Tag", {"label": "b"})
    item = await client.create("Item", {"tags": [ptr("Tag", a["objectId"]), ptr("Tag", b["objectId"])]})
    got = (await client.request("GET", f"/classes/Item/{item['objectId']}", params={"include": "tags"})).json()
    assert [t["label"] for t in got["tags"]] == ["a", "b"]


async def test_in_query_and_not_in_query(client: ParseClient) -> None:
    big = await client.create("Team", {"size": 10})
    small = await client.create("Team", {"size": 2})
    await client.create("Player", {"name": "x", "team": ptr("Team", big["objectId"])})
    await client.create("Player", {"name": "y", "team": ptr("Team", small["objectId"])})
    sub = {"className": "Team", "where": {"size": {"$gt": 5}}}
    assert [r["name"] for r in await client.find("Player", where={"team": {"$inQuery": sub}})] == ["x"]
    assert [r["name"] for r in await client.find("Player", where={"team": {"$notInQuery": sub}})] == ["y"]


async def test_select_and_dont_select(client: ParseClient) -> None:
    await client.create("Fan", {"city": "Paris"})
    await client.create("Club", {"name": "PSG", "home": "Paris"})
    await client.create("Club", {"name": "BVB", "home": "Dortmund"})
    sub = {"query": {"className": "Fan", "where": {}}, "key": "city"}
    assert [r["name"] for r in await client.find("Club", where={"home": {"$select": sub}})] == ["PSG"]
    assert [r["name"] for r in await client.find("Club", where={"home": {"$dontSelect": sub}})] == ["BVB"]


async def test_query_on_a_class_that_does_not_exist_is_empty_for_master(client: ParseClient) -> None:
    response = await client.request("GET", "/classes/Nowhere", master=True)
    assert response.json() == {"results": []}


async def test_relative_time(client: ParseClient) -> None:
    await client.create("Evt", {"at": date("2000-01-01T00:00:00.000Z")})
    await client.create("Evt", {"at": date("2999-01-01T00:00:00.000Z")})
    past = await client.find("Evt", where={"at": {"$lt": {"$relativeTime": "1 day ago"}}})
    assert [r["at"]["iso"][:4] for r in past] == ["2000"]


async def test_relation_query_redirected_to_the_target_class_names_it_on_each_result(client: ParseClient) -> None:
    fan = await client.create("Fan", {"name": "a"})
    post = await client.create("Post", {"title": "t"})
    await client.request("PUT", f"/classes/Post/{post['objectId']}",
                         {"likes": {"__op": "AddRelation", "objects": [ptr("Fan", fan["objectId"])]}})
    results = await client.find("Post", redirectClassNameForKey="likes", where={
        "$relatedTo": {"object": ptr("Post", post["objectId"]), "key": "likes"}})
    assert [(r["className"], r["name"]) for r in results] == [("Fan", "a")]
