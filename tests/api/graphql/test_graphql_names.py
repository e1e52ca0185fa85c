"""Names as Parse derives them: pluralize 8.0.0's answers, type names, global ids, and collisions reported."""
from __future__ import annotations

import logging

import pytest

from api.graphql.names import field_name, from_global_id, object_id_of, pluralize, to_global_id, type_name
from api.graphql.schema import build_schema
from storage.schema import new_schema
from storage.values import FieldType
from tests.api.conftest import ParseClient
from tests.api.graphql.support import data


@pytest.mark.parametrize(("word", "plural"), [
    ("gameScore", "gameScores"), ("category", "categories"), ("Category", "Categories"), ("box", "boxes"),
    ("person", "people"), ("shelf", "shelves"), ("news", "news"), ("data", "data"), ("user", "users"),
    ("city", "cities"), ("analysis", "analyses"), ("matrix", "matrices"), ("quiz", "quizzes"), ("hero", "heroes"),
    ("child", "children"), ("woman", "women"), ("wife", "wives"), ("fish", "fish"), ("sheep", "sheep"),
    ("status", "statuses"), ("photo", "photos"), ("species", "species"), ("toy", "toys"), ("chinese", "chinese"),
])
def test_pluralize_answers_as_js_pluralize_8(word: str, plural: str) -> None:
    assert pluralize(word) == plural


def test_class_names_to_graphql_names_and_global_ids() -> None:
    assert (type_name("_User"), field_name("_User"), field_name("GameScore")) == ("User", "user", "gameScore")
    assert to_global_id("GameScore", "YunE9tCB2k") == "R2FtZVNjb3JlOll1bkU5dENCMms="
    assert from_global_id("R2FtZVNjb3JlOll1bkU5dENCMms=") == ("GameScore", "YunE9tCB2k")
    assert object_id_of("YunE9tCB2k", "GameScore") == "YunE9tCB2k"  # a plain objectId is never decoded
    assert object_id_of(to_global_id("Other", "x"), "GameScore") == to_global_id("Other", "x")


def test_colliding_class_names_are_reported_not_silently_dropped() -> None:
    schemas = [new_schema(name, {"n": FieldType("String")}) for name in ("Foo", "foo", "_Foo", "News", "Viewer")]
    built = build_schema(schemas)
    assert any('"Foo"' in w and "taken" in w for w in built.warnings)
    assert any('"foo"' in w and "taken" in w for w in built.warnings)
    assert any('"News" has no find query' in w for w in built.warnings)
    assert any('"Viewer"' in w and "the server" in w for w in built.warnings)
    query_type = built.schema.query_type
    assert query_type is not None and "foo" in query_type.fields and "news" in query_type.fields


async def test_a_collision_is_logged_as_a_warning_when_the_schema_is_built(
        client: ParseClient, caplog: pytest.LogCaptureFixture) -> None:
    await client.create("News", {"title": "x"}, master=True)
    with caplog.at_level(logging.WARNING, logger="api.graphql.endpoint"):
        await data(client, "{ health }")
        await data(client, "{ health }")
    warned = [r for r in caplog.records if 'class "News" has no find query' in r.getMessage()]
    assert len(warned) == 1
