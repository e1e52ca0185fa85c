"""GraphQL is another door to the same checked data: ACLs, class-level permissions and protectedFields hold
exactly as over REST, for reads, pointers and writes."""
from __future__ import annotations

from tests.api.conftest import ParseClient
from tests.api.graphql.support import data, first_error
from tests.api.test_user_routes import sign_up


async def test_a_private_object_is_invisible_through_graphql_exactly_as_through_rest(client: ParseClient) -> None:
    ann, bob = await sign_up(client, "ann"), await sign_up(client, "bob")
    note = await client.create("Note", {"text": "secret", "ACL": {ann["objectId"]: {"read": True, "write": True}}},
                               session=ann["sessionToken"])
    await client.create("Note", {"text": "public"}, session=ann["sessionToken"])
    for session, expected in ((bob["sessionToken"], ["public"]), (None, ["public"]),
                              (ann["sessionToken"], ["public", "secret"])):
        rest = await client.request("GET", "/classes/Note", session=session, params={"order": "text"})
        over_rest = [n["text"] for n in rest.json()["results"]]
        found = await data(client, "{ notes(order: [text_ASC]) { count edges { node { text } } } }", session=session)
        over_graphql = [e["node"]["text"] for e in found["notes"]["edges"]]
        assert over_graphql == over_rest == expected and found["notes"]["count"] == len(expected)
    status, error, body = await first_error(client, f'{{ note(id: "{note["objectId"]}") {{ text }} }}',
                                            session=bob["sessionToken"])
    assert (status, error["extensions"]["code"], body) == (200, 101, None)
    rest_get = await client.request("GET", f"/classes/Note/{note['objectId']}", session=bob["sessionToken"])
    assert rest_get.status_code == 404
    for mutation in ('updateNote(input: {{ id: "{}", fields: {{ text: "pwned" }} }}) {{ note {{ text }} }}',
                     'deleteNote(input: {{ id: "{}" }}) {{ note {{ text }} }}'):
        status, error, body = await first_error(client, "mutation { " + mutation.format(note["objectId"]) + " }",
                                                session=bob["sessionToken"])
        assert error["extensions"]["code"] == 101
    still = await client.request("GET", f"/classes/Note/{note['objectId']}", session=ann["sessionToken"])
    assert still.json()["text"] == "secret"


async def test_a_pointer_to_an_unreadable_object_resolves_to_null(client: ParseClient) -> None:
    ann, bob = await sign_up(client, "ann"), await sign_up(client, "bob")
    note = await client.create("Note", {"text": "secret", "ACL": {ann["objectId"]: {"read": True}}},
                               session=ann["sessionToken"])
    await client.create("Link", {"note": {"__type": "Pointer", "className": "Note", "objectId": note["objectId"]}},
                        session=bob["sessionToken"])
    query = "{ links { edges { node { note { text } } } } }"
    assert (await data(client, query, session=bob["sessionToken"]))["links"]["edges"] == [{"node": {"note": None}}]
    seen = await data(client, query, session=ann["sessionToken"])
    assert seen["links"]["edges"] == [{"node": {"note": {"text": "secret"}}}]


async def test_class_level_permissions_and_protected_fields_hold(client: ParseClient) -> None:
    ann = await sign_up(client, "ann", email="ann@example.com")
    bob = await sign_up(client, "bob")
    await client.request("POST", "/schemas/Secret", {"fields": {"text": {"type": "String"}}, "classLevelPermissions": {
        "find": {}, "get": {}, "count": {}, "create": {"*": True}, "update": {}, "delete": {}, "addField": {}}},
        master=True)
    status, error, _ = await first_error(client, "{ secrets { count } }", session=ann["sessionToken"])
    assert error["extensions"]["code"] == 119
    await client.request("POST", "/schemas/Profile", {"fields": {"name": {"type": "String"},
                                                                 "phone": {"type": "String"}},
                                                      "classLevelPermissions": {"protectedFields": {"*": ["phone"]}}},
                         master=True)
    await client.create("Profile", {"name": "ann", "phone": "555"}, master=True)
    query = "{ profiles { edges { node { name phone } } } }"
    seen = await data(client, query, session=bob["sessionToken"])
    rest = await client.request("GET", "/classes/Profile", session=bob["sessionToken"])
    assert "phone" not in rest.json()["results"][0]
    assert [e["node"] for e in seen["profiles"]["edges"]] == [{"name": "ann", "phone": None}]
    master = await data(client, query, master=True)
    assert master["profiles"]["edges"][0]["node"]["phone"] == "555"
    status, error, _ = await first_error(client, '{ profiles(where: { phone: { equalTo: "555" } }) '
                                                 '{ count } }', session=bob["sessionToken"])
    assert error["extensions"]["code"] == 119  # a hidden field cannot be guessed by filtering on it


async def test_read_only_master_key_cannot_write(tmp_path) -> None:
    import httpx

    from api.app import create_app
    from tests.api.conftest import make_settings

    app = create_app(make_settings(tmp_path, read_only_master_key="ro"))
    await app.state.services.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.post("/graphql", json={"query": 'mutation { createClass(input: { name: "X" }) '
                                                                  '{ class { name } } }'},
                                       headers={"X-Parse-Application-Id": "test-app", "X-Parse-Master-Key": "ro"})
            assert response.json()["errors"][0]["extensions"]["code"] == 119
    finally:
        await app.state.services.stop()
