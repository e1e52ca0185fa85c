"""Class-level permissions, table-driven: validation, operation checks, pointer permissions, protected
fields."""
from __future__ import annotations

from typing import Any

import pytest

from auth.clp import (MATCH_NOTHING, PointerPermission, check_operation, check_query_fields,
                      check_readable_keys,
                      operation_constraint, pointer_permission_query, protected_fields, validate_clp)
from auth.principal import ANONYMOUS, MASTER, Principal
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field, Or, parse_where
from storage.schema import OPEN_CLP
from storage.values import FieldType, Pointer

ALICE = Principal(user_id="aliceId001")
BOB = Principal(user_id="bobId00002")
EDITOR = Principal(user_id="carolId003", roles=frozenset({"Editors"}))
READ_ONLY_MASTER = Principal(is_master=True, is_read_only_master=True)

FIELDS = {
    "objectId": FieldType("String"), "createdAt": FieldType("Date"), "updatedAt": FieldType("Date"),
    "ACL": FieldType("ACL"), "owner": FieldType("Pointer", "_User"), "members": FieldType("Array"),
    "secret": FieldType("String"), "title": FieldType("String"), "game": FieldType("Pointer", "Game"),
}


# --- validation ---------------------------------------------------------------------------------------------

VALID = [
    OPEN_CLP,
    {},
    {"find": {}, "get": {"aliceId001": True}, "create": {"role:Editors": True},
     "update": {"requiresAuthentication": True}, "delete": {"pointerFields": ["owner", "members"]},
     "addField": {}, "count": {"*": True}},
    {"readUserFields": ["owner"], "writeUserFields": ["members"]},
    {"protectedFields": {"*": ["secret"], "authenticated": [], "role:Editors": ["secret", "title"],
                         "aliceId001": [], "userField:owner": []}},
]


@pytest.mark.parametrize("clp", VALID)
def test_valid_clp_is_accepted(clp: dict[str, Any]) -> None:
    assert validate_clp(clp, FIELDS) == clp


INVALID = [
    ("not an object", "must be an object"),
    ({"list": {"*": True}}, "list is not a valid operation"),
    ({"find": True}, "must be an object"),
    ({"find": {"*": False}}, "is not a valid value"),
    ({"find": {"*": "true"}}, "is not a valid value"),
    ({"find": {"authenticated": True}}, "is not a valid key"),
    ({"find": {"userField:owner": True}}, "is not a valid key"),
    ({"find": {"bad-id!": True}}, "is not a valid key"),
    ({"find": {"pointerFields": "owner"}}, "expected an array"),
    ({"find": {"pointerFields": ["title"]}}, "is not a valid column"),
    ({"find": {"pointerFields": ["game"]}}, "is not a valid column"),
    ({"find": {"pointerFields": ["missing"]}}, "is not a valid column"),
    ({"readUserFields": "owner"}, "must be an array"),
    ({"writeUserFields": ["title"]}, "is not a valid column"),
    ({"protectedFields": ["secret"]}, "must be an object"),
    ({"protectedFields": {"*": "secret"}}, "expected an array"),
    ({"protectedFields": {"requiresAuthentication": ["secret"]}}, "is not a valid key"),
    ({"protectedFields": {"*": ["objectId"]}}, "can not be protected"),
    ({"protectedFields": {"*": ["nope"]}}, "does not exist"),
]


