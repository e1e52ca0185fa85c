"""`/aggregate` pipelines in Parse Server's stored layout, and their rows back, on their own (no server)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from storage.errors import ParseError
from storage.mongo.aggregation import decode_row, translate_pipeline
from storage.schema import BASE_FIELDS
from storage.values import FieldType

FIELDS = {**BASE_FIELDS, "owner": FieldType("Pointer", "_User"), "score": FieldType("Number"),
          "playedAt": FieldType("Date"), "fans": FieldType("Relation", "_User"), "stats": FieldType("Object")}
DAY = datetime(2024, 1, 2, tzinfo=UTC)
DAY_ISO = "2024-01-02T00:00:00.000Z"


@pytest.mark.parametrize(("stage", "stored"), [
    ({"$match": {"objectId": "a1", "score": {"$gt": 3}}}, {"$match": {"_id": "a1", "score": {"$gt": 3}}}),
    ({"$match": {"owner": "u1"}}, {"$match": {"_p_owner": "_User$u1"}}),
    ({"$match": {"owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"}}},
     {"$match": {"_p_owner": "_User$u1"}}),
    ({"$match": {"owner": {"$in": ["u1", "u2"], "$exists": True}}},
     {"$match": {"_p_owner": {"$in": ["_User$u1", "_User$u2"], "$exists": True}}}),
    ({"$match": {"createdAt": {"$gte": DAY_ISO}, "playedAt": {"__type": "Date", "iso": DAY_ISO}}},
     {"$match": {"_created_at": {"$gte": DAY}, "playedAt": DAY}}),
    ({"$match": {"$or": [{"owner": "u1"}, {"updatedAt": {"$lt": DAY_ISO}}]}},
     {"$match": {"$or": [{"_p_owner": "_User$u1"}, {"_updated_at": {"$lt": DAY}}]}}),
    ({"$match": {"stats.wins": 3}}, {"$match": {"stats.wins": 3}}),
    ({"$project": {"owner": 1, "createdAt": 1, "total": {"$add": ["$score", 1]}}},
     {"$project": {"_p_owner": 1, "_created_at": 1, "total": {"$add": ["$score", 1]}}}),
    ({"$group": {"_id": "$createdAt", "last": {"$max": "$updatedAt"}, "ids": {"$push": "$objectId"}}},
     {"$group": {"_id": "$_created_at", "last": {"$max": "$_updated_at"}, "ids": {"$push": "$_id"}}}),
    ({"$group": {"_id": {"day": "$playedAt", "who": "$owner"}, "vars": {"$first": "$$ROOT"}}},
     {"$group": {"_id": {"day": "$playedAt", "who": "$_p_owner"}, "vars": {"$first": "$$ROOT"}}}),
    ({"$sort": {"createdAt": -1, "owner": 1}}, {"$sort": {"_created_at": -1, "_p_owner": 1}}),
    ({"$geoNear": {"near": [0, 0], "query": {"owner": "u1"}}},
     {"$geoNear": {"near": [0, 0], "query": {"_p_owner": "_User$u1"}}}),
    ({"$limit": 2}, {"$limit": 2}),
])
def test_stages_use_stored_names(stage: dict[str, Any], stored: dict[str, Any]) -> None:
    assert translate_pipeline("GameScore", [stage], FIELDS)[0] == [stored]


def test_grouping_by_a_pointer_is_noticed() -> None:
    assert translate_pipeline("GameScore", [{"$group": {"_id": "$owner"}}], FIELDS)[1] is True
    assert translate_pipeline("GameScore", [{"$group": {"_id": "$owner"}}, {"$group": {"_id": "$n"}}],
                              FIELDS)[1] is False


@pytest.mark.parametrize("name", ["$out", "$merge"])
def test_writing_stages_are_refused(name: str) -> None:
    with pytest.raises(ParseError) as refused:
        translate_pipeline("GameScore", [{name: "Other"}], FIELDS)
    assert refused.value.code == 102


def test_a_row_reads_in_rest_form_without_acl_or_relations() -> None:
    row = {"_id": "g1", "_p_owner": "_User$u1", "_created_at": DAY, "playedAt": DAY, "_rperm": ["*"]}
    assert decode_row("GameScore", row, FIELDS, False) == {
        "objectId": "g1", "owner": {"__type": "Pointer", "className": "_User", "objectId": "u1"},
        "createdAt": DAY_ISO, "playedAt": {"__type": "Date", "iso": DAY_ISO}, "_rperm": ["*"]}


@pytest.mark.parametrize(("group_key", "pointer", "object_id"), [
    ("_User$u1", True, "u1"), (7, False, 7), (None, False, None), ("", False, None), ({}, False, None),
    ({"y": 2024}, False, {"y": 2024}), (DAY, False, {"__type": "Date", "iso": DAY_ISO}),
])
def test_a_group_key_becomes_the_object_id(group_key: Any, pointer: bool, object_id: Any) -> None:
    assert decode_row("GameScore", {"_id": group_key, "n": 1}, FIELDS, pointer) == {"objectId": object_id, "n": 1}
