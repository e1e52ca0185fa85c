"""The LiveQuery matcher against the semantics in storage/query.py, operator by operator."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livequery.matcher import compile_query
from storage.errors import ErrorCode, ParseError
from storage.query import parse_where


def matches(where: dict[str, Any], doc: dict[str, Any]) -> bool:
    return compile_query(parse_where(where))(doc)


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def date(iso: str) -> dict[str, str]:
    return {"__type": "Date", "iso": iso}


def geo(latitude: float, longitude: float) -> dict[str, Any]:
    return {"__type": "GeoPoint", "latitude": latitude, "longitude": longitude}


SF, LA, NYC = geo(37.7749, -122.4194), geo(34.0522, -118.2437), geo(40.7128, -74.0060)
TRIANGLE = [geo(0, 0), geo(0, 10), geo(10, 0)]
SQUARE = {"__type": "Polygon", "coordinates": [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # equality: strings, numbers, booleans, null
    ("string equal", {"a": "x"}, {"a": "x"}, True),
    ("string differs", {"a": "x"}, {"a": "y"}, False),
    ("string missing", {"a": "x"}, {}, False),
    ("string in array field", {"a": "x"}, {"a": ["y", "x"]}, True),
    ("string not in array field", {"a": "x"}, {"a": ["y"]}, False),
    ("int equals float", {"a": 1}, {"a": 1.0}, True),
    ("number is not boolean", {"a": 1}, {"a": True}, False),
    ("number is not string", {"a": 1}, {"a": "1"}, False),
    ("number in array field", {"a": 1}, {"a": [2, 1.0]}, True),
    ("boolean is not number", {"a": True}, {"a": 1}, False),
    ("boolean equal", {"a": False}, {"a": False}, True),
    ("boolean in array", {"a": True}, {"a": [1, True]}, True),
    ("null matches missing", {"a": None}, {}, True),
    ("null matches null", {"a": None}, {"a": None}, True),
    ("null does not match zero", {"a": None}, {"a": 0}, False),
    ("null in an array field", {"a": None}, {"a": [1, None]}, True),
    ("$eq operator", {"a": {"$eq": "x"}}, {"a": "x"}, True),
    # equality: arrays and objects
    ("array equals array", {"a": [1, 2]}, {"a": [1, 2]}, True),
    ("array order matters", {"a": [1, 2]}, {"a": [2, 1]}, False),
    ("array is not its element", {"a": [1]}, {"a": 1}, False),
    ("object equals object", {"a": {"b": 1, "c": "x"}}, {"a": {"c": "x", "b": 1.0}}, True),
    ("object with extra key differs", {"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, False),
    ("object in array field", {"a": {"b": 1}}, {"a": [{"b": 2}, {"b": 1}]}, True),
    # pointers
    ("pointer equal", {"owner": pointer("_User", "u1")}, {"owner": pointer("_User", "u1")}, True),
    ("pointer other id", {"owner": pointer("_User", "u1")}, {"owner": pointer("_User", "u2")}, False),
    ("pointer other class", {"owner": pointer("_User", "u1")}, {"owner": pointer("Team", "u1")}, False),
    ("pointer is not its id", {"owner": pointer("_User", "u1")}, {"owner": "u1"}, False),
    ("pointer in array", {"owners": pointer("_User", "u1")}, {"owners": [pointer("_User", "u1")]}, True),
    ("pointer $in", {"owner": {"$in": [pointer("_User", "u2"), pointer("_User", "u1")]}},
     {"owner": pointer("_User", "u1")}, True),
    ("pointer $ne", {"owner": {"$ne": pointer("_User", "u1")}}, {"owner": pointer("_User", "u2")}, True),
    # dates: Date dicts, and plain ISO createdAt/updatedAt
    ("date equal instant", {"d": date("2024-01-01T00:00:00.000Z")}, {"d": date("2024-01-01T00:00:00Z")}, True),
    ("date differs", {"d": date("2024-01-01T00:00:00.000Z")}, {"d": date("2024-01-01T00:00:00.001Z")}, False),
    ("date is not a string field", {"d": date("2024-01-01T00:00:00.000Z")}, {"d": "2024-01-01T00:00:00.000Z"}, False),
    ("date $gt", {"d": {"$gt": date("2024-01-01T00:00:00.000Z")}}, {"d": date("2024-06-01T00:00:00.000Z")}, True),
    ("date $gt earlier", {"d": {"$gt": date("2024-01-01T00:00:00.000Z")}}, {"d": date("2023-06-01T00:00:00.000Z")},
     False),
    ("date range ignores strings", {"d": {"$gt": date("2024-01-01T00:00:00.000Z")}}, {"d": "2025-01-01"}, False),
    ("createdAt ISO vs Date $gt", {"createdAt": {"$gt": date("2024-01-01T00:00:00.000Z")}},
     {"createdAt": "2024-06-01T00:00:00.000Z"}, True),
    ("createdAt ISO vs Date $lt", {"createdAt": {"$lt": date("2024-01-01T00:00:00.000Z")}},
     {"createdAt": "2024-06-01T00:00:00.000Z"}, False),
    ("updatedAt equal instant", {"updatedAt": date("2024-01-01T00:00:00.000Z")},
     {"updatedAt": "2024-01-01T00:00:00.000Z"}, True),
    ("createdAt equals an ISO string operand", {"createdAt": "2024-01-01T00:00:00Z"},
     {"createdAt": "2024-01-01T00:00:00.000Z"}, True),
    ("createdAt ranges over an ISO string operand", {"createdAt": {"$lte": "2024-01-01T00:00:00Z"}},
     {"createdAt": "2023-12-31T23:59:59.999Z"}, True),
    ("createdAt with a non-date string", {"createdAt": {"$ne": "yesterday"}},
     {"createdAt": "2024-01-01T00:00:00.000Z"}, True),
    ("createdAt $in of Dates", {"createdAt": {"$in": [date("2024-01-01T00:00:00.000Z")]}},
     {"createdAt": "2024-01-01T00:00:00.000Z"}, True),
    ("relative time in the past", {"d": {"$lt": {"$relativeTime": "in 1 day"}}},
     {"d": date(datetime.now(UTC).isoformat())}, True),
    ("relative time ago", {"d": {"$gt": {"$relativeTime": "2 days ago"}}},
     {"d": date((datetime.now(UTC) - timedelta(days=3)).isoformat())}, False),
    # ranges
    ("$gt number", {"n": {"$gt": 3}}, {"n": 4}, True),
    ("$gt is strict", {"n": {"$gt": 3}}, {"n": 3}, False),
    ("$gte boundary", {"n": {"$gte": 3}}, {"n": 3.0}, True),
    ("$lt number", {"n": {"$lt": 3}}, {"n": 2.5}, True),
    ("$lte boundary", {"n": {"$lte": 3}}, {"n": 3}, True),
    ("range ignores strings", {"n": {"$gt": 3}}, {"n": "4"}, False),
    ("range ignores booleans", {"n": {"$gt": 0}}, {"n": True}, False),
    ("range ignores missing", {"n": {"$lt": 3}}, {}, False),
    ("range ignores null", {"n": {"$lt": 3}}, {"n": None}, False),
    ("range on array: one element", {"n": {"$gt": 3}}, {"n": [1, 5]}, True),
    ("range on array: none", {"n": {"$gt": 3}}, {"n": [1, 2]}, False),
    ("range between", {"n": {"$gt": 1, "$lt": 5}}, {"n": 3}, True),
    ("range between outside", {"n": {"$gt": 1, "$lt": 5}}, {"n": 5}, False),
    ("string range", {"s": {"$lt": "b"}}, {"s": "abc"}, True),
    ("string range is not numeric", {"s": {"$lt": "b"}}, {"s": 1}, False),
    # $ne
    ("$ne differs", {"a": {"$ne": "x"}}, {"a": "y"}, True),
    ("$ne equal", {"a": {"$ne": "x"}}, {"a": "x"}, False),
    ("$ne missing", {"a": {"$ne": "x"}}, {}, True),
    ("$ne array containing", {"a": {"$ne": "x"}}, {"a": ["x", "y"]}, False),
    ("$ne null on present", {"a": {"$ne": None}}, {"a": 0}, True),
    ("$ne null on missing", {"a": {"$ne": None}}, {}, False),
    # $in / $nin
    ("$in string", {"a": {"$in": ["x", "y"]}}, {"a": "y"}, True),
    ("$in none", {"a": {"$in": ["x", "y"]}}, {"a": "z"}, False),
    ("$in array intersects", {"a": {"$in": ["x", "y"]}}, {"a": ["z", "y"]}, True),
    ("$in array disjoint", {"a": {"$in": ["x", "y"]}}, {"a": ["z"]}, False),
    ("$in missing", {"a": {"$in": ["x"]}}, {}, False),
    ("$in with null matches missing", {"a": {"$in": ["x", None]}}, {}, True),
    ("$in numbers", {"a": {"$in": [1, 2]}}, {"a": 2.0}, True),
    ("$in numbers not booleans", {"a": {"$in": [1, 2]}}, {"a": True}, False),
    ("$in strings not numbers", {"a": {"$in": ["1"]}}, {"a": 1}, False),
    ("$in empty", {"a": {"$in": []}}, {"a": "x"}, False),
    ("$in array value", {"a": {"$in": [[1, 2]]}}, {"a": [1, 2]}, True),
    ("$nin missing", {"a": {"$nin": ["x"]}}, {}, True),
    ("$nin listed", {"a": {"$nin": ["x"]}}, {"a": "x"}, False),
    ("$nin other", {"a": {"$nin": ["x"]}}, {"a": "z"}, True),
    ("$nin array intersects", {"a": {"$nin": ["x"]}}, {"a": ["x", "z"]}, False),
    # $exists
    ("$exists true present", {"a": {"$exists": True}}, {"a": 1}, True),
    ("$exists true null", {"a": {"$exists": True}}, {"a": None}, True),
    ("$exists true missing", {"a": {"$exists": True}}, {}, False),
    ("$exists false missing", {"a": {"$exists": False}}, {}, True),
    ("$exists false present", {"a": {"$exists": False}}, {"a": None}, False),
    # $all / $containedBy
    ("$all holds every value", {"a": {"$all": ["x", "y"]}}, {"a": ["y", "z", "x"]}, True),
    ("$all missing one", {"a": {"$all": ["x", "y"]}}, {"a": ["x"]}, False),
    ("$all needs an array", {"a": {"$all": ["x"]}}, {"a": "x"}, False),
    ("$all numbers by value", {"a": {"$all": [1, 2]}}, {"a": [2.0, 1.0]}, True),
    ("$all pointers", {"a": {"$all": [pointer("T", "1")]}}, {"a": [pointer("T", "1")]}, True),
    ("$all empty: any array", {"a": {"$all": []}}, {"a": [1]}, True),
    ("$all empty: not a scalar", {"a": {"$all": []}}, {"a": 1}, False),
    ("$all of regexes", {"a": {"$all": [{"$regex": "^\\Qab\\E"}, {"$regex": "^c", "$options": "i"}]}},
     {"a": ["abx", "Cd"]}, True),
    ("$all of regexes missing one", {"a": {"$all": [{"$regex": "^ab"}, {"$regex": "^c"}]}}, {"a": ["abx"]}, False),
    ("$containedBy subset", {"a": {"$containedBy": [1, 2, 3]}}, {"a": [1, 3]}, True),
    ("$containedBy extra element", {"a": {"$containedBy": [1, 2, 3]}}, {"a": [1, 4]}, False),
    ("$containedBy empty array", {"a": {"$containedBy": [1]}}, {"a": []}, True),
    ("$containedBy needs an array", {"a": {"$containedBy": [1]}}, {"a": 1}, False),
    ("$containedBy missing", {"a": {"$containedBy": [1]}}, {}, False),
    # $regex
    ("$regex prefix", {"s": {"$regex": "^ab"}}, {"s": "abc"}, True),
    ("$regex is found anywhere", {"s": {"$regex": "b"}}, {"s": "abc"}, True),
    ("$regex anchored miss", {"s": {"$regex": "^ab"}}, {"s": "xab"}, False),
    ("$regex needs a string", {"s": {"$regex": "1"}}, {"s": 1}, False),
    ("$regex missing", {"s": {"$regex": "."}}, {}, False),
    ("$regex option i", {"s": {"$regex": "^ab", "$options": "i"}}, {"s": "ABc"}, True),
    ("$regex case sensitive", {"s": {"$regex": "^ab"}}, {"s": "ABc"}, False),
    ("$regex option m", {"s": {"$regex": "^b", "$options": "m"}}, {"s": "a\nb"}, True),
    ("$regex without m", {"s": {"$regex": "^b"}}, {"s": "a\nb"}, False),
    ("$regex option s", {"s": {"$regex": "a.b", "$options": "s"}}, {"s": "a\nb"}, True),
    ("$regex without s", {"s": {"$regex": "a.b"}}, {"s": "a\nb"}, False),
    ("$regex option x", {"s": {"$regex": "a b # spaced", "$options": "x"}}, {"s": "ab"}, True),
    ("$regex \\Q..\\E literal", {"s": {"$regex": "^\\Qa.b\\E"}}, {"s": "a.bc"}, True),
    ("$regex \\Q..\\E no wildcard", {"s": {"$regex": "^\\Qa.b\\E"}}, {"s": "axbc"}, False),
    ("$regex endsWith", {"s": {"$regex": "\\Q(x)\\E$"}}, {"s": "ab(x)"}, True),
    # dotted keys
    ("dotted key", {"stats.wins": {"$gt": 3}}, {"stats": {"wins": 4}}, True),
    ("dotted key below", {"stats.wins": {"$gt": 3}}, {"stats": {"wins": 2}}, False),
    ("dotted key through a scalar", {"stats.wins": 4}, {"stats": 4}, False),
    ("dotted key missing", {"stats.wins": {"$exists": False}}, {"stats": {}}, True),
    ("dotted key deep", {"a.b.c": "x"}, {"a": {"b": {"c": "x"}}}, True),
    ("dotted key null matches missing", {"a.b": None}, {"a": 1}, True),
    # logical
    ("$or either", {"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
    ("$or neither", {"$or": [{"a": 1}, {"b": 2}]}, {"a": 2}, False),
    ("$and both", {"$and": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 2}, True),
    ("$and one", {"$and": [{"a": 1}, {"b": 2}]}, {"a": 1}, False),
    ("$nor none", {"$nor": [{"a": 1}, {"b": 2}]}, {"a": 2}, True),
    ("$nor one", {"$nor": [{"a": 1}, {"b": 2}]}, {"b": 2}, False),
    ("implicit and", {"a": 1, "b": {"$exists": False}}, {"a": 1}, True),
    ("empty where", {}, {"anything": 1}, True),
    ("nested logic", {"$or": [{"a": 1, "$nor": [{"b": 2}]}, {"c": 3}]}, {"a": 1, "b": 3}, True),
    # geo
    ("$nearSphere without limit", {"p": {"$nearSphere": SF}}, {"p": NYC}, True),
    ("$nearSphere needs a point", {"p": {"$nearSphere": SF}}, {"p": "here"}, False),
    ("$nearSphere within km", {"p": {"$nearSphere": SF, "$maxDistanceInKilometers": 600}}, {"p": LA}, True),
    ("$nearSphere beyond km", {"p": {"$nearSphere": SF, "$maxDistanceInKilometers": 500}}, {"p": LA}, False),
    ("$nearSphere within miles", {"p": {"$nearSphere": SF, "$maxDistanceInMiles": 400}}, {"p": LA}, True),
    ("$nearSphere radians", {"p": {"$nearSphere": SF, "$maxDistance": 0.1}}, {"p": LA}, True),
    ("$nearSphere radians beyond", {"p": {"$nearSphere": SF, "$maxDistance": 0.05}}, {"p": LA}, False),
    ("$within $box inside", {"p": {"$within": {"$box": [geo(0, 0), geo(10, 10)]}}}, {"p": geo(5, 5)}, True),
    ("$within $box outside", {"p": {"$within": {"$box": [geo(0, 0), geo(10, 10)]}}}, {"p": geo(5, 11)}, False),
    ("$within $box edge", {"p": {"$within": {"$box": [geo(0, 0), geo(10, 10)]}}}, {"p": geo(10, 5)}, True),
    ("$within $box missing", {"p": {"$within": {"$box": [geo(0, 0), geo(10, 10)]}}}, {}, False),
    ("$geoWithin $polygon inside", {"p": {"$geoWithin": {"$polygon": TRIANGLE}}}, {"p": geo(2, 2)}, True),
    ("$geoWithin $polygon outside", {"p": {"$geoWithin": {"$polygon": TRIANGLE}}}, {"p": geo(6, 6)}, False),
    ("$geoWithin $polygon edge", {"p": {"$geoWithin": {"$polygon": TRIANGLE}}}, {"p": geo(0, 5)}, True),
    ("$geoWithin $polygon vertex", {"p": {"$geoWithin": {"$polygon": TRIANGLE}}}, {"p": geo(10, 0)}, True),
    ("$geoWithin Polygon value", {"p": {"$geoWithin": {"$polygon": SQUARE}}}, {"p": geo(9, 9)}, True),
    ("$geoWithin $centerSphere inside", {"p": {"$geoWithin": {"$centerSphere": [[-122.4194, 37.7749], 0.1]}}},
     {"p": LA}, True),
    ("$geoWithin $centerSphere outside", {"p": {"$geoWithin": {"$centerSphere": [SF, 0.05]}}}, {"p": LA}, False),
    ("$geoIntersects inside", {"area": {"$geoIntersects": {"$point": geo(5, 5)}}}, {"area": SQUARE}, True),
    ("$geoIntersects outside", {"area": {"$geoIntersects": {"$point": geo(11, 5)}}}, {"area": SQUARE}, False),
    ("$geoIntersects needs a polygon", {"area": {"$geoIntersects": {"$point": geo(5, 5)}}}, {"area": geo(5, 5)},
     False),
    ("GeoPoint equality", {"p": SF}, {"p": dict(SF)}, True),
    # typed values that stay dicts
    ("File equality", {"f": {"__type": "File", "name": "a.txt", "url": "u"}},
     {"f": {"__type": "File", "name": "a.txt", "url": "u"}}, True),
]


@pytest.mark.parametrize(("where", "doc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator(where: dict[str, Any], doc: dict[str, Any], expected: bool) -> None:
    assert matches(where, doc) is expected


@pytest.mark.parametrize("where", [
    {"team": {"$inQuery": {"className": "Team", "where": {}}}},
    {"team": {"$notInQuery": {"className": "Team", "where": {}}}},
    {"name": {"$select": {"query": {"className": "Team", "where": {}}, "key": "name"}}},
    {"name": {"$dontSelect": {"query": {"className": "Team", "where": {}}, "key": "name"}}},
    {"$relatedTo": {"object": pointer("Team", "t1"), "key": "members"}},
    {"$or": [{"a": 1}, {"team": {"$inQuery": {"className": "Team", "where": {}}}}]},
])
def test_constraints_needing_other_classes_are_refused_at_compile_time(where: dict[str, Any]) -> None:
    node = parse_where(where)
    with pytest.raises(ParseError) as caught:
        compile_query(node)
    assert caught.value.code == ErrorCode.INVALID_QUERY
    assert "not supported in LiveQuery subscriptions" in caught.value.message


def test_one_compiled_matcher_serves_many_documents() -> None:
    room_17 = compile_query(parse_where({"room": "r17", "n": {"$gte": 2}}))
    assert [room_17({"room": r, "n": n}) for r, n in [("r17", 2), ("r17", 1), ("r18", 5)]] == [True, False, False]


# --- properties ------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5, -1.5]),
    st.sampled_from(["a", "b", "c", "1"]),
    st.sampled_from([date("2024-01-01T00:00:00.000Z"), date("2024-06-01T00:00:00.000Z")]),
    st.sampled_from([pointer("T", "1"), pointer("T", "2"), pointer("U", "1")]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
field_names = st.sampled_from(["a", "b", "createdAt"])
docs = st.dictionaries(field_names, values, max_size=3).map(
    lambda d: {**d, "createdAt": "2024-03-01T00:00:00.000Z"} if "createdAt" in d else d)
operands = st.one_of(scalars.filter(lambda v: not isinstance(v, list)))
constraints = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte"]), operands),
    st.tuples(st.sampled_from(["$in", "$nin", "$all", "$containedBy"]), st.lists(operands, max_size=3)),
    st.tuples(st.just("$exists"), st.booleans()),
)
fields = st.builds(lambda name, c: {name: {c[0]: c[1]}}, field_names, constraints)
wheres = st.recursive(fields, lambda inner: st.one_of(
    st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$nor": xs}, st.lists(inner, min_size=1, max_size=3)),
), max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(where=wheres, doc=docs)
def test_matching_never_changes_the_document(where: dict[str, Any], doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    matches(where, doc)
    assert doc == before


@settings(max_examples=300, deadline=None)
@given(where=wheres, doc=docs)
def test_nor_is_the_negation_of_or(where: dict[str, Any], doc: dict[str, Any]) -> None:
    assert matches({"$nor": [where]}, doc) is not matches({"$or": [where]}, doc)


@settings(max_examples=300, deadline=None)
@given(name=field_names, operand=operands, listed=st.lists(operands, max_size=3), doc=docs)
def test_negations_are_exact(name: str, operand: Any, listed: list[Any], doc: dict[str, Any]) -> None:
    assert matches({name: {"$ne": operand}}, doc) is not matches({name: {"$eq": operand}}, doc)
    assert matches({name: {"$nin": listed}}, doc) is not matches({name: {"$in": listed}}, doc)


@settings(max_examples=300, deadline=None)
@given(name=field_names, listed=st.lists(operands, max_size=4), doc=docs)
def test_in_is_an_or_of_equalities(name: str, listed: list[Any], doc: dict[str, Any]) -> None:
    """The set-based fast path of `$in` agrees with the plain definition."""
    expected = any(matches({name: {"$eq": v}}, doc) for v in listed)
    assert matches({name: {"$in": listed}}, doc) is expected


@settings(max_examples=300, deadline=None)
@given(name=field_names, listed=st.lists(operands, max_size=3), doc=docs)
def test_all_is_an_and_of_equalities_on_arrays(name: str, listed: list[Any], doc: dict[str, Any]) -> None:
    expected = isinstance(doc.get(name), list) and all(matches({name: {"$eq": v}}, doc) for v in listed)
    assert matches({name: {"$all": listed}}, doc) is expected


@settings(max_examples=300, deadline=None)
@given(name=field_names, text=st.sampled_from(["a", "b", "c", "1"]), doc=docs)
def test_the_one_function_string_equality_agrees_with_the_general_one(name: str, text: str,
                                                                       doc: dict[str, Any]) -> None:
    """`{field: "text"}` compiles to one function (livequery/matcher.py says why); a second constraint that
    changes nothing takes the general composition, which must agree."""
    assert matches({name: text}, doc) is matches({name: {"$eq": text, "$exists": True}}, doc)


@pytest.mark.parametrize(("value", "expected"), [
    ("r2", True), ("r3", False), (["r1", "r2"], True), (["r3"], False), ([["r2"]], False), ([2, "r2"], True),
    (None, False), (2, False), ({"r2": 1}, False), ([], False),
])
def test_a_string_equality_matches_the_string_or_an_array_holding_it(value: Any, expected: bool) -> None:
    assert matches({"room": "r2"}, {"room": value}) is expected
    assert matches({"room": "r2"}, {}) is False
