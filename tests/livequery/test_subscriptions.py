"""The subscription index: shared queries, equality buckets, and freeing everything on removal."""
from __future__ import annotations

from typing import Any

import pytest

from auth.principal import ANONYMOUS
from livequery.subscriptions import Subscription, SubscriptionIndex, index_buckets
from storage.errors import ErrorCode, ParseError
from storage.query import parse_where
from storage.values import Pointer


def subscribe(index: SubscriptionIndex, where: dict[str, Any] | None, class_name: str = "Msg",
              request_id: int = 1) -> Subscription:
    subscription = Subscription(None, request_id, index.prepare(class_name, where), ANONYMOUS)
    index.add(subscription)
    return subscription


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def test_identical_queries_share_one_compiled_query_whatever_the_key_order() -> None:
    index = SubscriptionIndex()
    first = subscribe(index, {"room": "r1", "n": {"$gt": 1, "$lt": 5}})
    second = subscribe(index, {"n": {"$lt": 5, "$gt": 1}, "room": "r1"}, request_id=2)
    assert first.query is second.query
    assert index.query_count == 1
    assert len(index) == 2


def test_same_where_on_another_class_is_another_query() -> None:
    index = SubscriptionIndex()
    assert subscribe(index, {"room": "r1"}, "Msg").query is not subscribe(index, {"room": "r1"}, "Note").query
    assert index.query_count == 2


def test_a_write_finds_only_the_query_of_its_room() -> None:
    index = SubscriptionIndex()
    for room in range(1000):
        subscribe(index, {"room": f"r{room}"}, request_id=room)
    found = index.candidates("Msg", {"room": "r17", "text": "hi"})
    assert [q.key for q in found] == [index.prepare("Msg", {"room": "r17"}).key]
    assert index.candidates("Msg", {"room": "elsewhere"}) == []
    assert index.candidates("Other", {"room": "r17"}) == []


def test_an_update_also_finds_the_queries_of_its_previous_value() -> None:
    index = SubscriptionIndex()
    old_room = subscribe(index, {"room": "r1"}).query
    new_room = subscribe(index, {"room": "r2"}, request_id=2).query
    found = index.candidates("Msg", {"room": "r2"}, {"room": "r1"})
    assert set(found) == {old_room, new_room}


def test_array_fields_are_looked_up_by_each_element() -> None:
    index = SubscriptionIndex()
    tagged = subscribe(index, {"tags": "red"}).query
    assert index.candidates("Msg", {"tags": ["blue", "red"]}) == [tagged]


def test_numbers_share_buckets_by_value_but_booleans_do_not() -> None:
    index = SubscriptionIndex()
    one = subscribe(index, {"n": 1}).query
    assert index.candidates("Msg", {"n": 1.0}) == [one]
    assert index.candidates("Msg", {"n": True}) == []
    assert index.candidates("Msg", {"n": "1"}) == []


def test_pointer_equality_is_indexed() -> None:
    index = SubscriptionIndex()
    mine = subscribe(index, {"owner": pointer("_User", "u1")}).query
    subscribe(index, {"owner": pointer("_User", "u2")}, request_id=2)
    assert index.candidates("Msg", {"owner": pointer("_User", "u1")}) == [mine]


def test_an_in_query_sits_in_several_buckets_and_is_found_once() -> None:
    index = SubscriptionIndex()
    either = subscribe(index, {"room": {"$in": ["r1", "r2"]}}).query
    assert index.candidates("Msg", {"room": "r2"}) == [either]
    assert index.candidates("Msg", {"room": ["r1", "r2"]}, {"room": "r1"}) == [either]
    assert index.candidates("Msg", {"room": "r3"}) == []


