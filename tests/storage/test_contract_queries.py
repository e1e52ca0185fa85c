"""Store contract: every query operator, as storage/query.py defines it, on typed and untyped fields."""
from __future__ import annotations

from typing import Any

import pytest

from storage.adapter import StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.query import parse_where


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def date(iso: str) -> dict[str, str]:
    return {"__type": "Date", "iso": iso}


def geo(latitude: float, longitude: float) -> dict[str, Any]:
    return {"__type": "GeoPoint", "latitude": latitude, "longitude": longitude}


ITEMS: dict[str, dict[str, Any]] = {
    "apple": {"name": "apple", "score": 10, "ratio": 1.5, "active": True, "tags": ["red", "fruit"],
              "owner": pointer("_User", "u1"), "due": date("2024-03-01T00:00:00.000Z"),
              "stats": {"wins": 3, "kind": "a"}, "file": {"__type": "File", "name": "a.txt", "url": "http://f/a.txt"}},
    "banana": {"name": "banana", "score": 20, "ratio": 2, "active": False, "tags": ["yellow", "fruit"],
               "owner": pointer("_User", "u2"), "due": date("2024-06-01T00:00:00.000Z"), "stats": {"wins": 7}},
    "cherry": {"name": "Cherry", "score": 5, "tags": ["red"], "owner": pointer("_User", "u3"),
               "stats": {"wins": "7"}},
    "dot": {"name": "a.b (c)", "score": 0, "tags": [], "nums": [1, 2, 3], "active": None},
    "empty": {},
}
EVERYONE = set(ITEMS)

