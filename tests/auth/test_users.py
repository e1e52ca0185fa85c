"""Users: sign-up rules, uniqueness, log-in (with the bcrypt → argon2id upgrade) and output sanitising."""
from __future__ import annotations

from typing import Any

import bcrypt
import pytest

from auth.passwords import Passwords
from auth.principal import ANONYMOUS, MASTER, Principal
from auth.users import (check_available, ensure_user_indexes, explain_duplicate, keep_owner_access, log_in,
                        prepare_sign_up, user_for_output, validate_sign_up, validate_user_update)
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field

ALICE = Principal(user_id="alice00001")


def _code(error: pytest.ExceptionInfo[ParseError]) -> int:
    return error.value.code


# --- sign-up rules (pure) -----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    ({"password": "pw"}, ErrorCode.USERNAME_MISSING),
    ({"username": "", "password": "pw"}, ErrorCode.USERNAME_MISSING),
    ({"username": 7, "password": "pw"}, ErrorCode.USERNAME_MISSING),
    ({"username": "alice"}, ErrorCode.PASSWORD_MISSING),
    ({"username": "alice", "password": ""}, ErrorCode.PASSWORD_MISSING),
    ({"username": "alice", "password": ["pw"]}, ErrorCode.PASSWORD_MISSING),
    ({"username": "alice", "password": "pw", "email": "not-an-email"}, ErrorCode.INVALID_EMAIL_ADDRESS),
    ({"username": "alice", "password": "pw", "email": "a@b c.com"}, ErrorCode.INVALID_EMAIL_ADDRESS),
    ({"username": "alice", "password": "pw", "email": "alice@example.com\n"},
     ErrorCode.INVALID_EMAIL_ADDRESS),
    ({"username": "alice", "password": "pw", "email": 5}, ErrorCode.INVALID_EMAIL_ADDRESS),
    ({"username": "alice", "password": "pw", "objectId": "role:Admin"}, ErrorCode.OPERATION_FORBIDDEN),
])
def test_bad_sign_up_is_refused_with_parse_codes(body: dict[str, Any], code: int) -> None:
    with pytest.raises(ParseError) as caught:
        validate_sign_up(body)
    assert _code(caught) == code


def test_good_sign_up_is_accepted() -> None:
    sign_up = validate_sign_up({"username": "alice", "password": "pw", "email": "Alice.B+x@mail.example.com"})
    assert (sign_up.username, sign_up.password, sign_up.email) == (
        "alice", "pw", "Alice.B+x@mail.example.com")


@pytest.mark.parametrize("body, code", [
    ({"username": ""}, ErrorCode.USERNAME_MISSING),
    ({"password": None}, ErrorCode.PASSWORD_MISSING),
    ({"email": "nope"}, ErrorCode.INVALID_EMAIL_ADDRESS),
])
def test_bad_user_update_is_refused(body: dict[str, Any], code: int) -> None:
    with pytest.raises(ParseError) as caught:
        validate_user_update(body)
    assert _code(caught) == code


def test_user_update_may_leave_fields_out_or_unset_email() -> None:
    validate_user_update({"nickname": "al", "email": None})


def test_non_master_cannot_lock_a_user_out() -> None:
    assert keep_owner_access({"*": {"read": True}}, "alice00001", ALICE) == {
        "*": {"read": True}, "alice00001": {"read": True, "write": True}}
    assert keep_owner_access({}, "alice00001", MASTER) == {}


# --- output (pure) ------------------------------------------------------------------------------------------

STORED = {"objectId": "alice00001", "username": "alice", "email": "a@example.com", "password": "leak?",
          "_hashed_password": "$argon2id$...", "_rperm": ["alice00001"], "_wperm": ["alice00001"],
          "_email_verify_token": "t", "sessionToken": "r:stale", "authData": {"x": {"id": "1"}},
          "ACL": {"alice00001": {"read": True, "write": True}}}


def test_output_never_carries_password_or_internal_keys() -> None:
    for viewer in (ANONYMOUS, ALICE, MASTER):
        out = user_for_output(STORED, viewer)
        assert "password" not in out and "sessionToken" not in out
        assert not any(key.startswith("_") for key in out)