@pytest.mark.parametrize("where", [
    {}, {"n": {"$gt": 3}}, {"room": {"$ne": "r1"}}, {"room": None}, {"$or": [{"room": "r1"}, {"room": "r2"}]},
    {"room": {"$in": ["r1", None]}}, {"flag": True}, {"stats.room": "r1"}, {"room": ["r1", "r2"]},
])
def test_queries_without_an_indexable_equality_are_checked_on_every_write(where: dict[str, Any]) -> None:
    index = SubscriptionIndex()
    query = subscribe(index, where).query
    assert index.candidates("Msg", {"unrelated": 1}) == [query]


def test_index_buckets_pick_an_equality_of_a_conjunction() -> None:
    assert index_buckets(parse_where({"n": {"$gt": 1}, "room": "r1"})) == ("room", ("r1",))
    assert index_buckets(parse_where({"room": {"$in": ["a", "b"]}, "kind": "x"})) == ("kind", ("x",))
    assert index_buckets(parse_where({"owner": pointer("_User", "u")})) == ("owner", (Pointer("_User", "u"),))
    assert index_buckets(parse_where({"createdAt": {"$gt": {"__type": "Date", "iso": "2024-01-01T00:00:00Z"}}})) \
        is None


def test_removing_the_last_subscription_frees_its_query_and_buckets() -> None:
    index = SubscriptionIndex()
    first = subscribe(index, {"room": "r1"})
    second = subscribe(index, {"room": "r1"}, request_id=2)
    scanned = subscribe(index, {"n": {"$gt": 1}}, request_id=3)
    index.remove(first)
    assert index.query_count == 2 and len(index) == 2
    index.remove(second)
    index.remove(scanned)
    index.remove(scanned)  # twice is harmless
    assert index.query_count == 0 and len(index) == 0
    assert index.candidates("Msg", {"room": "r1", "n": 2}) == []


def test_a_prepared_query_whose_group_emptied_meanwhile_is_registered_again() -> None:
    index = SubscriptionIndex()
    existing = subscribe(index, {"room": "r1"})
    prepared = index.prepare("Msg", {"room": "r1"})  # the live one
    index.remove(existing)  # ... which goes away before the new subscription is added
    late = Subscription(None, 2, prepared, ANONYMOUS)
    index.add(late)
    assert index.candidates("Msg", {"room": "r1"}) == [late.query]


def test_relative_times_are_never_shared() -> None:
    index = SubscriptionIndex()
    where = {"d": {"$gt": {"$relativeTime": "1 day ago"}}}
    assert subscribe(index, where).query is not subscribe(index, where, request_id=2).query


@pytest.mark.parametrize(("where", "code"), [
    ({"$bad": 1}, ErrorCode.INVALID_QUERY),
    ({"team": {"$inQuery": {"className": "Team", "where": {}}}}, ErrorCode.INVALID_QUERY),
    ({"_rperm": "x"}, ErrorCode.INVALID_KEY_NAME),
    ({"a": {"$regex": "("}}, ErrorCode.INVALID_QUERY),
])
def test_prepare_refuses_invalid_wheres(where: dict[str, Any], code: ErrorCode) -> None:
    with pytest.raises(ParseError) as caught:
        SubscriptionIndex().prepare("Msg", where)
    assert caught.value.code == code


def test_a_write_checks_only_its_rooms_subscription_among_100_000() -> None:
    """Selective matching stays flat: a write is matched against the subscriptions its equality values index,
    never against every subscription of the class (the timing of this lives in benchmarks/fanout.py)."""
    small, large = SubscriptionIndex(), SubscriptionIndex()
    for room in range(100):
        subscribe(small, {"room": f"r{room}"}, request_id=room)
    for room in range(100_000):
        subscribe(large, {"room": f"r{room}"}, request_id=room)
    assert len(large) == 100_000
    doc, moved = {"room": "r17", "text": "hello"}, {"room": "r99", "text": "hello"}
    for index in (small, large):
        assert len(index.candidates("Msg", doc, doc)) == 1
        assert len(index.candidates("Msg", moved, doc)) == 2  # the room it left and the room it entered
        assert len(index.candidates("Msg", {"text": "no room"})) == 0
