"""`authData` on `/users`: sign up or log in with a provider's auth data (`POST /users {"authData": ...}`, what
`Parse.AnonymousUtils.logIn()` and `linkWith` send), link and unlink on `PUT /users/{id}`, and an anonymous user
who later sets a username and password keeps their objectId and data (the anonymous link is dropped)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auth import users as user_rules
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

USER = "_User"


async def linked_user(s: Services, auth_data: Any) -> dict[str, Any] | None:
    """The user these auth data are linked to, once their providers accepted them (252 for a provider this
    server does not have, 101 for auth data their provider refuses)."""
    ids = await s.auth_providers.validate(auth_data)
    if not ids:
        raise ParseError(ErrorCode.UNSUPPORTED_SERVICE, "This authentication method is unsupported.")
    for provider, provider_id in ids.items():
        user = await user_rules.find_by_auth_data(s.store, provider, provider_id)
        if user is not None:
            return user
    return None


async def prepare_update(s: Services, user_id: str, body: dict[str, Any]) -> None:
    """Turn a user update's `authData` (links to add, `null` to unlink) into the user's new `authData`; drop
    the anonymous link when the update gives the user a username and password. Changes `body` in place."""
    if "authData" not in body and not ("username" in body and "password" in body):
        return
    found = await s.store.find(USER, user_rules._equals("objectId", user_id))
    current: dict[str, Any] = dict((found[0].get("authData") or {}) if found else {})
    if "authData" in body:
        given = body["authData"]
        if given is None:  # as Parse answers a save of authData to null
            raise ParseError(ErrorCode.UNSUPPORTED_SERVICE, "This authentication method is unsupported.")
        ids = await s.auth_providers.validate(given)
        for provider, provider_id in ids.items():
            other = await user_rules.find_by_auth_data(s.store, provider, provider_id)
            if other is not None and other["objectId"] != user_id:
                raise ParseError(ErrorCode.ACCOUNT_ALREADY_LINKED, "this auth is already used")
        for provider, data in given.items():
            if data is None:
                current.pop(provider, None)
            else:
                current[provider] = data
    if "username" in body and "password" in body:
        current.pop("anonymous", None)  # signed up for real: the anonymous id no longer logs in
    body["authData"] = current if current else {"__op": "Delete"}