def test_auth_data_only_for_the_user_and_master() -> None:
    assert "authData" in user_for_output(STORED, ALICE)
    assert "authData" in user_for_output(STORED, MASTER)
    assert "authData" not in user_for_output(STORED, Principal(user_id="bob0000001"))
    assert "authData" not in user_for_output(STORED, ANONYMOUS)


def test_session_token_only_to_the_user_themself() -> None:
    assert user_for_output(STORED, ALICE, session_token="r:new")["sessionToken"] == "r:new"
    bob = Principal(user_id="bob0000001")
    assert "sessionToken" not in user_for_output(STORED, bob, session_token="r:new")
    assert "sessionToken" not in user_for_output(STORED, MASTER, session_token="r:new")


def test_hidden_fields_are_dropped() -> None:
    assert "email" not in user_for_output(STORED, ANONYMOUS, hidden={"email"})


# --- with the store -----------------------------------------------------------------------------------------

async def test_prepare_sign_up_hashes_and_builds_a_private_acl(store: Any, passwords: Passwords) -> None:
    body = {"username": "alice", "password": "pw", "nickname": "al"}
    prepared = await prepare_sign_up(store, passwords, body, user_id="alice00001", public_read=False)
    assert prepared.body == {"username": "alice", "nickname": "al"}
    assert prepared.acl == {"alice00001": {"read": True, "write": True}}
    assert prepared.internal["_rperm"] == ["alice00001"]
    assert passwords.verify_password(prepared.internal["_hashed_password"], "pw") == (True, None)


async def test_prepare_sign_up_keeps_a_client_acl_but_adds_the_owner(store: Any,
                                                                      passwords: Passwords) -> None:
    prepared = await prepare_sign_up(store, passwords, {"username": "alice", "password": "pw",
                                                        "ACL": {"*": {"read": True}}},
                                     user_id="alice00001", public_read=False)
    assert prepared.acl == {"*": {"read": True}, "alice00001": {"read": True, "write": True}}
    assert "ACL" not in prepared.body


async def test_username_and_email_are_taken_case_insensitively(store: Any, make_user: Any,
                                                               passwords: Passwords) -> None:
    await make_user("alice00001", "Alice", email="Alice@Example.com")
    with pytest.raises(ParseError) as taken_name:
        await prepare_sign_up(store, passwords, {"username": "aLiCe", "password": "pw"},
                              user_id="other00001", public_read=False)
    assert _code(taken_name) == ErrorCode.USERNAME_TAKEN
    with pytest.raises(ParseError) as taken_email:
        await check_available(store, username="alice2", email="alice@example.COM")
    assert _code(taken_email) == ErrorCode.EMAIL_TAKEN
    await check_available(store, username="Alice", email="alice@example.com", exclude_id="alice00001")
    await check_available(store, username="Al.ce", email="al.ce@example.com")  # regex characters are literal


async def test_unique_index_race_is_reported_as_username_taken(store: Any, make_user: Any) -> None:
    await ensure_user_indexes(store)
    await make_user("alice00001", "alice")
    with pytest.raises(ParseError) as duplicate:
        await make_user("other00001", "ALICE")
    assert _code(duplicate) == ErrorCode.DUPLICATE_VALUE
    with pytest.raises(ParseError) as explained:
        await explain_duplicate(store, duplicate.value, username="ALICE", email=None)
    assert _code(explained) == ErrorCode.USERNAME_TAKEN


async def test_log_in_with_username_or_email(store: Any, make_user: Any, passwords: Passwords) -> None:
    await make_user("alice00001", "alice", email="alice@example.com", hashed=passwords.hash_password("pw"))
    both = {"username": "alice", "email": "alice@example.com"}
    for credentials in ({"username": "alice"}, {"email": "alice@example.com"},
                        {"username": "alice@example.com"}, both):
        user = await log_in(store, passwords, password="pw", **credentials)
        assert user["objectId"] == "alice00001"


