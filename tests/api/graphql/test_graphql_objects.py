"""Class queries and mutations over POST/GET /graphql, with Parse's generated names, inputs and connections."""
from __future__ import annotations

import base64

from tests.api.conftest import ParseClient
from tests.api.graphql.support import data, first_error, post


def ptr(class_name: str, object_id: str) -> dict:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


async def scores(client: ParseClient) -> list[dict]:
    created = []
    for name, score in (("Sean Plott", 1337), ("Ann", 10), ("Bob", 20), ("Cat", 30)):
        created.append(await client.create("GameScore", {"playerName": name, "score": score, "cheatMode": False},
                                           master=True))
    return created


async def test_create_mutation_answers_the_object_with_global_id_and_default_acl(client: ParseClient) -> None:
    await scores(client)
    out = await data(client, """mutation { createGameScore(input: { clientMutationId: "c1", fields: {
        playerName: "Sean", score: 7, cheatMode: false } }) {
        clientMutationId gameScore { id objectId createdAt updatedAt playerName score cheatMode
                                     ACL { public { read write } users { userId } } } } }""")
    created = out["createGameScore"]
    assert created["clientMutationId"] == "c1"
    score = created["gameScore"]
    assert base64.b64decode(score["id"]).decode() == f"GameScore:{score['objectId']}"
    assert score["playerName"] == "Sean" and score["score"] == 7 and score["cheatMode"] is False
    assert score["createdAt"] == score["updatedAt"]
    assert score["ACL"] == {"public": {"read": True, "write": True}, "users": None}
    rest = await client.request("GET", f"/classes/GameScore/{score['objectId']}")
    assert rest.json()["playerName"] == "Sean"