QUERIES: list[tuple[str, dict[str, Any], set[str]]] = [
    # equality on typed fields
    ("string equal", {"name": "apple"}, {"apple"}),
    ("string equal is case sensitive", {"name": "cherry"}, set()),
    ("number equal", {"score": 10}, {"apple"}),
    ("integer equals float", {"ratio": 2.0}, {"banana"}),
    ("number is not a string", {"score": "10"}, set()),
    ("boolean true", {"active": True}, {"apple"}),
    ("boolean false", {"active": False}, {"banana"}),
    ("boolean is not a number", {"active": 1}, set()),
    ("number is not a boolean", {"score": True}, set()),
    ("null matches null and missing", {"active": None}, {"cherry", "dot", "empty"}),
    ("$eq operator", {"name": {"$eq": "banana"}}, {"banana"}),
    ("objectId equal", {"objectId": "cherry"}, {"cherry"}),
    ("objectId $in", {"objectId": {"$in": ["apple", "dot", "nope"]}}, {"apple", "dot"}),
    ("File equality", {"file": {"__type": "File", "name": "a.txt", "url": "http://f/a.txt"}}, {"apple"}),
    # arrays
    ("array field contains a scalar", {"tags": "red"}, {"apple", "cherry"}),
    ("array field equals an array", {"tags": ["red", "fruit"]}, {"apple"}),
    ("array equality keeps order", {"tags": ["fruit", "red"]}, set()),
    ("empty array equality", {"tags": []}, {"dot"}),
    ("array field contains a number", {"nums": 2.0}, {"dot"}),
    ("array $in intersects", {"tags": {"$in": ["yellow", "green"]}}, {"banana"}),
    ("array $nin", {"tags": {"$nin": ["red"]}}, {"banana", "dot", "empty"}),
    ("$all holds every value", {"tags": {"$all": ["red", "fruit"]}}, {"apple"}),
    ("$all of nothing is any array", {"tags": {"$all": []}}, {"apple", "banana", "cherry", "dot"}),
    ("$containedBy", {"tags": {"$containedBy": ["red", "fruit", "green"]}}, {"apple", "cherry", "dot"}),
    ("$containedBy numbers by value", {"nums": {"$containedBy": [1.0, 2, 3, 4]}}, {"dot"}),
    ("range on array elements", {"nums": {"$gt": 2}}, {"dot"}),
    ("$all of $regex items", {"tags": {"$all": [{"$regex": "^re"}, {"$regex": "^fr"}]}}, {"apple"}),
    # pointers
    ("pointer equal", {"owner": pointer("_User", "u1")}, {"apple"}),
    ("pointer compares its class", {"owner": pointer("Team", "u1")}, set()),
    ("pointer is not its objectId", {"owner": "u1"}, set()),
    ("pointer $in", {"owner": {"$in": [pointer("_User", "u2"), pointer("_User", "u3")]}}, {"banana", "cherry"}),
    ("pointer $ne", {"owner": {"$ne": pointer("_User", "u1")}}, EVERYONE - {"apple"}),
    ("pointer $exists", {"owner": {"$exists": True}}, {"apple", "banana", "cherry"}),
    # dates
    ("date equal", {"due": date("2024-03-01T00:00:00Z")}, {"apple"}),
    ("date $gt", {"due": {"$gt": date("2024-04-01T00:00:00.000Z")}}, {"banana"}),
    ("date range", {"due": {"$gte": date("2024-03-01T00:00:00.000Z"), "$lt": date("2024-06-01T00:00:00.000Z")}},
     {"apple"}),
    ("date is not a string", {"due": {"$gt": "2000"}}, set()),
    ("date sub-millisecond bound", {"due": {"$gte": date("2024-03-01T00:00:00.000500Z")}}, {"banana"}),
    ("date $lte sub-millisecond bound", {"due": {"$lte": date("2024-03-01T00:00:00.000500Z")}}, {"apple"}),
    ("date relative time", {"due": {"$lt": {"$relativeTime": "in 1 day"}}}, {"apple", "banana"}),
    # ranges
    ("$gt is strict", {"score": {"$gt": 10}}, {"banana"}),
    ("$gte", {"score": {"$gte": 10}}, {"apple", "banana"}),
    ("$lt and $lte", {"score": {"$lt": 10, "$lte": 5}}, {"cherry", "dot"}),
    ("range on a string", {"name": {"$lt": "b"}}, {"apple", "cherry", "dot"}),
    ("range of the wrong kind matches nothing", {"score": {"$lt": "z"}}, set()),
    ("range with a boolean matches nothing", {"active": {"$gte": False}}, set()),
    # $ne / $in / $nin / $exists
    ("$ne matches missing", {"score": {"$ne": 10}}, EVERYONE - {"apple"}),
    ("$ne null means present and not null", {"active": {"$ne": None}}, {"apple", "banana"}),
    ("$in", {"name": {"$in": ["apple", "Cherry", "kiwi"]}}, {"apple", "cherry"}),
    ("$in with null also matches missing", {"score": {"$in": [20, None]}}, {"banana", "empty"}),
    ("$in empty", {"name": {"$in": []}}, set()),
    ("$nin", {"score": {"$nin": [10, 20]}}, {"cherry", "dot", "empty"}),
    ("$in of many values", {"score": {"$in": list(range(0, 200, 5))}}, {"apple", "banana", "cherry", "dot"}),
    ("$exists true includes null", {"active": {"$exists": True}}, {"apple", "banana", "dot"}),
    ("$exists false", {"active": {"$exists": False}}, {"cherry", "empty"}),
    # a field the class does not have
    ("unknown field equality", {"nope": "x"}, set()),
    ("unknown field $exists false", {"nope": {"$exists": False}}, EVERYONE),
    ("unknown field $ne", {"nope": {"$ne": 1}}, EVERYONE),
    ("unknown field $nin", {"nope": {"$nin": [1]}}, EVERYONE),
    ("unknown field null", {"nope": None}, EVERYONE),
    # dotted keys into objects
    ("dotted equal", {"stats.wins": 7}, {"banana"}),
    ("dotted equal keeps kinds", {"stats.wins": "7"}, {"cherry"}),
    ("dotted range", {"stats.wins": {"$gte": 3}}, {"apple", "banana"}),
    ("dotted exists", {"stats.kind": {"$exists": True}}, {"apple"}),
    ("dotted missing is null", {"stats.kind": None}, EVERYONE - {"apple"}),
    ("object equality", {"stats": {"wins": 3, "kind": "a"}}, {"apple"}),
    ("object equality needs every key", {"stats": {"wins": 3}}, set()),
    # regex
    ("$regex prefix", {"name": {"$regex": "^ba"}}, {"banana"}),
    ("$regex anywhere", {"name": {"$regex": "an"}}, {"banana"}),
    ("$regex option i", {"name": {"$regex": "^c", "$options": "i"}}, {"cherry"}),
    ("$regex \\Q..\\E is literal", {"name": {"$regex": "^\\Qa.b (\\E"}}, {"dot"}),
    ("$regex \\Q..\\E has no wildcard", {"name": {"$regex": "\\Qa.c\\E"}}, set()),
    ("$regex endsWith", {"name": {"$regex": "\\Q(c)\\E$"}}, {"dot"}),
    ("$regex option m", {"name": {"$regex": "^b", "$options": "m"}}, {"banana"}),
    ("$regex needs a string", {"score": {"$regex": "1"}}, set()),
    # logic
    ("$or", {"$or": [{"score": 10}, {"name": "Cherry"}]}, {"apple", "cherry"}),
    ("$and", {"$and": [{"tags": "red"}, {"score": {"$gt": 6}}]}, {"apple"}),
    ("$nor", {"$nor": [{"tags": "red"}, {"score": 20}]}, {"dot", "empty"}),
    ("$nor of missing fields", {"$nor": [{"score": {"$gt": 100}}]}, EVERYONE),
    ("nested logic", {"$or": [{"tags": "fruit", "$nor": [{"active": True}]}, {"score": 0}]}, {"banana", "dot"}),
    ("implicit and", {"tags": "red", "active": {"$exists": False}}, {"cherry"}),
    ("empty where", {}, EVERYONE),
]


