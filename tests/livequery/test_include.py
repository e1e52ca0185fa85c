"""The pure parts of `include` on live subscriptions: its bounds, and the swap of pointers for objects."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from livequery.include import MAX_INCLUDE_DEPTH, MAX_INCLUDE_PATHS, expand, parse_include
from storage.errors import ErrorCode, ParseError


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


def shown(class_name: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def test_include_takes_a_list_or_a_comma_separated_string_as_a_tree() -> None:
    include = parse_include("author.company, tags,author")
    assert include is not None
    assert include.paths == ("author", "author.company", "tags")
    assert include.tree == {"author": {"company": {}}, "tags": {}}
    assert parse_include(None) is None and parse_include([]) is None


@pytest.mark.parametrize("raw", [
    [f"f{i}" for i in range(MAX_INCLUDE_PATHS + 1)],
    [".".join(["f"] * (MAX_INCLUDE_DEPTH + 1))],
    ["author..company"],
])
def test_include_beyond_its_bounds_is_an_invalid_query(raw: list[str]) -> None:
    with pytest.raises(ParseError) as refused:
        parse_include(raw)
    assert refused.value.code == ErrorCode.INVALID_QUERY


def test_expand_swaps_fetched_pointers_and_leaves_the_rest_and_its_inputs_alone() -> None:
    event = {"objectId": "p1", "author": pointer("Author", "a1"), "editor": pointer("Author", "gone"),
             "tags": [pointer("Tag", "t1"), "plain"]}
    fetched = {("Author", "a1"): {"objectId": "a1", "name": "Ann", "_rperm": ["*"],
                                  "company": pointer("Company", "c1")},
               ("Company", "c1"): {"objectId": "c1", "name": "Acme"},
               ("Tag", "t1"): {"objectId": "t1", "label": "x"}}
    before = copy.deepcopy((event, fetched))
    tree = {"author": {"company": {}}, "editor": {}, "tags": {}}
    out = expand(event, tree, fetched, shown)
    assert out["author"] == {"__type": "Object", "className": "Author", "objectId": "a1", "name": "Ann",
                             "company": {"__type": "Object", "className": "Company", "objectId": "c1",
                                         "name": "Acme"}}
    assert out["editor"] == pointer("Author", "gone")  # not readable: not fetched
    assert out["tags"] == [{"__type": "Object", "className": "Tag", "objectId": "t1", "label": "x"}, "plain"]
    assert (event, fetched) == before
