"""A real GraphQL client (Python `gql`) against the server: queries, variables, mutations and errors as a
client library sees them."""
from __future__ import annotations

from typing import Any

import pytest
from gql import GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError

from tests.api.conftest import MASTER_KEY, ParseClient
from tests.api.graphql.support import client_for


async def test_gql_client_creates_and_pages_through_objects(app: Any, client: ParseClient) -> None:
    await client.request("POST", "/schemas/Todo", {"fields": {"title": {"type": "String"},
                                                              "done": {"type": "Boolean"}}}, master=True)
    async with client_for(app) as session:
        create = """mutation Create($title: String!) { createTodo(input: { fields: { title: $title, done: false } })
                         { todo { id title done } } }"""
        for title in ("a", "b", "c"):
            result = await session.execute(GraphQLRequest(create, variable_values={"title": title}))
            assert result["createTodo"]["todo"]["title"] == title
        page = """query Page($after: String) { todos(order: [title_ASC], first: 2, after: $after) {
                        count edges { node { title } } pageInfo { hasNextPage endCursor } } }"""
        first = await session.execute(GraphQLRequest(page))
        assert [e["node"]["title"] for e in first["todos"]["edges"]] == ["a", "b"]
        after = first["todos"]["pageInfo"]["endCursor"]
        second = await session.execute(GraphQLRequest(page, variable_values={"after": after}))
        assert [e["node"]["title"] for e in second["todos"]["edges"]] == ["c"]
        assert second["todos"]["pageInfo"]["hasNextPage"] is False and second["todos"]["count"] == 3
        with pytest.raises(TransportQueryError) as failure:
            await session.execute(gql('query { todo(id: "missing") { title } }'))
        assert failure.value.errors[0]["extensions"]["code"] == 101


async def test_gql_client_signs_up_and_uses_the_session(app: Any) -> None:
    async with client_for(app) as session:
        signed = await session.execute(gql("""mutation { signUp(input: { fields: { username: "ann", password: "pw" } })
                                              { viewer { sessionToken user { username } } } }"""))
    token = signed["signUp"]["viewer"]["sessionToken"]
    async with client_for(app, headers={"X-Parse-Session-Token": token}) as session:
        viewer = await session.execute(gql("query { viewer { user { id username } } }"))
    assert viewer["viewer"]["user"]["username"] == "ann"
    async with client_for(app, headers={"X-Parse-Master-Key": MASTER_KEY},
                          fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None and session.client.schema.get_type("User") is not None