@pytest.mark.parametrize("credentials", [
    {"username": "alice", "password": "wrong"},
    {"username": "nobody", "password": "pw"},
    {"email": "nobody@example.com", "password": "pw"},
    {"username": "alice", "email": "other@example.com", "password": "pw"},
    {"username": "alice", "password": 123},
    {"username": ["alice"], "password": "pw"},
])
async def test_wrong_credentials_are_101(store: Any, make_user: Any, passwords: Passwords,
                                         credentials: dict[str, Any]) -> None:
    await make_user("alice00001", "alice", email="alice@example.com", hashed=passwords.hash_password("pw"))
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, **credentials)
    assert _code(caught) == ErrorCode.OBJECT_NOT_FOUND
    assert caught.value.message == "Invalid username/password."


@pytest.mark.parametrize("credentials, code", [
    ({"password": "pw"}, ErrorCode.USERNAME_MISSING),
    ({"username": "alice"}, ErrorCode.PASSWORD_MISSING),
])
async def test_missing_credentials(store: Any, passwords: Passwords, credentials: dict[str, Any],
                                   code: int) -> None:
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, **credentials)
    assert _code(caught) == code


async def test_user_without_password_cannot_log_in(store: Any, make_user: Any, passwords: Passwords) -> None:
    await make_user("alice00001", "alice")
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, username="alice", password="")
    assert _code(caught) == ErrorCode.PASSWORD_MISSING
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, username="alice", password="anything")
    assert _code(caught) == ErrorCode.OBJECT_NOT_FOUND


async def test_locked_user_cannot_log_in_except_through_master(store: Any, make_user: Any,
                                                               passwords: Passwords) -> None:
    await make_user("alice00001", "alice", hashed=passwords.hash_password("pw"), acl={})
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, username="alice", password="pw")
    assert _code(caught) == ErrorCode.OBJECT_NOT_FOUND
    user = await log_in(store, passwords, username="alice", password="pw", allow_locked=True)
    assert user["username"] == "alice"


async def test_unverified_email_blocks_log_in_when_required(store: Any, make_user: Any,
                                                            passwords: Passwords) -> None:
    await make_user("alice00001", "alice", hashed=passwords.hash_password("pw"), emailVerified=False)
    await log_in(store, passwords, username="alice", password="pw")
    with pytest.raises(ParseError) as caught:
        await log_in(store, passwords, username="alice", password="pw", require_verified_email=True)
    assert _code(caught) == ErrorCode.EMAIL_NOT_FOUND


async def test_bcrypt_hash_logs_in_and_is_replaced_by_argon2id(store: Any, make_user: Any,
                                                                passwords: Passwords) -> None:
    legacy = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$")
    await make_user("alice00001", "alice", hashed=legacy)
    user = await log_in(store, passwords, username="alice", password="hunter2")
    assert user["_hashed_password"].startswith("$argon2id$")
    stored = (await store.inner.find("_User", Field(("objectId",), (Compare("$eq", "alice00001"),))))[0]
    assert stored["_hashed_password"] == user["_hashed_password"]
    assert stored["updatedAt"] == "2024-01-02T03:04:05.678Z"  # a rehash is not a user-visible change
    assert passwords.verify_password(stored["_hashed_password"], "hunter2") == (True, None)
    again = await log_in(store, passwords, username="alice", password="hunter2")
    assert again["_hashed_password"] == stored["_hashed_password"]


async def test_rehash_never_undoes_a_concurrent_password_change(store: Any, make_user: Any,
                                                                passwords: Passwords) -> None:
    legacy = bcrypt.hashpw(b"old", bcrypt.gensalt(rounds=4)).decode()
    await make_user("alice00001", "alice", hashed=legacy)
    changed = passwords.hash_password("new")

    class ChangingStore:  # the password changes between the log-in's read and its rehash
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def update(self, *args: Any, **kwargs: Any) -> Any:
            from storage.changes import Changes
            from storage.query import MATCH_ALL
            await store.update("_User", "alice00001", Changes({}), MATCH_ALL, "2024-01-05T00:00:00.000Z",
                               {"_hashed_password": changed})
            return await store.update(*args, **kwargs)

    await log_in(ChangingStore(), passwords, username="alice", password="old")  # type: ignore[arg-type]
    stored = (await store.inner.find("_User", Field(("objectId",), (Compare("$eq", "alice00001"),))))[0]
    assert stored["_hashed_password"] == changed
