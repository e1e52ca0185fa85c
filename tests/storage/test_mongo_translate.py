"""The MongoDB translations on their own (no server): the parsed where as a filter in Parse's stored layout, and
a parsed write as one document of atomic update operators."""
from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from storage.adapter import SortKey
from storage.changes import parse_changes
from storage.mongo.filters import EARTH_RADIUS_METERS, FilterBuilder, split_near
from storage.mongo.updates import update_document
from storage.query import parse_where
from storage.values import FieldType

FIELDS = {"owner": FieldType("Pointer", "_User"), "location": FieldType("GeoPoint"),
          "area": FieldType("Polygon"), "tags": FieldType("Array"), "likes": FieldType("Relation", "_User"),
          "score": FieldType("Number"), "createdAt": FieldType("Date")}
ALICE = {"__type": "Pointer", "className": "_User", "objectId": "u1"}
POINT = {"__type": "GeoPoint", "latitude": 10.0, "longitude": 20.0}


class Relations:
    """A join table in memory: GameScore.likes holds u1 for g1 and g2."""

    async def relation_target(self, class_name: str, field: str) -> str | None:
        return "GameScore" if (class_name, field) == ("_User", "games") else None

    async def owning_ids(self, class_name: str, field: str, related_ids: tuple[str, ...]) -> list[str]:
        return ["g1", "g2"] if "u1" in related_ids else []

    async def related_ids(self, class_name: str, field: str, owning_ids: tuple[str, ...]) -> list[str]:
        return ["g3"]


async def mongo_filter(where: dict[str, Any], class_name: str = "GameScore") -> dict[str, Any]:
    return await FilterBuilder(class_name, FIELDS, Relations()).build(parse_where(where, internal=True))


async def test_pointer_equality_uses_the_p_key_and_class_dollar_id() -> None:
    assert await mongo_filter({"owner": ALICE}) == {"_p_owner": "_User$u1"}
    assert await mongo_filter({"owner": {"$in": [ALICE, None]}}) == {"_p_owner": {"$in": ["_User$u1", None]}}
    # a null written before `owner` was known as a Pointer sits under the plain name: both keys are checked
    assert await mongo_filter({"owner": {"$exists": False}}) == {"_p_owner": {"$exists": False},
                                                                "owner": {"$exists": False}}


async def test_pointer_in_an_array_or_object_stays_a_pointer_object() -> None:
    assert await mongo_filter({"tags": ALICE}) == {"tags": ALICE}
    assert await mongo_filter({"stats.rival": ALICE}) == {"stats.rival": ALICE,
                                                          "stats": {"$not": {"$type": "array"}}}


async def test_a_dotted_path_never_looks_into_arrays() -> None:
    # storage.query: through an array the value is missing (MongoDB alone would match elements' fields)
    assert await mongo_filter({"o.v.x": 1}) == {"o.v.x": 1, "o": {"$not": {"$type": "array"}},
                                                "o.v": {"$not": {"$type": "array"}}}
    assert await mongo_filter({"o.v": None}) == {"$or": [{"o.v": None, "o": {"$not": {"$type": "array"}}},
                                                         {"o": {"$type": "array"}}]}


async def test_system_fields_use_parse_server_keys() -> None:
    assert await mongo_filter({"objectId": "g1", "createdAt": {"$lt": {"__type": "Date",
                                                                      "iso": "2024-01-02T00:00:00Z"}}}) == {
        "_id": "g1", "_created_at": {"$lt": datetime(2024, 1, 2, tzinfo=UTC)}}
    assert await mongo_filter({"sessionToken": "r:x"}, "_Session") == {"_session_token": "r:x"}
    assert await mongo_filter({"authData.facebook.id": "f1"}, "_User") == {
        "_auth_data_facebook.id": "f1", "_auth_data_facebook": {"$not": {"$type": "array"}}}


async def test_relation_constraints_become_id_lists_from_the_join_table() -> None:
    assert await mongo_filter({"likes": ALICE}) == {"_id": {"$in": ["g1", "g2"]}}
    assert await mongo_filter({"likes": {"$ne": ALICE}}) == {"_id": {"$nin": ["g1", "g2"]}}
    related = {"$relatedTo": {"object": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
                              "key": "games"}}
    assert await mongo_filter(related) == {"_id": {"$in": ["g3"]}}
    assert await mongo_filter({**related, "score": 3}, "Other") == {"_id": {"$in": []}, "score": 3}


