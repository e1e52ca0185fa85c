"""Object ACLs: validation, stored permission lists, query constraints and in-memory checks."""
from __future__ import annotations

from typing import Any

import pytest

from auth.acl import (can_read, can_write, new_user_acl, owner_only_acl, permission_fields, read_constraint,
                      stored_acl_fields, validate_acl, write_constraint)
from auth.principal import ANONYMOUS, MASTER, Principal
from storage.errors import ErrorCode, ParseError
from storage.query import Field, In

ALICE = Principal(user_id="aliceId001")
BOB = Principal(user_id="bobId00002")
ADMIN = Principal(user_id="carolId003", roles=frozenset({"Admins"}))


# --- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, stored", [
    ({}, {}),
    ({"*": {"read": True}}, {"*": {"read": True}}),
    ({"aliceId001": {"read": True, "write": True}}, {"aliceId001": {"read": True, "write": True}}),
    ({"role:Admins": {"write": True}}, {"role:Admins": {"write": True}}),
    ({"role:Team Blue-2_x": {"read": True}}, {"role:Team Blue-2_x": {"read": True}}),
    ({"*": {"read": True, "write": False}}, {"*": {"read": True}}),
    ({"*": {"read": False}}, {}),
    ({"*": {}}, {}),
])
def test_valid_acl_is_stored_with_only_true_flags(raw: Any, stored: dict[str, Any]) -> None:
    assert validate_acl(raw) == stored


@pytest.mark.parametrize("raw", [
    None, [], "public", 1,
    {"*": True},
    {"*": {"read": "true"}},
    {"*": {"read": 1}},
    {"*": {"read": True, "delete": True}},
    {"*": None},
    {"": {"read": True}},
    {"role:": {"read": True}},
    {"role:Bad.Name": {"read": True}},
    {"*unresolved": {"read": True}},
    {"a.b": {"read": True}},
    {"$where": {"read": True}},
    {"user id": {"read": True}},
    {"abc\n": {"read": True}},
])
def test_malformed_acl_is_invalid_acl(raw: Any) -> None:
    with pytest.raises(ParseError) as caught:
        validate_acl(raw)
    assert caught.value.code == ErrorCode.INVALID_ACL


def test_permission_fields_list_readers_and_writers() -> None:
    acl = {"*": {"read": True}, "aliceId001": {"read": True, "write": True}, "role:Admins": {"write": True}}
    assert permission_fields(acl) == {"_rperm": ["*", "aliceId001"], "_wperm": ["aliceId001", "role:Admins"]}


def test_no_acl_stores_no_permission_lists() -> None:
    assert permission_fields(None) == {}


def test_empty_acl_stores_empty_lists_so_only_master_passes() -> None:
    assert permission_fields({}) == {"_rperm": [], "_wperm": []}


def test_stored_acl_fields_validates_and_derives() -> None:
    assert stored_acl_fields({"*": {"read": True, "write": False}}) == {
        "ACL": {"*": {"read": True}}, "_rperm": ["*"], "_wperm": []}
    with pytest.raises(ParseError):
        stored_acl_fields({"*": "yes"})


# --- query constraints --------------------------------------------------------------------------------------

def test_master_reads_and_writes_without_constraint() -> None:
    assert read_constraint(MASTER) is None
    assert write_constraint(MASTER) is None


def test_anonymous_read_constraint_admits_missing_and_public() -> None:
    assert read_constraint(ANONYMOUS) == Field(("_rperm",), (In((None, "*")),))


def test_user_constraints_admit_their_id_and_every_role() -> None:
    expected = (None, "*", "carolId003", "role:Admins")
    assert read_constraint(ADMIN) == Field(("_rperm",), (In(expected),))
    assert write_constraint(ADMIN) == Field(("_wperm",), (In(expected),))


# --- in-memory checks ---------------------------------------------------------------------------------------

def _stored(acl: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"objectId": "obj1"}
    if acl is not None:
        doc["ACL"] = acl
        doc.update(permission_fields(acl))
    return doc


