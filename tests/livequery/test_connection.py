"""The per-connection protocol state machine, without sockets: frames in, actions out."""
from __future__ import annotations

import json
from typing import Any

import pytest

from auth.principal import Principal
from livequery.connection import Access, Action, Add, ConfiguredKeys, Connection, Remove, Send
from livequery.protocol import Connect
from livequery.subscriptions import SubscriptionIndex
from storage.errors import ParseError


class DictSessions:
    """A dict-backed session resolver: token -> principal; unknown tokens are no user."""

    def __init__(self, sessions: dict[str, Principal]) -> None:
        self.sessions = sessions
        self.calls: list[str] = []

    async def __call__(self, token: str) -> Principal | None:
        self.calls.append(token)
        return self.sessions.get(token)


ANN = Principal(user_id="ann", session_token="t-ann", roles=frozenset({"Staff"}))
BOB = Principal(user_id="bob", session_token="t-bob")


def make_connection(keys: ConfiguredKeys | None = None, sessions: dict[str, Principal] | None = None) -> Connection:
    return Connection(check_keys=keys or ConfiguredKeys("app"),
                      resolve_session=DictSessions(sessions if sessions is not None else {"t-ann": ANN,
                                                                                          "t-bob": BOB}),
                      prepare=SubscriptionIndex().prepare)


def frames(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Send)]


def only_frame(actions: list[Action]) -> dict[str, Any]:
    [frame] = frames(actions)
    return frame


async def connected(connection: Connection, **fields: Any) -> dict[str, Any]:
    return only_frame(await connection.receive(json.dumps({"op": "connect", "applicationId": "app", **fields})))


def subscribe_message(request_id: int = 1, where: Any = None, op: str = "subscribe", **extra: Any) -> str:
    query = {"className": "Msg", "where": where if where is not None else {"room": "r1"}}
    query.update(extra.pop("query", {}))
    return json.dumps({"op": op, "requestId": request_id, "query": query, **extra})


async def test_connect_replies_connected_with_a_uuid_client_id() -> None:
    connection = make_connection()
    frame = await connected(connection)
    assert frame["op"] == "connected" and len(frame["clientId"]) == 36
    assert "installationId" not in frame
    assert connection.client_id == frame["clientId"]


async def test_connect_echoes_the_installation_id() -> None:
    frame = await connected(make_connection(), installationId="inst-1")
    assert frame["installationId"] == "inst-1"


async def test_subscribe_before_connect_is_error_2() -> None:
    frame = only_frame(await make_connection().receive(subscribe_message()))
    assert frame == {"op": "error", "code": 2, "error": frame["error"], "reconnect": True, "requestId": None}


async def test_unsubscribe_before_connect_is_error_2() -> None:
    frame = only_frame(await make_connection().receive('{"op":"unsubscribe","requestId":1}'))
    assert frame["code"] == 2


async def test_wrong_application_id_is_error_4_and_stays_unconnected() -> None:
    connection = make_connection()
    frame = only_frame(await connection.receive('{"op":"connect","applicationId":"other"}'))
    assert (frame["code"], frame["error"], frame["reconnect"]) == (4, "Key in request is not valid", True)
    assert not connection.is_connected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"javascriptKey": "js"}, Access.CLIENT),
    ({"clientKey": "js"}, Access.DENIED),  # a key matches only under its own name
    ({"restAPIKey": "rest"}, Access.CLIENT),
    ({"javascriptKey": "wrong"}, Access.DENIED),
    ({}, Access.DENIED),
    ({"masterKey": "m"}, Access.MASTER),
    ({"masterKey": "wrong", "javascriptKey": "js"}, Access.DENIED),  # a wrong master key is refused
])
def test_configured_keys_with_key_pairs(fields: dict[str, Any], expected: Access) -> None:
    keys = ConfiguredKeys("app", master_key="m", client_keys={"javascriptKey": "js", "restAPIKey": "rest"})
    assert keys(Connect(applicationId="app", **fields)) is expected