@pytest.mark.parametrize("clp, message", INVALID)
def test_invalid_clp_is_invalid_json(clp: Any, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        validate_clp(clp, FIELDS)
    assert caught.value.code == ErrorCode.INVALID_JSON
    assert message in caught.value.message


def test_without_fields_only_the_shape_is_checked() -> None:
    assert validate_clp({"readUserFields": ["anything"], "protectedFields": {"*": ["whatever"]}})
    with pytest.raises(ParseError):
        validate_clp({"protectedFields": {"*": ["createdAt"]}})


# --- operations ---------------------------------------------------------------------------------------------

ALLOWED = "allowed"
FORBIDDEN = "119"
LOGIN = "101"

OPERATION_CASES = [
    # (clp, operation, principal, expected)
    (None, "find", ANONYMOUS, ALLOWED),
    ({}, "find", ANONYMOUS, ALLOWED),  # an absent operation is open
    ({"find": {}}, "find", ANONYMOUS, FORBIDDEN),  # {} is master only
    ({"find": {}}, "find", ALICE, FORBIDDEN),
    ({"find": {}}, "find", MASTER, ALLOWED),
    ({"find": {"*": True}}, "find", ANONYMOUS, ALLOWED),
    ({"get": {"aliceId001": True}}, "get", ALICE, ALLOWED),
    ({"get": {"aliceId001": True}}, "get", BOB, FORBIDDEN),
    ({"create": {"role:Editors": True}}, "create", EDITOR, ALLOWED),
    ({"create": {"role:Editors": True}}, "create", ALICE, FORBIDDEN),
    ({"update": {"requiresAuthentication": True}}, "update", ANONYMOUS, LOGIN),
    ({"update": {"requiresAuthentication": True}}, "update", ALICE, ALLOWED),
    ({"count": {"requiresAuthentication": True}}, "count", ANONYMOUS, LOGIN),
    ({"delete": {"pointerFields": ["owner"]}}, "delete", ALICE, PointerPermission(("owner",), "aliceId001")),
    ({"find": {}, "readUserFields": ["owner", "members"]}, "find", ALICE,
     PointerPermission(("owner", "members"), "aliceId001")),
    ({"get": {"pointerFields": ["owner"]}, "readUserFields": ["owner", "members"]}, "get", ALICE,
     PointerPermission(("owner", "members"), "aliceId001")),
    ({"update": {}, "readUserFields": ["owner"]}, "update", ALICE, FORBIDDEN),  # never grants writes
    ({"update": {}, "writeUserFields": ["owner"]}, "update", ALICE,
     PointerPermission(("owner",), "aliceId001")),
    ({"find": {}, "readUserFields": ["owner"]}, "find", ANONYMOUS, PointerPermission(("owner",), None)),
    ({"find": {"*": True}, "readUserFields": ["owner"]}, "find", ANONYMOUS, ALLOWED),  # plain CLP wins
    ({"create": {}, "writeUserFields": ["owner"]}, "create", ALICE, FORBIDDEN),  # nothing to point from yet
    ({"create": {"pointerFields": ["owner"]}}, "create", ALICE, FORBIDDEN),
    ({"addField": {}, "writeUserFields": ["owner"]}, "addField", ALICE, FORBIDDEN),
    ({"find": {"requiresAuthentication": True}, "readUserFields": ["owner"]}, "find", ALICE,
     PointerPermission(("owner",), "aliceId001")),
    ({"find": {"requiresAuthentication": True}, "readUserFields": ["owner"]}, "find", ANONYMOUS, LOGIN),
    ({"find": {}}, "find", READ_ONLY_MASTER, ALLOWED),
    (None, "update", READ_ONLY_MASTER, FORBIDDEN),
]


@pytest.mark.parametrize("clp, operation, principal, expected", OPERATION_CASES)
def test_check_operation(clp: Any, operation: str, principal: Principal, expected: Any) -> None:
    if expected in (FORBIDDEN, LOGIN):
        with pytest.raises(ParseError) as caught:
            check_operation(clp, "Game", operation, principal)
        assert caught.value.code == int(expected)
    elif expected == ALLOWED:
        assert check_operation(clp, "Game", operation, principal) is None
    else:
        assert check_operation(clp, "Game", operation, principal) == expected


def test_denial_messages_match_parse() -> None:
    with pytest.raises(ParseError) as denied:
        check_operation({"delete": {}}, "Game", "delete", ALICE)
    assert denied.value.message == "Permission denied for action delete on class Game."
    with pytest.raises(ParseError) as login:
        check_operation({"get": {"requiresAuthentication": True}}, "Game", "get", ANONYMOUS)
    assert login.value.message == "Permission denied, user needs to be authenticated."


def test_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check_operation(None, "Game", "list", ALICE)


def test_pointer_permission_query_matches_me_in_any_listed_field() -> None:
    me = Pointer("_User", "aliceId001")
    assert pointer_permission_query(PointerPermission(("owner",), "aliceId001")) == \
        Field(("owner",), (Compare("$eq", me),))
    assert pointer_permission_query(PointerPermission(("owner", "members"), "aliceId001")) == Or((
        Field(("owner",), (Compare("$eq", me),)), Field(("members",), (Compare("$eq", me),))))


def test_pointer_permission_grants_nothing_to_anonymous() -> None:
    assert pointer_permission_query(PointerPermission(("owner",), None)) is MATCH_NOTHING


def test_operation_constraint_combines_check_and_query() -> None:
    assert operation_constraint(OPEN_CLP, "Game", "find", ALICE) is None
    assert operation_constraint({"find": {}, "readUserFields": ["owner"]}, "Game", "find", ALICE) == \
        Field(("owner",), (Compare("$eq", Pointer("_User", "aliceId001")),))


# --- protected fields ---------------------------------------------------------------------------------------

GROUPS = {"*": ["secret", "title", "members"], "authenticated": ["secret", "title"],
          "role:Editors": ["secret"], "aliceId001": [], "userField:owner": ["title"]}


def _owned_by(user_id: str) -> dict[str, Any]:
    return {"objectId": "g1", "owner": {"__type": "Pointer", "className": "_User", "objectId": user_id}}


PROTECTED_CASES = [
    # (protectedFields, principal, document, hidden)
    (GROUPS, ANONYMOUS, None, {"secret", "title", "members"}),
    (GROUPS, BOB, None, {"secret", "title"}),  # * ∩ authenticated
    (GROUPS, EDITOR, None, {"secret"}),  # ... ∩ role:Editors
    (GROUPS, ALICE, None, set()),  # their own userId entry is []
    (GROUPS, MASTER, None, set()),
    (GROUPS, BOB, _owned_by("bobId00002"), {"title"} & {"secret", "title"}),  # userField:owner applies
    (GROUPS, EDITOR, _owned_by("carolId003"), set()),  # {secret} ∩ {title}
    (GROUPS, BOB, _owned_by("someoneElse"), {"secret", "title"}),
    (GROUPS, ANONYMOUS, _owned_by("bobId00002"), {"secret", "title", "members"}),
    ({"authenticated": ["secret"]}, ANONYMOUS, None, set()),  # no applicable group hides nothing
    ({"userField:owner": ["secret"]}, BOB, _owned_by("bobId00002"), set()),  # a userField alone never hides
    ({"role:Editors": ["secret"]}, EDITOR, None, {"secret"}),
    ({}, ANONYMOUS, None, set()),
    ({"*": ["title"], "userField:members": []}, BOB,
     {"members": [{"__type": "Pointer", "className": "_User", "objectId": "bobId00002"}]}, set()),
]


@pytest.mark.parametrize("groups, principal, document, hidden", PROTECTED_CASES)
def test_protected_fields_intersect_applicable_groups(groups: dict[str, Any], principal: Principal,
                                                      document: dict[str, Any] | None,
                                                      hidden: set[str]) -> None:
    assert protected_fields({"protectedFields": groups}, "Game", principal, document) == hidden


def test_no_clp_protects_nothing() -> None:
    assert protected_fields(None, "Game", ANONYMOUS, None) == set()


def test_users_see_their_own_user_object_whole() -> None:
    clp = {"protectedFields": {"*": ["email", "phone"]}}
    assert protected_fields(clp, "_User", ALICE, {"objectId": "aliceId001"}) == set()
    assert protected_fields(clp, "_User", ALICE, {"objectId": "bobId00002"}) == {"email", "phone"}
    assert protected_fields(clp, "_User", ANONYMOUS, {"objectId": "aliceId001"}) == {"email", "phone"}


def test_default_user_clp_hides_email_from_everyone_else() -> None:
    clp = {**OPEN_CLP, "protectedFields": {"*": ["email"]}}
    assert protected_fields(clp, "_User", BOB, {"objectId": "aliceId001"}) == {"email"}


SECRET_CLP = {"protectedFields": {"*": ["secret"]}}


@pytest.mark.parametrize("where", [
    {"secret": "x"},
    {"secret.inner": {"$exists": True}},
    {"$or": [{"title": "a"}, {"secret": "x"}]},
    {"$and": [{"$nor": [{"secret": "x"}]}]},
])
def test_querying_a_protected_field_is_forbidden(where: dict[str, Any]) -> None:
    with pytest.raises(ParseError) as caught:
        check_query_fields(SECRET_CLP, "Game", ANONYMOUS, parse_where(where))
    assert caught.value.code == ErrorCode.OPERATION_FORBIDDEN
    assert caught.value.message == "This user is not allowed to query secret on class Game"


def test_querying_other_fields_is_fine() -> None:
    check_query_fields(SECRET_CLP, "Game", ANONYMOUS,
                       parse_where({"title": "a", "$or": [{"owner": {"$exists": True}}]}))
    check_query_fields(SECRET_CLP, "Game", MASTER, parse_where({"secret": "x"}))
    check_query_fields({"protectedFields": {"*": ["secret"], "authenticated": []}}, "Game", ALICE,
                       parse_where({"secret": "x"}))


def test_credentials_and_internal_keys_are_never_readable_keys() -> None:
    for key in ("password", "authData", "sessionToken", "_hashed_password"):
        with pytest.raises(ParseError) as caught:
            check_readable_keys(None, "_User", ALICE, [key])
        assert caught.value.code == ErrorCode.OPERATION_FORBIDDEN
    check_readable_keys(None, "_User", ALICE, ["username"])
    check_readable_keys(None, "_User", MASTER, ["authData"])


# --- pointer permissions as a real store runs them ----------------------------------------------------------

async def test_pointer_permission_query_against_the_store(store: Any) -> None:
    def user(object_id: str) -> dict[str, str]:
        return {"__type": "Pointer", "className": "_User", "objectId": object_id}

    await store.ensure_fields("Game", {"owner": FieldType("Pointer", "_User"), "members": FieldType("Array")})
    for object_id, extra in {"byAlice001": {"owner": user("aliceId001")},
                             "withAlice1": {"owner": user("bobId00002"), "members": [user("aliceId001")]},
                             "bobOnly001": {"owner": user("bobId00002"), "members": []},
                             "noOwner001": {}}.items():
        await store.insert("Game", {"objectId": object_id, "createdAt": "2024-01-01T00:00:00.000Z",
                                    "updatedAt": "2024-01-01T00:00:00.000Z", **extra})

    async def ids(permission: PointerPermission) -> set[str]:
        return {doc["objectId"] for doc in await store.find("Game", pointer_permission_query(permission))}

    assert await ids(PointerPermission(("owner", "members"), "aliceId001")) == {"byAlice001", "withAlice1"}
    assert await ids(PointerPermission(("owner",), "bobId00002")) == {"withAlice1", "bobOnly001"}
    assert await ids(PointerPermission(("owner", "members"), None)) == set()