CASES = [
    # (acl, principal, can read, can write)
    (None, ANONYMOUS, True, True),
    ({}, ANONYMOUS, False, False),
    ({}, ALICE, False, False),
    ({}, MASTER, True, True),
    ({"*": {"read": True}}, ANONYMOUS, True, False),
    ({"aliceId001": {"read": True, "write": True}}, ALICE, True, True),
    ({"aliceId001": {"read": True, "write": True}}, BOB, False, False),
    ({"aliceId001": {"read": True, "write": True}}, ANONYMOUS, False, False),
    ({"role:Admins": {"read": True}}, ADMIN, True, False),
    ({"role:Admins": {"read": True}}, ALICE, False, False),
    ({"*": {"write": True}}, BOB, False, True),
]


@pytest.mark.parametrize("acl, principal, reads, writes", CASES)
def test_can_read_and_can_write_on_stored_documents(acl: Any, principal: Principal, reads: bool,
                                                     writes: bool) -> None:
    assert can_read(principal, _stored(acl)) is reads
    assert can_write(principal, _stored(acl)) is writes


@pytest.mark.parametrize("acl, principal, reads, writes", CASES)
def test_can_read_and_can_write_on_client_form_documents(acl: Any, principal: Principal, reads: bool,
                                                          writes: bool) -> None:
    doc = {"objectId": "obj1", **({"ACL": acl} if acl is not None else {})}
    assert can_read(principal, doc) is reads
    assert can_write(principal, doc) is writes


def test_stored_lists_win_over_a_stale_acl_map() -> None:
    doc = {"ACL": {"*": {"read": True}}, "_rperm": [], "_wperm": []}
    assert not can_read(ANONYMOUS, doc)


def test_null_permission_list_is_public() -> None:
    assert can_read(ANONYMOUS, {"_rperm": None})


# --- defaults -----------------------------------------------------------------------------------------------

def test_new_user_is_private_when_users_are_private() -> None:
    assert new_user_acl("u1", public_read=False) == {"u1": {"read": True, "write": True}}


def test_new_user_is_publicly_readable_when_allowed() -> None:
    assert new_user_acl("u1", public_read=True) == {"*": {"read": True}, "u1": {"read": True, "write": True}}


def test_new_user_keeps_their_own_access_even_with_a_client_acl() -> None:
    given = {"role:Mods": {"read": True}, "u1": {"read": True}}
    assert new_user_acl("u1", public_read=True, given=given) == {
        "role:Mods": {"read": True}, "u1": {"read": True, "write": True}}
    assert given["u1"] == {"read": True}  # the caller's map is not changed


def test_owner_only_acl() -> None:
    assert owner_only_acl("u1") == {"u1": {"read": True, "write": True}}


# --- the constraints as a real store runs them --------------------------------------------------------------

STORE_DOCS = {
    "noAcl00001": None,
    "locked0001": {},
    "public0001": {"*": {"read": True}},
    "alice00001": {"aliceId001": {"read": True, "write": True}},
    "admins0001": {"role:Admins": {"read": True, "write": True}},
    "pubWrite01": {"*": {"write": True}},
}


@pytest.mark.parametrize("principal, readable, writable", [
    (ANONYMOUS, {"noAcl00001", "public0001"}, {"noAcl00001", "pubWrite01"}),
    (ALICE, {"noAcl00001", "public0001", "alice00001"}, {"noAcl00001", "alice00001", "pubWrite01"}),
    (ADMIN, {"noAcl00001", "public0001", "admins0001"}, {"noAcl00001", "admins0001", "pubWrite01"}),
])
async def test_store_and_in_memory_checks_agree(store: Any, principal: Principal, readable: set[str],
                                                writable: set[str]) -> None:
    await store.ensure_fields("Note", {})
    for object_id, acl in STORE_DOCS.items():
        document: dict[str, Any] = {"objectId": object_id, "createdAt": "2024-01-01T00:00:00.000Z",
                                    "updatedAt": "2024-01-01T00:00:00.000Z"}
        if acl is not None:
            document.update(stored_acl_fields(acl))
        await store.insert("Note", document)
    read_where, write_where = read_constraint(principal), write_constraint(principal)
    assert read_where is not None and write_where is not None
    everything = Field(("objectId",), (In(tuple(STORE_DOCS)),))
    stored = {doc["objectId"]: doc for doc in await store.find("Note", everything)}
    assert {doc["objectId"] for doc in await store.find("Note", read_where)} == readable
    assert {doc["objectId"] for doc in await store.find("Note", write_where)} == writable
    assert {i for i, doc in stored.items() if can_read(principal, doc)} == readable
    assert {i for i, doc in stored.items() if can_write(principal, doc)} == writable