def test_without_key_pairs_any_client_may_connect_but_a_wrong_master_key_is_refused() -> None:
    assert ConfiguredKeys("app")(Connect(applicationId="app", masterKey="anything")) is Access.DENIED
    assert ConfiguredKeys("app", master_key="m")(Connect(applicationId="app", masterKey="w")) is Access.DENIED
    assert ConfiguredKeys("app", master_key="m")(Connect(applicationId="app", javascriptKey="x")) is Access.CLIENT


async def test_subscribe_adds_a_subscription_then_replies_subscribed() -> None:
    connection = make_connection()
    client_id = (await connected(connection))["clientId"]
    actions = await connection.receive(subscribe_message(7))
    assert [type(a) for a in actions] == [Add, Send]
    subscription = actions[0].subscription  # type: ignore[union-attr]
    assert subscription.request_id == 7 and subscription.query.class_name == "Msg"
    assert only_frame(actions) == {"op": "subscribed", "clientId": client_id, "requestId": 7}
    assert connection.subscriptions == {7: subscription}


async def test_keys_fields_and_watch_are_read_and_nulls_and_extras_tolerated() -> None:
    connection = make_connection()
    await connected(connection, sessionToken=None, javascriptKey=None, somethingNew=True)
    actions = await connection.receive(subscribe_message(
        1, query={"fields": ["text"], "watch": ["text", "room"], "keys": None, "extra": 1}, sessionToken=None,
        legacy="x"))
    subscription = actions[0].subscription  # type: ignore[union-attr]
    assert subscription.keys == ("text",) and subscription.watch == ("text", "room")
    actions = await connection.receive(subscribe_message(2, query={"keys": ["a"], "fields": ["b"]}))
    assert actions[0].subscription.keys == ("a",)  # type: ignore[union-attr]


@pytest.mark.parametrize("message", [
    '{"op":"subscribe","requestId":"1","query":{"className":"Msg","where":{}}}',
    '{"op":"subscribe","requestId":1}',
    '{"op":"subscribe","requestId":1,"query":{"where":{}}}',
    '{"op":"subscribe","requestId":1,"query":{"className":"Msg","where":[]}}',
    '{"op":"subscribe","requestId":1,"query":{"className":"Msg","where":{},"keys":[]}}',
    '{"op":"subscribe","requestId":1,"query":{"className":"Msg","where":{},"keys":["a","a"]}}',
    '{"op":"subscribe","requestId":1,"query":{"className":"Msg","where":{},"watch":[1]}}',
    '{"op":"dance"}',
    '{"requestId":1}',
    '[1,2]',
])
async def test_malformed_messages_are_error_1(message: str) -> None:
    connection = make_connection()
    await connected(connection)
    frame = only_frame(await connection.receive(message))
    assert (frame["op"], frame["code"], frame["reconnect"], frame["requestId"]) == ("error", 1, True, None)
    assert connection.subscriptions == {}


@pytest.mark.parametrize("data", ["{not json", b"\xff\xfe", b"{not json", "", "[" * 5000])
async def test_a_frame_that_is_not_a_json_object_is_error_1_and_the_connection_stays(data: str | bytes) -> None:
    connection = make_connection()
    await connected(connection)
    frame = only_frame(await connection.receive(data))
    assert (frame["op"], frame["code"]) == ("error", 1)
    assert only_frame(await connection.receive(subscribe_message(1)))["op"] == "subscribed"


async def test_a_binary_frame_holding_json_is_taken_like_text() -> None:
    connection = make_connection()
    frame = only_frame(await connection.receive(b'{"op":"connect","applicationId":"app"}'))
    assert frame["op"] == "connected"


@pytest.mark.parametrize("class_name", ["1abc", "a-b", "", "with space"])
async def test_subscribing_to_an_invalid_class_name_is_error_103(class_name: str) -> None:
    connection = make_connection()
    await connected(connection)
    frame = only_frame(await connection.receive(subscribe_message(3, {}, query={"className": class_name})))
    assert (frame["op"], frame["code"], frame["requestId"]) == ("error", 103, 3)
    assert connection.subscriptions == {}