@pytest.fixture
async def catalog(objects: Any) -> Any:
    for object_id, body in ITEMS.items():
        await objects.create("Item", object_id, body)
    return objects


@pytest.mark.parametrize(("where", "expected"), [c[1:] for c in QUERIES], ids=[c[0] for c in QUERIES])
async def test_query_operator(catalog: Any, where: dict[str, Any], expected: set[str]) -> None:
    assert await catalog.matching("Item", where) == expected
    assert await catalog.store.count("Item", parse_where(where)) == len(expected)


async def test_negation_of_every_query_is_its_complement(catalog: Any) -> None:
    for name, where, expected in QUERIES:
        assert await catalog.matching("Item", {"$nor": [where]}) == EVERYONE - expected, name


MIXED: dict[str, Any] = {
    "int": 1, "float": 1.0, "text": "1", "true": True, "false": False, "null": None,
    "list": [1, "x"], "nested": [[1]], "object": {"a": 1}, "date": date("2024-01-01T00:00:00.000Z"),
    "ptr": pointer("T", "1"), "geo": geo(1, 2),
}


@pytest.fixture
async def mixed(objects: Any) -> Any:
    """One untyped path (`o.v`, inside an Object) holding a value of every kind, and one object without it."""
    for object_id, value in MIXED.items():
        await objects.create("Mixed", object_id, {"o": {"v": value}})
    await objects.create("Mixed", "missing", {"o": {}})
    return objects


UNTYPED: list[tuple[str, Any, set[str]]] = [
    ("number matches int and float only", {"o.v": 1}, {"int", "float", "list"}),
    ("string matches strings only", {"o.v": "1"}, {"text"}),
    ("true matches booleans only", {"o.v": True}, {"true"}),
    ("false matches booleans only", {"o.v": False}, {"false"}),
    ("null matches null and missing", {"o.v": None}, {"null", "missing"}),
    ("array equality", {"o.v": [1, "x"]}, {"list"}),
    ("nested array equality", {"o.v": [[1]]}, {"nested"}),
    ("element of an array", {"o.v": "x"}, {"list"}),
    ("object equality", {"o.v": {"a": 1.0}}, {"object"}),
    ("date equality", {"o.v": date("2024-01-01T00:00:00Z")}, {"date"}),
    ("pointer equality", {"o.v": pointer("T", "1")}, {"ptr"}),
    ("GeoPoint equality", {"o.v": geo(1, 2)}, {"geo"}),
    ("number range", {"o.v": {"$gte": 1}}, {"int", "float", "list"}),
    ("string range", {"o.v": {"$gte": "0"}}, {"text", "list"}),
    ("date range", {"o.v": {"$lte": date("2024-01-01T00:00:00.000Z")}}, {"date"}),
    ("$in across kinds", {"o.v": {"$in": [True, "1", None]}}, {"true", "text", "null", "missing"}),
    ("$exists false", {"o.v": {"$exists": False}}, {"missing"}),
    ("$regex only strings", {"o.v": {"$regex": "1"}}, {"text"}),
    ("$all needs an array", {"o.v": {"$all": [1]}}, {"list"}),
    ("$containedBy needs an array", {"o.v": {"$containedBy": [1, "x", 2]}}, {"list"}),
]


