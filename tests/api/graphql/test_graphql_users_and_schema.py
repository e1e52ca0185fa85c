"""Users (signUp, logIn, logOut, viewer), health, and the master-key schema queries and mutations over GraphQL."""
from __future__ import annotations

from tests.api.conftest import ParseClient
from tests.api.graphql.support import data, first_error, post

SIGN_UP = """mutation { signUp(input: { clientMutationId: "s1", fields: { username: "docuser", password: "s3cret",
    email: "docuser@example.com" } }) {
    clientMutationId viewer { sessionToken user { id objectId username email } } } }"""


async def test_sign_up_log_in_viewer_and_log_out(client: ParseClient) -> None:
    signed = (await data(client, SIGN_UP))["signUp"]
    assert signed["clientMutationId"] == "s1" and signed["viewer"]["sessionToken"].startswith("r:")
    assert signed["viewer"]["user"]["username"] == "docuser"
    assert signed["viewer"]["user"]["email"] == "docuser@example.com"  # the user sees their own email
    stored = (await client.request("GET", f"/users/{signed['viewer']['user']['objectId']}", master=True)).json()
    assert stored["username"] == "docuser" and "password" not in stored
    logged = (await data(client, """mutation { logIn(input: { username: "docuser", password: "s3cret" }) {
        viewer { sessionToken user { username } } } }"""))["logIn"]["viewer"]
    token = logged["sessionToken"]
    assert token != signed["viewer"]["sessionToken"]
    viewer = await data(client, "{ viewer { sessionToken user { username } } }", session=token)
    assert viewer == {"viewer": {"sessionToken": token, "user": {"username": "docuser"}}}
    bye = await data(client, 'mutation { logOut(input: { clientMutationId: "bye" }) { clientMutationId ok } }',
                     session=token)
    assert bye == {"logOut": {"clientMutationId": "bye", "ok": True}}
    after = await post(client, "{ viewer { user { username } } }", session=token)
    assert after.status_code == 400 and after.json()["errors"][0]["extensions"]["code"] == 209
    rest = await client.request("GET", "/users/me", session=token)
    assert rest.status_code == 400 and rest.json()["code"] == 209


async def test_wrong_password_and_no_session_are_parse_errors(client: ParseClient) -> None:
    await data(client, SIGN_UP)
    status, error, body = await first_error(client, """mutation { logIn(input: { username: "docuser",
        password: "wrong" }) { viewer { sessionToken } } }""")
    assert (status, error["message"], error["extensions"]["code"], body) == (
        200, "Invalid username/password.", 101, {"logIn": None})
    status, error, body = await first_error(client, "{ viewer { sessionToken } }")
    assert error["extensions"]["code"] == 209 and body is None
    status, error, _ = await first_error(client, SIGN_UP)
    assert error["extensions"]["code"] == 202


async def test_health_needs_no_session(client: ParseClient) -> None:
    assert await data(client, "{ health }") == {"health": True}


async def test_schema_mutations_and_queries_with_the_master_key(client: ParseClient) -> None:
    created = await data(client, """mutation { createClass(input: { name: "Book", schemaFields: {
        addStrings: [{ name: "title" }], addPointers: [{ name: "author", targetClassName: "_User" }] } }) {
        class { name schemaFields { name __typename ... on SchemaPointerField { targetClassName } } } } }""",
                         master=True)
    fields = {f["name"]: f for f in created["createClass"]["class"]["schemaFields"]}
    assert fields["title"]["__typename"] == "SchemaStringField"
    assert fields["author"] == {"name": "author", "__typename": "SchemaPointerField", "targetClassName": "_User"}
    assert fields["createdAt"]["__typename"] == "SchemaDateField"
    rest = (await client.request("GET", "/schemas/Book", master=True)).json()
    assert rest["fields"]["author"] == {"type": "Pointer", "targetClass": "_User"}
    made = await data(client, 'mutation { createBook(input: { fields: { title: "Dune" } }) { book { title } } }')
    assert made == {"createBook": {"book": {"title": "Dune"}}}  # the new class is in the schema at once
    updated = await data(client, """mutation { updateClass(input: { name: "Book", schemaFields: {
        addNumbers: [{ name: "pages" }], remove: [{ name: "author" }] } }) { class { schemaFields { name } } } }""",
                         master=True)
    names = {f["name"] for f in updated["updateClass"]["class"]["schemaFields"]}
    assert "pages" in names and "author" not in names
    status, error, _ = await first_error(client, """mutation { updateClass(input: { name: "Book", schemaFields: {
        addStrings: [{ name: "title" }] } }) { class { name } } }""", master=True)
    assert error["extensions"]["code"] == 105
    one = await data(client, '{ class(name: "Book") { name } classes { name } }', master=True)
    assert one["class"] == {"name": "Book"} and {"name": "Book"} in one["classes"]
    status, error, _ = await first_error(client, '{ class(name: "Nope") { name } }', master=True)
    assert error["extensions"]["code"] == 103
    status, error, _ = await first_error(client, 'mutation { deleteClass(input: { name: "Book" }) { class { name } } }',
                                         master=True)
    assert error["extensions"]["code"] == 255  # not empty
    await client.request("DELETE", "/purge/Book", master=True)
    deleted = await data(client, 'mutation { deleteClass(input: { name: "Book" }) { class { name } } }', master=True)
    assert deleted == {"deleteClass": {"class": {"name": "Book"}}}
    assert (await client.request("GET", "/schemas/Book", master=True)).status_code == 400


async def test_schema_operations_need_the_master_key(client: ParseClient) -> None:
    for query in ("{ classes { name } }", 'mutation { createClass(input: { name: "X" }) { class { name } } }'):
        status, error, _ = await first_error(client, query)
        assert error["extensions"]["code"] == 119


async def test_log_in_with_anonymous_auth_data_signs_up_then_logs_in(client: ParseClient) -> None:
    query = """mutation($auth: Object!) { logInWith(input: { authData: $auth }) {
        viewer { sessionToken user { objectId username } } } }"""
    auth = {"anonymous": {"id": "0f6a6d0e-2b7e-4a8e-9d7c-1b2a3c4d5e6f"}}
    first = (await data(client, query, {"auth": auth}))["logInWith"]["viewer"]
    again = (await data(client, query, {"auth": auth}))["logInWith"]["viewer"]
    assert again["user"]["objectId"] == first["user"]["objectId"]
    assert again["sessionToken"] != first["sessionToken"]
    status, error, body = await first_error(client, query, {"auth": {"nope": {"id": "x"}}})
    assert error["extensions"]["code"] == 252 and body == {"logInWith": None}