async def test_a_bogus_subscription_session_token_is_error_209_not_anonymous() -> None:
    connection = make_connection()
    await connected(connection, sessionToken="t-ann")
    frame = only_frame(await connection.receive(subscribe_message(4, sessionToken="bogus")))
    assert (frame["op"], frame["code"], frame["requestId"]) == ("error", 209, 4)
    assert connection.subscriptions == {}


async def test_a_socket_holds_at_most_its_subscription_cap() -> None:
    connection = Connection(check_keys=ConfiguredKeys("app"), resolve_session=_no_sessions,
                            prepare=SubscriptionIndex().prepare, max_subscriptions=3)
    await connected(connection)
    for request_id in (1, 2, 3):
        assert only_frame(await connection.receive(subscribe_message(request_id)))["op"] == "subscribed"
    refused = only_frame(await connection.receive(subscribe_message(4)))
    assert (refused["op"], refused["requestId"]) == ("error", 4) and "at most 3" in refused["error"]
    # replacing one of the three is not a fourth
    assert only_frame(await connection.receive(subscribe_message(2)))["op"] == "subscribed"
    assert sorted(connection.subscriptions) == [1, 2, 3]


async def _no_sessions(token: str) -> Principal | None:
    return None


async def test_a_connect_without_application_id_is_error_1() -> None:
    frame = only_frame(await make_connection().receive('{"op":"connect"}'))
    assert frame["code"] == 1


@pytest.mark.parametrize(("where", "code"), [
    ({"team": {"$inQuery": {"className": "Team", "where": {}}}}, 102),
    ({"$relatedTo": {"object": {"__type": "Pointer", "className": "T", "objectId": "1"}, "key": "k"}}, 102),
    ({"ACL": 1}, 102),
    ({"_rperm": "x"}, 105),
    ({"n": {"$frobnicate": 1}}, 107),
])
async def test_an_unusable_where_is_an_error_for_that_request(where: dict[str, Any], code: int) -> None:
    connection = make_connection()
    await connected(connection)
    frame = only_frame(await connection.receive(subscribe_message(4, where)))
    assert (frame["code"], frame["reconnect"], frame["requestId"]) == (code, False, 4)
    assert connection.subscriptions == {}


async def test_unsubscribe_removes_and_replies_unsubscribed() -> None:
    connection = make_connection()
    client_id = (await connected(connection, installationId="i"))["clientId"]
    added = (await connection.receive(subscribe_message(3)))[0]
    actions = await connection.receive('{"op":"unsubscribe","requestId":3}')
    assert actions[0] == Remove(added.subscription)  # type: ignore[union-attr]
    assert only_frame(actions) == {"op": "unsubscribed", "clientId": client_id, "installationId": "i",
                                   "requestId": 3}
    assert connection.subscriptions == {}


async def test_unsubscribe_of_an_unknown_request_id_is_error_2() -> None:
    connection = make_connection()
    await connected(connection)
    frame = only_frame(await connection.receive('{"op":"unsubscribe","requestId":9}'))
    assert (frame["code"], frame["reconnect"]) == (2, True)
    assert "subscriptionId 9" in frame["error"]


async def test_update_replaces_the_subscription_and_replies_subscribed() -> None:
    connection = make_connection()
    await connected(connection)
    old = (await connection.receive(subscribe_message(1)))[0].subscription  # type: ignore[union-attr]
    actions = await connection.receive(subscribe_message(1, {"room": "r2"}, op="update"))
    assert [type(a) for a in actions] == [Remove, Add, Send]
    assert actions[0] == Remove(old)
    new = actions[1].subscription  # type: ignore[union-attr]
    assert new is not old and new.query.key != old.query.key
    assert only_frame(actions)["op"] == "subscribed"
    assert connection.subscriptions == {1: new}


async def test_a_bad_connect_token_subscribes_as_anonymous() -> None:
    connection = make_connection()
    await connected(connection, sessionToken="expired")
    actions = await connection.receive(subscribe_message(1))
    assert only_frame(actions)["op"] == "subscribed"
    assert actions[0].subscription.principal.user_id is None  # type: ignore[union-attr]


