"""Which event a write produces (PARSE_PROTOCOL 6.4), `watch` and `keys` (6.6), and hidden fields."""
from __future__ import annotations

from typing import Any

import pytest

from auth.principal import MASTER, Principal
from livequery.events import (
    classify,
    object_json,
    passes_watch,
    same_json,
    select_keys,
    strip_hidden,
)


@pytest.mark.parametrize(("matched_before", "matches_now", "is_new", "is_delete", "expected"), [
    (True, True, False, False, "update"),
    (True, False, False, False, "leave"),
    (False, True, False, False, "enter"),
    (False, True, True, False, "create"),
    (False, False, False, False, None),
    (False, False, True, False, None),
    (False, True, False, True, "delete"),
    (True, True, False, True, "delete"),
    (False, False, False, True, None),
])
def test_classify(matched_before: bool, matches_now: bool, is_new: bool, is_delete: bool,
                  expected: str | None) -> None:
    assert classify(matched_before, matches_now, is_new, is_delete) == expected


CURRENT = {"objectId": "o", "score": 3, "name": "a", "tags": ["x"]}


@pytest.mark.parametrize(("kind", "watch", "original", "expected"), [
    ("update", ("score",), {**CURRENT, "score": 2}, True),
    ("update", ("score",), {**CURRENT, "name": "b"}, False),
    ("update", ("score", "name"), {**CURRENT, "name": "b"}, True),
    ("update", ("tags",), {**CURRENT, "tags": ["x"]}, False),
    ("update", ("tags",), {**CURRENT, "tags": ["x", "y"]}, True),
    ("update", ("gone",), CURRENT, False),
    ("update", ("score",), {k: v for k, v in CURRENT.items() if k != "score"}, True),
    ("update", None, CURRENT, True),
    ("create", ("score",), None, True),
    ("create", ("missing",), None, False),
    ("enter", ("score",), CURRENT, True),
    ("leave", ("score",), CURRENT, True),
    ("delete", ("score",), None, True),
])
def test_watch(kind: Any, watch: tuple[str, ...] | None, original: dict[str, Any] | None, expected: bool) -> None:
    assert passes_watch(kind, watch, CURRENT, original) is expected


def test_watch_sees_true_and_one_as_different() -> None:
    assert passes_watch("update", ("flag",), {"flag": True}, {"flag": 1})
    assert not passes_watch("update", ("n",), {"n": 1}, {"n": 1.0})


def test_same_json_is_deep() -> None:
    assert same_json({"a": [1, {"b": True}]}, {"a": [1.0, {"b": True}]})
    assert not same_json({"a": [1, {"b": True}]}, {"a": [1, {"b": 1}]})
    assert not same_json([1, 2], [1, 2, 3])


def test_keys_trim_to_the_base_fields_and_the_listed_ones() -> None:
    doc = {"objectId": "o", "createdAt": "c", "updatedAt": "u", "ACL": {}, "a": 1, "b": 2}
    assert select_keys(doc, ("b", "absent")) == {"objectId": "o", "createdAt": "c", "updatedAt": "u", "ACL": {},
                                                 "b": 2}
    assert select_keys(doc, None) is doc


def test_strip_hidden_removes_internal_keys_and_credentials_without_touching_the_document() -> None:
    doc = {"objectId": "o", "_rperm": ["*"], "_wperm": [], "_hashed_password": "h", "password": "p",
           "sessionToken": "s", "name": "n"}
    before = dict(doc)
    assert strip_hidden(Principal(), "Thing", doc) == {"objectId": "o", "name": "n"}
    assert strip_hidden(MASTER, "Thing", doc) == {"objectId": "o", "name": "n"}
    assert doc == before


def test_credentials_are_stripped_for_everyone_the_master_key_and_the_user_included() -> None:
    user = {"objectId": "u1", "username": "ann", "authData": {"x": {"id": "1"}}, "sessionToken": "r:1",
            "password": "p", "_hashed_password": "h"}
    for principal in (Principal(user_id="u1"), MASTER, Principal(user_id="u2"), Principal()):
        assert strip_hidden(principal, "_User", user) == {"objectId": "u1", "username": "ann"}


def test_object_json_puts_the_class_name_first() -> None:
    assert object_json("Msg", {"objectId": "o", "n": 1}) == b'{"className":"Msg","objectId":"o","n":1}'