async def test_geo_constraints_use_lng_lat_pairs() -> None:
    box = [{"__type": "GeoPoint", "latitude": 1, "longitude": 2}, {"__type": "GeoPoint", "latitude": 3, "longitude": 4}]
    assert await mongo_filter({"location": {"$within": {"$box": box}}}) == {
        "location": {"$geoWithin": {"$box": [[2.0, 1.0], [4.0, 3.0]]}}}
    assert await mongo_filter({"location": {"$geoWithin": {"$polygon": [*box, POINT]}}}) == {
        "location": {"$geoWithin": {"$polygon": [[2.0, 1.0], [4.0, 3.0], [20.0, 10.0]]}}}
    assert await mongo_filter({"location": {"$geoWithin": {"$centerSphere": [[20, 10], 0.5]}}}) == {
        "location": {"$geoWithin": {"$centerSphere": [[20.0, 10.0], 0.5]}}}
    assert await mongo_filter({"area": {"$geoIntersects": {"$point": POINT}}}) == {
        "area": {"$geoIntersects": {"$geometry": {"type": "Point", "coordinates": [20.0, 10.0]}}}}


async def test_near_sphere_matches_as_a_center_sphere_and_sorts_through_geo_near() -> None:
    where = parse_where({"location": {"$nearSphere": POINT, "$maxDistanceInKilometers": 100}, "score": 1})
    builder = FilterBuilder("GameScore", FIELDS, Relations())
    radians = 100 / 6371.0
    assert await builder.build(where) == {
        "location": {"$geoWithin": {"$centerSphere": [[20.0, 10.0], radians]}}, "score": 1}
    near, rest = split_near(where)
    assert near is not None
    stage = near.stage("location", await builder.build(rest))["$geoNear"]
    assert stage["near"] == {"type": "Point", "coordinates": [20.0, 10.0]}
    assert math.isclose(stage["maxDistance"], radians * EARTH_RADIUS_METERS)
    assert stage["query"] == {"score": 1} and stage["key"] == "location"


async def test_array_operators_keep_storage_query_semantics() -> None:
    assert await mongo_filter({"tags": {"$all": ["a", "b"]}}) == {"tags": {"$all": ["a", "b"], "$type": "array"}}
    assert await mongo_filter({"tags": {"$containedBy": ["a"]}}) == {"$and": [
        {"tags": {"$type": "array"}}, {"$nor": [{"tags": {"$elemMatch": {"$nin": ["a"]}}}]}]}
    assert await mongo_filter({"name": {"$regex": "^a", "$options": "i"}}) == {
        "name": {"$regex": "^a", "$options": "i", "$not": {"$type": "array"}}}
    assert await mongo_filter({"score": {"$lt": True}}) == {"_id": {"$in": []}}
    assert await mongo_filter({"owner": {"$regex": "1"}}) == {"_id": {"$in": []}}  # not the "_User$u1" string


def test_sort_keys_use_stored_names() -> None:
    builder = FilterBuilder("GameScore", FIELDS, Relations())
    assert builder.sort((SortKey(("createdAt",), descending=True), SortKey(("owner",)), SortKey(("a", "b")))) == [
        ("_created_at", -1), ("_p_owner", 1), ("a.b", 1)]


def test_changes_become_atomic_operators() -> None:
    changes = parse_changes({
        "score": {"__op": "Increment", "amount": 2}, "tags": {"__op": "AddUnique", "objects": ["a", ALICE]},
        "old": {"__op": "Remove", "objects": [1]}, "gone": {"__op": "Delete"}, "list": {"__op": "Add",
                                                                                      "objects": [1, 1]},
        "stats.wins": {"__op": "Increment", "amount": 1}, "stats.best": {"__type": "Date",
                                                                        "iso": "2024-01-02T00:00:00Z"},
        "owner": ALICE, "location": POINT, "ACL": {"u1": {"read": True, "write": True}}}, is_create=False)
    assert update_document("GameScore", changes, FIELDS, "2024-05-01T00:00:00.000Z") == {
        "$set": {"_p_owner": "_User$u1", "location": [20.0, 10.0], "stats.best": datetime(2024, 1, 2,
                                                                                          tzinfo=UTC),
                 "_rperm": ["u1"], "_wperm": ["u1"], "_acl": {"u1": {"w": True, "r": True}},
                 "_updated_at": datetime(2024, 5, 1, tzinfo=UTC)},
        "$unset": {"gone": ""},
        "$inc": {"score": 2, "stats.wins": 1},
        "$addToSet": {"tags": {"$each": ["a", ALICE]}},
        "$push": {"list": {"$each": [1, 1]}},
        "$pullAll": {"old": [1]},
    }


def test_removing_an_acl_and_clearing_a_pointer() -> None:
    changes = parse_changes({"ACL": {"__op": "Delete"}, "owner": {"__op": "Delete"}}, is_create=False)
    update = update_document("GameScore", changes, FIELDS, "2024-05-01T00:00:00.000Z", extra={"_rperm": None,
                                                                                               "_wperm": None})
    assert update["$unset"] == {"_rperm": "", "_wperm": "", "_acl": "", "_p_owner": ""}