async def test_the_subscription_token_wins_over_the_connect_token() -> None:
    connection = make_connection()
    await connected(connection, sessionToken="t-ann")
    own = (await connection.receive(subscribe_message(1, sessionToken="t-bob")))[0]
    inherited = (await connection.receive(subscribe_message(2)))[0]
    assert own.subscription.principal is BOB  # type: ignore[union-attr]
    assert inherited.subscription.principal is ANN  # type: ignore[union-attr]
    assert inherited.subscription.acl == {"*", "ann", "role:Staff"}  # type: ignore[union-attr]


async def test_a_master_client_subscribes_as_master() -> None:
    connection = make_connection(ConfiguredKeys("app", master_key="m"))
    await connected(connection, masterKey="m", sessionToken="t-ann")
    principal = (await connection.receive(subscribe_message()))[0].subscription.principal  # type: ignore[union-attr]
    assert principal.is_master and principal.user_id == "ann"


@pytest.mark.parametrize(("connect_fields", "subscribe_fields", "allowed"), [
    ({}, {}, False),
    ({}, {"sessionToken": "bad"}, False),
    ({"masterKey": "m"}, {}, False),  # even a master client needs a user
    ({}, {"sessionToken": "t-ann"}, True),
    ({"sessionToken": "t-ann"}, {}, True),
])
async def test_session_class_needs_a_valid_user(connect_fields: dict[str, Any], subscribe_fields: dict[str, Any],
                                               allowed: bool) -> None:
    connection = make_connection(ConfiguredKeys("app", master_key="m"))
    await connected(connection, **connect_fields)
    frame = only_frame(await connection.receive(subscribe_message(5, {}, query={"className": "_Session"},
                                                                  **subscribe_fields)))
    if allowed:
        assert frame["op"] == "subscribed"
    else:
        assert (frame["op"], frame["code"], frame["reconnect"], frame["requestId"]) == ("error", 209, False, 5)


async def test_a_failing_session_lookup_is_error_1_not_a_crash() -> None:
    async def broken(token: str) -> Principal | None:
        raise RuntimeError("auth is down")

    connection = Connection(check_keys=ConfiguredKeys("app"), resolve_session=broken,
                            prepare=SubscriptionIndex().prepare)
    await connected(connection, sessionToken="t")
    frame = only_frame(await connection.receive(subscribe_message()))
    assert (frame["code"], frame["reconnect"]) == (1, True)


async def test_a_session_lookup_raising_parse_error_is_no_user() -> None:
    async def strict(token: str) -> Principal | None:
        raise ParseError(209, "Invalid session token")

    connection = Connection(check_keys=ConfiguredKeys("app"), resolve_session=strict,
                            prepare=SubscriptionIndex().prepare)
    await connected(connection, sessionToken="t")
    assert only_frame(await connection.receive(subscribe_message()))["op"] == "subscribed"


async def test_close_removes_every_subscription() -> None:
    connection = make_connection()
    await connected(connection)
    subs = [(await connection.receive(subscribe_message(i)))[0].subscription for i in (1, 2)]  # type: ignore
    assert connection.close() == [Remove(s) for s in subs]
    assert connection.close() == []


async def test_a_second_connect_starts_over() -> None:
    connection = make_connection()
    first = (await connected(connection))["clientId"]
    added = (await connection.receive(subscribe_message(1)))[0]
    actions = await connection.receive('{"op":"connect","applicationId":"app"}')
    assert actions[0] == Remove(added.subscription)  # type: ignore[union-attr]
    assert only_frame(actions)["clientId"] != first


async def test_refresh_drops_a_logged_out_user() -> None:
    sessions = {"t-ann": ANN}
    connection = make_connection(sessions=sessions)
    await connected(connection)
    subscription = (await connection.receive(subscribe_message(1, sessionToken="t-ann")))[0].subscription  # type: ignore
    del sessions["t-ann"]
    await connection.refresh("ann")
    assert subscription.principal.user_id is None and subscription.acl == {"*"}
