"""What keeps one GraphQL request cheap: pointer fields loaded in one store query per class and level, and the
depth and field limits (400 before anything runs; the master key is exempt)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ParseClient, make_settings
from tests.api.graphql.support import data, first_error


def ptr(class_name: str, object_id: str) -> dict:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


class CountingStore:
    """Counts the store's `find` calls by class (a wrapper around the real store)."""

    def __init__(self, store: Any) -> None:
        self.calls: list[str] = []
        self._find = store.find

        async def find(class_name: str, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(class_name)
            return await self._find(class_name, *args, **kwargs)

        store.find = find


async def test_a_100_row_query_with_pointers_costs_one_store_query_per_class_and_level(
        app: Any, client: ParseClient) -> None:
    teams = [await client.create("Team", {"name": f"team{i}"}, master=True) for i in range(5)]
    owners = [await client.create("Owner", {"name": f"owner{i}", "team": ptr("Team", teams[i % 5]["objectId"])},
                                  master=True) for i in range(10)]
    for i in range(100):
        await client.create("Pet", {"n": i, "owner": ptr("Owner", owners[i % 10]["objectId"])}, master=True)
    counter = CountingStore(app.state.services.store)
    out = await data(client, """{ pets(first: 100, order: [n_ASC]) { edges { node { n owner { name
        team { name } } } } } }""")
    edges = out["pets"]["edges"]
    assert len(edges) == 100 and edges[13]["node"]["owner"] == {"name": "owner3", "team": {"name": "team3"}}
    assert sorted(counter.calls) == ["Owner", "Pet", "Team"]


@pytest.fixture
def settings(tmp_path: Any):
    return make_settings(tmp_path, graphql_max_depth=6, graphql_max_fields=9)


async def test_too_deep_or_too_many_fields_is_a_400_before_anything_runs(client: ParseClient) -> None:
    owner = await client.create("Owner", {"name": "o", "team": ptr("Team", "t")}, master=True)
    await client.create("Pet", {"n": 1, "owner": ptr("Owner", owner["objectId"])}, master=True)
    deep = "{ pets { edges { node { owner { team { ACL { public { read } } } } } } } }"
    status, error, body = await first_error(client, deep)
    assert status == 400 and error["extensions"]["code"] == 102 and "depth" in error["message"] and body is None
    wide = "{ a: health b: health c: health d: health e: health f: health g: health h: health i: health j: health }"
    status, error, _ = await first_error(client, wide)
    assert status == 400 and "fields" in error["message"]
    fragment = "query { ...F } fragment F on Query { a: health b: health c: health d: health e: health f: health " \
               "g: health h: health i: health j: health }"
    status, error, _ = await first_error(client, fragment)
    assert status == 400  # fields in fragments count where they are spread
    assert await data(client, wide, master=True)  # the master key is exempt, as in Parse
    assert await data(client, "{ pets { count } }") == {"pets": {"count": 1}}


async def test_introspection_needs_the_master_key(client: ParseClient) -> None:
    status, error, _ = await first_error(client, "{ __schema { queryType { name } } }")
    assert status == 403 and error["message"] == "Introspection is not allowed"
    assert await data(client, "{ __typename }") == {"__typename": "Query"}
    assert (await data(client, "{ __schema { queryType { name } } }", master=True))["__schema"]["queryType"] == {
        "name": "Query"}
