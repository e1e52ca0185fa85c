"""Sign-up, log-in, log-out, `/users/me` and `/sessions` as the SDKs use them."""
from __future__ import annotations

import re

import bcrypt
import pytest

from tests.api.conftest import ParseClient


async def sign_up(client: ParseClient, username: str, password: str = "pw", **fields) -> dict:
    response = await client.request("POST", "/users", {"username": username, "password": password, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_sign_up_returns_a_revocable_session_token_and_never_the_password(client: ParseClient) -> None:
    response = await client.request("POST", "/users", {"username": "ann", "password": "secret", "email": "a@x.io"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"objectId", "createdAt", "sessionToken"}
    assert re.match(r"^r:[0-9a-f]{32}$", body["sessionToken"])
    assert response.headers["location"].endswith(f"/users/{body['objectId']}")
    me = (await client.request("GET", "/users/me", session=body["sessionToken"])).json()
    assert me["username"] == "ann" and me["email"] == "a@x.io" and me["sessionToken"] == body["sessionToken"]
    assert "password" not in me and not any(k.startswith("_") for k in me)


@pytest.mark.parametrize(("body", "code"), [
    ({"password": "pw"}, 200),
    ({"username": "bob"}, 201),
    ({"username": "bob", "password": "pw", "email": "not-an-email"}, 125),
])
async def test_sign_up_errors(client: ParseClient, body: dict, code: int) -> None:
    response = await client.request("POST", "/users", body)
    assert response.status_code == 400 and response.json()["code"] == code


async def test_duplicate_username_is_202_and_duplicate_email_203_case_insensitively(client: ParseClient) -> None:
    await sign_up(client, "Ann", email="ann@x.io")
    taken = await client.request("POST", "/users", {"username": "ann", "password": "pw"})
    assert taken.json()["code"] == 202
    email = await client.request("POST", "/users", {"username": "other", "password": "pw", "email": "ANN@x.io"})
    assert email.json()["code"] == 203


async def test_log_in_by_post_and_get_and_wrong_credentials_are_101(client: ParseClient) -> None:
    await sign_up(client, "ann", "right")
    posted = await client.request("POST", "/login", {"username": "ann", "password": "right"})
    assert posted.status_code == 200 and posted.json()["username"] == "ann" and "sessionToken" in posted.json()
    got = await client.request("GET", "/login", params={"username": "ann", "password": "right"})
    assert got.status_code == 200 and got.json()["sessionToken"] != posted.json()["sessionToken"]
    for creds in ({"username": "ann", "password": "wrong"}, {"username": "nobody", "password": "x"}):
        response = await client.request("POST", "/login", creds)
        assert response.status_code == 404
        assert response.json() == {"code": 101, "error": "Invalid username/password."}


async def test_log_out_ends_the_session_at_once(client: ParseClient) -> None:
    token = (await sign_up(client, "ann"))["sessionToken"]
    assert (await client.request("POST", "/logout", {}, session=token)).json() == {}
    response = await client.request("GET", "/users/me", session=token)
    assert response.status_code == 400 and response.json() == {"code": 209, "error": "Invalid session token"}
    assert (await client.request("GET", "/classes/Anything", session=token)).json()["code"] == 209


async def test_an_unknown_session_token_fails_the_whole_request_with_209(client: ParseClient) -> None:
    response = await client.request("POST", "/classes/Thing", {"a": 1}, session="r:" + "0" * 32)
    assert response.status_code == 400 and response.json()["code"] == 209
    assert await client.find("Thing", master=True) == []


async def test_a_migrated_bcrypt_password_logs_in_and_is_rehashed_with_argon2(client: ParseClient, app) -> None:
    user = await sign_up(client, "legacy", "old")
    legacy_hash = bcrypt.hashpw(b"migrated-pw", bcrypt.gensalt(rounds=4)).decode()
    store = app.state.services.store
    from storage.changes import Changes
    from storage.query import MATCH_ALL
    await store.update("_User", user["objectId"], Changes({}), MATCH_ALL, "2024-01-01T00:00:00.000Z",
                       {"_hashed_password": legacy_hash})
    response = await client.request("POST", "/login", {"username": "legacy", "password": "migrated-pw"})
    assert response.status_code == 200
    stored = (await store.find("_User", MATCH_ALL))[0]["_hashed_password"]
    assert stored.startswith("$argon2id$")
    again = await client.request("POST", "/login", {"username": "legacy", "password": "migrated-pw"})
    assert again.status_code == 200


async def test_a_user_updates_themselves_and_others_or_anonymous_get_206(client: ParseClient) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    mine = await client.request("PUT", f"/users/{ann['objectId']}", {"bio": "hi"}, session=ann["sessionToken"])
    assert mine.status_code == 200
    theirs = await client.request("PUT", f"/users/{bob['objectId']}", {"bio": "pwned"}, session=ann["sessionToken"])
    assert theirs.status_code == 400
    assert theirs.json() == {"code": 206, "error": f"Cannot modify user {bob['objectId']}."}
    anonymous = await client.request("PUT", f"/users/{bob['objectId']}", {"bio": "pwned"})
    assert anonymous.json()["code"] == 206
    deleted = await client.request("DELETE", f"/users/{bob['objectId']}", session=ann["sessionToken"])
    assert deleted.json() == {"code": 206, "error": f"Cannot modify user {bob['objectId']}."}
    via_classes = await client.request("PUT", f"/classes/_User/{bob['objectId']}", {"bio": "x"},
                                       session=ann["sessionToken"])
    assert via_classes.json()["code"] == 206
    assert "bio" not in (await client.request("GET", f"/users/{bob['objectId']}", master=True)).json()


async def test_changing_the_password_ends_the_other_sessions(client: ParseClient) -> None:
    ann = await sign_up(client, "ann", "one")
    other = (await client.request("POST", "/login", {"username": "ann", "password": "one"})).json()["sessionToken"]
    await client.request("PUT", f"/users/{ann['objectId']}", {"password": "two"}, session=ann["sessionToken"])
    assert (await client.request("GET", "/users/me", session=other)).json()["code"] == 209
    assert (await client.request("GET", "/users/me", session=ann["sessionToken"])).status_code == 200
    assert (await client.request("POST", "/login", {"username": "ann", "password": "two"})).status_code == 200


async def test_email_is_hidden_from_other_users(client: ParseClient) -> None:
    ann = await sign_up(client, "ann", email="ann@x.io")
    bob = await sign_up(client, "bob")
    private = await client.request("GET", f"/users/{ann['objectId']}", session=bob["sessionToken"])
    assert private.status_code == 404  # a new user is private (enforcePrivateUsers)
    public = {"*": {"read": True}, ann["objectId"]: {"read": True, "write": True}}
    made_public = await client.request("PUT", f"/users/{ann['objectId']}", {"ACL": public}, session=ann["sessionToken"])
    assert made_public.status_code == 200
    seen_by_bob = (await client.request("GET", f"/users/{ann['objectId']}", session=bob["sessionToken"])).json()
    assert seen_by_bob["username"] == "ann" and "email" not in seen_by_bob
    found = (await client.request("GET", "/users", session=bob["sessionToken"])).json()["results"]
    assert {u["username"] for u in found} == {"ann", "bob"}
    assert [u.get("email") for u in found if u["username"] == "ann"] == [None]
    seen_by_ann = (await client.request("GET", f"/users/{ann['objectId']}", session=ann["sessionToken"])).json()
    assert seen_by_ann["email"] == "ann@x.io" and "sessionToken" not in seen_by_ann


async def test_sessions_me_and_own_sessions_only(client: ParseClient) -> None:
    ann = await sign_up(client, "ann")
    bob = await sign_up(client, "bob")
    me = (await client.request("GET", "/sessions/me", session=ann["sessionToken"])).json()
    assert me["sessionToken"] == ann["sessionToken"]
    assert me["user"] == {"__type": "Pointer", "className": "_User", "objectId": ann["objectId"]}
    assert me["createdWith"] == {"action": "signup", "authProvider": "password"}
    listed = (await client.request("GET", "/sessions", session=ann["sessionToken"])).json()["results"]
    assert [s["objectId"] for s in listed] == [me["objectId"]]
    bob_session = (await client.request("GET", "/sessions/me", session=bob["sessionToken"])).json()
    steal = await client.request("DELETE", f"/sessions/{bob_session['objectId']}", session=ann["sessionToken"])
    assert steal.status_code == 404
    assert (await client.request("GET", "/users/me", session=bob["sessionToken"])).status_code == 200
    assert (await client.request("GET", "/sessions")).json()["code"] == 209


async def test_deleting_a_session_revokes_its_token(client: ParseClient) -> None:
    ann = await sign_up(client, "ann")
    me = (await client.request("GET", "/sessions/me", session=ann["sessionToken"])).json()
    assert (await client.request("DELETE", f"/sessions/{me['objectId']}", session=ann["sessionToken"])).json() == {}
    assert (await client.request("GET", "/users/me", session=ann["sessionToken"])).json()["code"] == 209
