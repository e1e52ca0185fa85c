"""`authData` on `/users`: sign up or log in with a provider's auth data (`POST /users {"authData": ...}`, what
`Parse.AnonymousUtils.logIn()` and `linkWith` send), link and unlink on `PUT /users/{id}`, and an anonymous user
who later sets a username and password keeps their objectId and data (the anonymous link is dropped)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api import permissions
from api.request import Call
from api.router import Reply
from auth import users as user_rules
from auth.principal import Principal
from auth.tokens import new_object_id
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

USER = "_User"


async def _output(s: Services, document: dict[str, Any], viewer: Principal, token: str) -> dict[str, Any]:
    hidden = permissions.hidden_fields(await s.schemas.get(USER), viewer, document)
    return user_rules.user_for_output(document, viewer, session_token=token, hidden=hidden)


async def sign_up_or_log_in(call: Call, s: Services) -> Reply:
    """The user these auth data belong to, logged in (200), or a new user signed up with them (201)."""
    body = call.body
    ids = await s.auth_providers.validate(body["authData"])
    if not ids:
        raise ParseError(ErrorCode.UNSUPPORTED_SERVICE, "This authentication method is unsupported.")
    for provider, provider_id in ids.items():
        user = await user_rules.find_by_auth_data(s.store, provider, provider_id)
        if user is not None:
            session = await s.sessions.create(user["objectId"], action="login",
                                              installation_id=call.credentials.installation_id)
            token = session["sessionToken"]
            viewer = Principal(user_id=user["objectId"], session_token=token)
            return Reply(await _output(s, user, viewer, token))
    user_id = new_object_id()
    prepared = await user_rules.prepare_auth_data_sign_up(s.store, s.passwords, body, user_id=user_id,
                                                          public_read=not s.settings.enforce_private_users)
    internal = {**prepared.internal, "ACL": prepared.acl}
    try:
        document = await s.objects.create(call.principal, USER, prepared.body, internal=internal, object_id=user_id)
    except ParseError as error:
        await user_rules.explain_duplicate(s.store, error, username=prepared.body.get("username"),
                                           email=body.get("email"))
    session = await s.sessions.create(user_id, action="signup", installation_id=call.credentials.installation_id)
    return Reply({"objectId": user_id, "createdAt": document["createdAt"], "username": document["username"],
                  "sessionToken": session["sessionToken"]}, 201,
                 {"Location": f"{s.settings.server_url}/users/{user_id}"})


async def prepare_update(s: Services, user_id: str, body: dict[str, Any]) -> None:
    """Turn a user update's `authData` (links to add, `null` to unlink) into the user's new `authData`; drop
    the anonymous link when the update gives the user a username and password. Changes `body` in place."""
    if "authData" not in body and not ("username" in body and "password" in body):
        return
    found = await s.store.find(USER, user_rules._equals("objectId", user_id))
    current: dict[str, Any] = dict((found[0].get("authData") or {}) if found else {})
    if "authData" in body:
        given = body["authData"]
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