async def test_find_with_where_order_first_count_and_page_info(client: ParseClient) -> None:
    await scores(client)
    query = """query($after: String) { gameScores(where: { score: { greaterThan: 15 } }, order: [score_DESC],
        first: 2, after: $after) { count edges { cursor node { playerName score } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
    page = (await data(client, query))["gameScores"]
    assert page["count"] == 3
    assert [e["node"]["playerName"] for e in page["edges"]] == ["Sean Plott", "Cat"]
    assert page["pageInfo"]["hasNextPage"] is True and page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    rest = await page_after(client, query, page["pageInfo"]["endCursor"])
    assert [e["node"]["playerName"] for e in rest["edges"]] == ["Bob"]
    assert rest["pageInfo"]["hasNextPage"] is False and rest["pageInfo"]["hasPreviousPage"] is True


async def page_after(client: ParseClient, query: str, cursor: str) -> dict:
    return (await data(client, query, {"after": cursor}))["gameScores"]


async def test_a_page_does_not_shift_when_rows_are_added_before_its_cursor(client: ParseClient) -> None:
    await scores(client)
    query = """query($after: String) { gameScores(order: [score_ASC], first: 2, after: $after) {
        edges { node { score } } pageInfo { endCursor } } }"""
    first = (await data(client, query))["gameScores"]
    assert [e["node"]["score"] for e in first["edges"]] == [10, 20]
    await client.create("GameScore", {"playerName": "Early", "score": 1}, master=True)  # lands before the cursor
    second = await page_after(client, query, first["pageInfo"]["endCursor"])
    assert [e["node"]["score"] for e in second["edges"]] == [30, 1337]


async def test_last_and_before_read_backwards(client: ParseClient) -> None:
    await scores(client)
    query = ("{ gameScores(order: [score_ASC], last: 2) { edges { cursor node { score } } "
             "pageInfo { hasPreviousPage } } }")
    page = (await data(client, query))["gameScores"]
    assert [e["node"]["score"] for e in page["edges"]] == [30, 1337] and page["pageInfo"]["hasPreviousPage"]
    before = page["edges"][0]["cursor"]
    earlier = await data(client, """query($b: String) { gameScores(order: [score_ASC], last: 1, before: $b) {
        edges { node { score } } } }""", {"b": before})
    assert [e["node"]["score"] for e in earlier["gameScores"]["edges"]] == [20]


async def test_get_by_global_or_object_id_and_node(client: ParseClient) -> None:
    created = (await scores(client))[0]
    by_object_id = await data(client, f'{{ gameScore(id: "{created["objectId"]}") {{ id playerName }} }}')
    global_id = by_object_id["gameScore"]["id"]
    by_global = await data(client, f'{{ gameScore(id: "{global_id}") {{ objectId }} }}')
    assert by_global["gameScore"]["objectId"] == created["objectId"]
    node = await data(client, f'{{ node(id: "{global_id}") {{ id ... on GameScore {{ score }} }} }}')
    assert node["node"] == {"id": global_id, "score": 1337}


async def test_update_and_delete_mutations(client: ParseClient) -> None:
    created = (await scores(client))[0]
    updated = await data(client, """mutation($id: ID!) { updateGameScore(input: { id: $id, fields: {
        score: 1338, cheatMode: null } }) { gameScore { score cheatMode updatedAt } } }""", {"id": created["objectId"]})
    assert updated["updateGameScore"]["gameScore"]["score"] == 1338
    assert updated["updateGameScore"]["gameScore"]["cheatMode"] is None
    deleted = await data(client, """mutation($id: ID!) { deleteGameScore(input: { id: $id }) {
        gameScore { objectId playerName } } }""", {"id": created["objectId"]})
    assert deleted["deleteGameScore"]["gameScore"]["playerName"] == "Sean Plott"
    gone = await client.request("GET", f"/classes/GameScore/{created['objectId']}")
    assert gone.status_code == 404


async def test_pointer_and_relation_inputs_link_create_and_add(client: ParseClient) -> None:
    await client.request("POST", "/schemas/City", {"fields": {"name": {"type": "String"},
                                                              "population": {"type": "Number"}}}, master=True)
    await client.request("POST", "/schemas/Country", {"fields": {
        "name": {"type": "String"}, "capital": {"type": "Pointer", "targetClass": "City"},
        "cities": {"type": "Relation", "targetClass": "City"}}}, master=True)
    created = await data(client, """mutation { createCountry(input: { fields: { name: "Mars",
        capital: { createAndLink: { name: "Alpha", population: 10 } },
        cities: { createAndAdd: [{ name: "Beta", population: 5 }] } } }) {
        country { id name capital { name } cities { count edges { node { objectId name } } } } } }""")
    country = created["createCountry"]["country"]
    assert country["capital"] == {"name": "Alpha"}
    assert country["cities"]["count"] == 1 and country["cities"]["edges"][0]["node"]["name"] == "Beta"
    alpha = (await client.find("City", where={"name": "Alpha"}))[0]
    await data(client, """mutation($id: ID!, $city: ID!) { updateCountry(input: { id: $id,
        fields: { cities: { add: [$city] } } }) { country { objectId } } }""",
               {"id": country["id"], "city": alpha["objectId"]})
    found = await data(client, """{ countries(where: { cities: { have: { population: { greaterThan: 7 } } } }) {
        edges { node { name cities(order: [name_ASC]) { edges { node { name } } } } } } }""")
    nodes = [e["node"] for e in found["countries"]["edges"]]
    assert [n["name"] for n in nodes] == ["Mars"]
    assert [e["node"]["name"] for e in nodes[0]["cities"]["edges"]] == ["Alpha", "Beta"]
    other = await data(client, """{ countries(where: { capital: { have: { name: { equalTo: "Alpha" } } } }) {
        count } }""")
    assert other["countries"]["count"] == 1


async def test_a_pointer_needs_link_or_create_and_link(client: ParseClient) -> None:
    await client.request("POST", "/schemas/City", {"fields": {"name": {"type": "String"}}}, master=True)
    await client.request("POST", "/schemas/Country", {"fields": {
        "capital": {"type": "Pointer", "targetClass": "City"}}}, master=True)
    status, error, body = await first_error(client, "mutation { createCountry(input: { fields: { capital: {} } }) "
                                                    "{ country { objectId } } }")
    assert status == 200 and error["extensions"]["code"] == 106 and body == {"createCountry": None}


async def test_typed_values_and_acl_input_round_trip(client: ParseClient) -> None:
    user = (await client.request("POST", "/users", {"username": "ann", "password": "pw"})).json()
    await client.request("POST", "/schemas/Place", {"fields": {
        "name": {"type": "String"}, "location": {"type": "GeoPoint"}, "openedAt": {"type": "Date"},
        "tags": {"type": "Array"}, "info": {"type": "Object"}, "area": {"type": "Polygon"},
        "blob": {"type": "Bytes"}}}, master=True)
    fields = {"name": "Cafe", "location": {"latitude": 48.85, "longitude": 2.35},
              "openedAt": "2024-05-01T08:00:00.000Z", "tags": ["wifi", 3], "info": {"seats": 20},
              "area": [{"latitude": 0, "longitude": 0}, {"latitude": 0, "longitude": 1},
                       {"latitude": 1, "longitude": 1}], "blob": "aGVsbG8=",
              "ACL": {"public": {"read": True, "write": False},
                      "users": [{"userId": user["objectId"], "read": True, "write": True}],
                      "roles": [{"roleName": "Staff", "read": True, "write": True}]}}
    out = await data(client, """mutation($fields: CreatePlaceFieldsInput) { createPlace(input: { fields: $fields })
        { place { objectId openedAt location { latitude longitude } tags { ... on Element { value } } info
                  area { latitude longitude } blob
                  ACL { public { read write } users { userId read write } roles { roleName read write } } } } }""",
                     {"fields": fields}, master=True)
    place = out["createPlace"]["place"]
    assert place["openedAt"] == "2024-05-01T08:00:00.000Z" and place["location"] == fields["location"]
    assert place["tags"] == [{"value": "wifi"}, {"value": 3}] and place["info"] == {"seats": 20}
    assert place["area"][2] == {"latitude": 1, "longitude": 1} and place["blob"] == "aGVsbG8="
    assert place["ACL"]["users"] == [{"userId": base64.b64encode(f"_User:{user['objectId']}".encode()).decode(),
                                      "read": True, "write": True}]
    assert place["ACL"]["roles"] == [{"roleName": "Staff", "read": True, "write": True}]
    stored = (await client.request("GET", f"/classes/Place/{place['objectId']}", master=True)).json()
    assert stored["ACL"] == {"*": {"read": True}, user["objectId"]: {"read": True, "write": True},
                             "role:Staff": {"read": True, "write": True}}
    assert stored["openedAt"] == {"__type": "Date", "iso": "2024-05-01T08:00:00.000Z"}


async def test_get_with_query_parameter_and_mutation_over_get_is_405(client: ParseClient) -> None:
    await scores(client)
    response = await client.http.get("/graphql", params={"query": "{ gameScores { count } }"},
                                     headers=client.headers())
    assert response.status_code == 200 and response.json() == {"data": {"gameScores": {"count": 4}}}
    mutation = await client.http.get("/graphql", params={"query": "mutation { logOut(input: {}) { ok } }"},
                                     headers=client.headers())
    assert mutation.status_code == 405


async def test_errors_carry_parse_codes_and_no_stack_trace(client: ParseClient) -> None:
    await scores(client)
    status, error, body = await first_error(client, '{ gameScore(id: "nope") { objectId } }')
    assert (status, error["message"], error["extensions"], body) == (200, "Object not found.", {"code": 101}, None)
    assert error["path"] == ["gameScore"] and "stacktrace" not in str(error)
    status, error, body = await first_error(client, "{ gameScores(where: { nope: { equalTo: 1 } }) { count } }")
    assert status == 400 and error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and body is None
    assert "Did you mean" not in error["message"]
    status, error, _ = await first_error(client, "{ gameScores(after: \"bogus\") { edges { cursor } } }")
    assert status == 200 and error["extensions"]["code"] == 102 and error["message"] == "After is not a valid cursor"
    status, error, _ = await first_error(client, "{ gameScores( }")
    assert status == 400 and error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    response = await post(client, "query($n: Int) { gameScores(first: $n) { count } }", {"n": "x"})
    assert response.status_code == 400 and response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_bad_keys_and_sessions_are_refused_before_graphql_runs(client: ParseClient) -> None:
    wrong_app = await client.http.post("/graphql", json={"query": "{ health }"},
                                       headers={"X-Parse-Application-Id": "nope"})
    assert wrong_app.status_code == 403 and wrong_app.json()["errors"][0]["message"] == "unauthorized"
    bad_session = await post(client, "{ health }", session="r:nope")
    assert bad_session.status_code == 400 and bad_session.json()["errors"][0]["extensions"]["code"] == 209
    not_json = await client.http.post("/graphql", content="{ health }", headers={
        **client.headers(), "Content-Type": "text/plain"})
    assert not_json.status_code == 400


async def test_a_class_created_over_rest_is_queryable_at_once(client: ParseClient) -> None:
    missing = await post(client, "{ categories { count } }")
    assert missing.status_code == 400
    await client.create("Category", {"name": "books"}, master=True)
    assert await data(client, "{ categories { count } }") == {"categories": {"count": 1}}
    await client.request("PUT", "/schemas/Category", {"fields": {"rank": {"type": "Number"}}}, master=True)
    assert await data(client, "{ categories { edges { node { rank } } } }") == {
        "categories": {"edges": [{"node": {"rank": None}}]}}
    await client.request("POST", "/schemas/News", {"fields": {"title": {"type": "String"}}}, master=True)
    got = await post(client, "{ news(id: \"x\") { title } }")
    assert got.json()["errors"][0]["extensions"]["code"] == 101  # News keeps its get query; its plural is taken


async def test_graphql_can_be_turned_off_or_moved(tmp_path) -> None:
    import httpx

    from api.app import create_app
    from tests.api.conftest import make_settings

    for overrides, path, expected in (({"no_graphql": True}, "/graphql", 404),
                                      ({"graphql_path": "/gql"}, "/gql", 200)):
        app = create_app(make_settings(tmp_path, **overrides))
        await app.state.services.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                client = ParseClient(http)
                response = await post(client, "{ health }", path=path)
                assert response.status_code == expected
        finally:
            await app.state.services.stop()


async def test_a_class_another_process_creates_appears_after_the_schema_refresh(tmp_path, settings) -> None:
    import httpx

    from api.app import create_app

    apps = [create_app(settings), create_app(settings)]  # two server processes' apps on one database
    for app in apps:
        await app.state.services.start()
    try:
        clients = []
        for app in apps:
            clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"))
        first, second = (ParseClient(http) for http in clients)
        assert (await post(first, "{ health }")).status_code == 200  # its schema is built before the class exists
        await second.create("Tour", {"stops": 3}, master=True)
        assert (await post(first, "{ tours { count } }")).status_code == 400
        await apps[0].state.services.schemas.all()  # what the periodic refresh of a scaled server does
        assert await data(first, "{ tours { count } }") == {"tours": {"count": 1}}
        for http in clients:
            await http.aclose()
    finally:
        for app in apps:
            await app.state.services.stop()