@pytest.mark.parametrize(("where", "expected"), [c[1:] for c in UNTYPED], ids=[c[0] for c in UNTYPED])
async def test_untyped_path_compares_only_values_of_the_same_kind(mixed: Any, where: dict[str, Any],
                                                                   expected: set[str]) -> None:
    assert await mixed.matching("Mixed", where) == expected
    assert await mixed.matching("Mixed", {"$nor": [where]}) == (set(MIXED) | {"missing"}) - expected


# --- dates kept by the store ----------------------------------------------------------------------------------

async def test_created_at_ranges_compare_as_instants(objects: Any) -> None:
    for name in ("first", "second", "third"):
        await objects.create("Log", name)  # createdAt 2024-01-01T00:00:00, :01, :02
    after_first = {"createdAt": {"$gt": date("2024-01-01T00:00:00.000Z")}}
    assert await objects.matching("Log", after_first) == {"second", "third"}
    assert await objects.matching("Log", {"createdAt": {"$lte": date("2024-01-01T00:00:01.000Z")}}) == \
        {"first", "second"}
    assert await objects.matching("Log", {"createdAt": date("2024-01-01T00:00:02.000Z")}) == {"third"}
    assert await objects.matching("Log", {"updatedAt": {"$lt": "2024-01-01T00:00:01Z"}}) == {"first"}
    assert await objects.matching("Log", {"createdAt": {"$gt": date("2024-01-01T00:00:00.000400Z")}}) == \
        {"second", "third"}


# --- order, skip, limit, count --------------------------------------------------------------------------------

async def test_order_by_several_keys_with_descending(catalog: Any) -> None:
    assert await catalog.ids("Item", {"tags": {"$exists": True}}, order="-active,score") == \
        ["apple", "banana", "dot", "cherry"]
    assert await catalog.ids("Item", {}, order="-score") == ["banana", "apple", "cherry", "dot", "empty"]


async def test_order_puts_missing_values_first_ascending(catalog: Any) -> None:
    assert await catalog.ids("Item", {}, order="score") == ["empty", "dot", "cherry", "apple", "banana"]
    assert await catalog.ids("Item", {}, order="active,name") == ["empty", "cherry", "dot", "banana", "apple"]


async def test_order_sorts_dates_by_time_and_dotted_paths(catalog: Any) -> None:
    assert await catalog.ids("Item", {"due": {"$exists": True}}, order="-due") == ["banana", "apple"]
    assert await catalog.ids("Item", {}, order="-createdAt") == list(reversed(ITEMS))
    assert await catalog.ids("Item", {"stats.wins": {"$exists": True}}, order="stats.wins") == \
        ["apple", "banana", "cherry"]


async def test_skip_and_limit_page_through_the_order(catalog: Any) -> None:
    assert await catalog.ids("Item", {}, order="name", limit=2) == ["empty", "cherry"]
    assert await catalog.ids("Item", {}, order="name", skip=2, limit=2) == ["dot", "apple"]
    assert await catalog.ids("Item", {}, order="name", skip=4) == ["banana"]
    assert await catalog.ids("Item", {"name": {"$exists": True}}, order="name", skip=3) == ["banana"]
    assert await catalog.ids("Item", {}, limit=0) == []


async def test_count_ignores_skip_and_limit(catalog: Any) -> None:
    assert await catalog.store.count("Item", parse_where({"tags": "fruit"})) == 2
    assert await catalog.store.count("Item", parse_where({})) == len(ITEMS)


async def test_a_class_that_does_not_exist_has_no_objects(store: StorageAdapter) -> None:
    assert await store.find("Ghost", parse_where({"a": 1})) == []
    assert await store.count("Ghost", parse_where({})) == 0


# --- geo ------------------------------------------------------------------------------------------------------

SF, LA, NYC, LONDON = geo(37.7749, -122.4194), geo(34.0522, -118.2437), geo(40.7128, -74.0060), geo(51.5074, -0.1278)
SQUARE = {"__type": "Polygon", "coordinates": [[0, 0], [0, 10], [10, 10], [10, 0]]}


@pytest.fixture
async def places(objects: Any) -> Any:
    for object_id, point in {"la": LA, "nyc": NYC, "london": LONDON, "sf": SF}.items():
        await objects.create("Place", object_id, {"location": point})
    await objects.create("Place", "nowhere", {})
    for object_id, point in {"inside": geo(5, 5), "edge": geo(10, 5), "outside": geo(5, 11)}.items():
        await objects.create("Spot", object_id, {"at": point})
    await objects.create("Area", "square", {"shape": SQUARE})
    await objects.create("Area", "none", {})
    return objects


async def test_near_sphere_sorts_nearest_first(places: Any) -> None:
    assert await places.ids("Place", {"location": {"$nearSphere": SF}}) == ["sf", "la", "nyc", "london"]


async def test_near_sphere_with_an_explicit_order_keeps_that_order(places: Any) -> None:
    near = {"location": {"$nearSphere": SF}}
    assert await places.ids("Place", near, order="-createdAt") == ["sf", "london", "nyc", "la"]


@pytest.mark.parametrize(("limit", "expected"), [
    ({"$maxDistance": 0.1}, {"sf", "la"}),
    ({"$maxDistanceInRadians": 0.05}, {"sf"}),
    ({"$maxDistanceInKilometers": 600}, {"sf", "la"}),
    ({"$maxDistanceInMiles": 2600}, {"sf", "la", "nyc"}),
])
async def test_near_sphere_max_distance(places: Any, limit: dict[str, float], expected: set[str]) -> None:
    assert await places.matching("Place", {"location": {"$nearSphere": SF, **limit}}) == expected


async def test_within_box_includes_its_edges(places: Any) -> None:
    box = {"at": {"$within": {"$box": [geo(0, 0), geo(10, 10)]}}}
    assert await places.matching("Spot", box) == {"inside", "edge"}


async def test_geo_within_polygon_and_center_sphere(places: Any) -> None:
    triangle = [geo(0, 0), geo(0, 12), geo(12, 0)]
    assert await places.matching("Spot", {"at": {"$geoWithin": {"$polygon": triangle}}}) == {"inside"}
    assert await places.matching("Spot", {"at": {"$geoWithin": {"$polygon": SQUARE}}}) == {"inside", "edge"}
    sphere = {"location": {"$geoWithin": {"$centerSphere": [[-122.4194, 37.7749], 0.1]}}}
    assert await places.matching("Place", sphere) == {"sf", "la"}


async def test_geo_intersects_finds_polygons_containing_the_point(places: Any) -> None:
    assert await places.matching("Area", {"shape": {"$geoIntersects": {"$point": geo(5, 5)}}}) == {"square"}
    assert await places.matching("Area", {"shape": {"$geoIntersects": {"$point": geo(11, 5)}}}) == set()


# --- refused queries ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", [
    {"team": {"$inQuery": {"className": "Team", "where": {}}}},
    {"name": {"$select": {"query": {"className": "Team", "where": {}}, "key": "name"}}},
])
async def test_unresolved_subqueries_are_refused(catalog: Any, where: dict[str, Any]) -> None:
    with pytest.raises(ParseError) as caught:
        await catalog.store.find("Item", parse_where(where))
    assert caught.value.code == ErrorCode.INVALID_QUERY
