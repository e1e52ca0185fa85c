"""Users and log-in: `/users`, `/login`, `/logout`, `/users/me`, and `/classes/_User` alike."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api import permissions
from api.cloud.runner import caller_of
from api.output import set_by_server
from api.request import Call
from api.router import Reply, Router
from api.routes.classes import update_response
from auth import users as user_rules
from auth.principal import MASTER, Principal
from auth.tokens import new_object_id
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

USER = "_User"
SESSION = "_Session"


async def _output(s: Services, document: dict[str, Any], viewer: Principal, token: str | None) -> dict[str, Any]:
    schema = await s.schemas.get(USER)
    hidden = permissions.hidden_fields(schema, viewer, document)
    return user_rules.user_for_output(document, viewer, session_token=token, hidden=hidden)


async def sign_up(call: Call, s: Services) -> Reply:
    body = call.body
    user_id = new_object_id()
    prepared = await user_rules.prepare_sign_up(s.store, s.passwords, body, user_id=user_id,
                                                public_read=not s.settings.enforce_private_users)
    internal = {**prepared.internal, "ACL": prepared.acl}
    try:
        saved = await s.writes.create(caller_of(call), USER, prepared.body, internal=internal, object_id=user_id,
                                      shown={"password": body.get("password")})
    except ParseError as error:
        await user_rules.explain_duplicate(s.store, error, username=body.get("username"), email=body.get("email"))
        raise
    session = await s.sessions.create(user_id, action="signup", installation_id=call.credentials.installation_id)
    return Reply({"objectId": user_id, "createdAt": saved.after["createdAt"], "sessionToken": session["sessionToken"],
                  **set_by_server(saved.after, body), **saved.echo}, 201,
                 {"Location": f"{s.settings.server_url}/users/{user_id}"})


async def log_in(call: Call, s: Services) -> Reply:
    source = {**call.params, **call.body}
    user = await user_rules.log_in(s.store, s.passwords, username=source.get("username"),
                                   email=source.get("email"), password=source.get("password"),
                                   allow_locked=call.principal.is_master)
    before = s.hooks.find("before_login", USER)
    if before is not None:  # credentials are checked; a refusal leaves no session
        request = await s.hooks.request_for(before, caller_of(call), object=s.writes.present(user, USER))
        await s.hooks.run(before, request, call.principal)
    session = await s.sessions.create(user["objectId"], action="login",
                                      installation_id=call.credentials.installation_id)
    viewer = Principal(user_id=user["objectId"], session_token=session["sessionToken"])
    output = await _output(s, user, viewer, session["sessionToken"])
    after = s.hooks.find("after_login", USER)
    if after is not None:
        request = await s.hooks.request_for(after, caller_of(call).acting_as(viewer), object=dict(output))
        await s.hooks.run_after(after, request, viewer)
    return Reply(output)


async def log_out(call: Call, s: Services) -> Reply:
    token = call.principal.session_token
    if token:
        found = await s.store.find(SESSION, user_rules._equals("sessionToken", token))
        if found:  # through the write path, so every process's caches and open sockets learn of it
            await s.objects.delete(MASTER, SESSION, found[0]["objectId"])
        await s.sessions.revoke(token)
        after = s.hooks.find("after_logout", SESSION)
        if found and after is not None:
            request = await s.hooks.request_for(after, caller_of(call).acting_as(MASTER), user=None,
                                                object=s.writes.present(found[0], SESSION))
            await s.hooks.run_after(after, request)
    return Reply({})


def _require_session(call: Call) -> str:
    token = call.principal.session_token
    if not token or call.principal.user_id is None:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token")
    return token


async def me(call: Call, s: Services) -> Reply:
    token = _require_session(call)
    found = await s.store.find(USER, user_rules._equals("objectId", call.principal.user_id))
    if not found:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token")
    return Reply(await _output(s, found[0], call.principal, token))


async def update_user(call: Call, s: Services) -> Reply:
    object_id = call.path_params["objectId"]
    principal = call.principal
    if not principal.is_master and principal.user_id is None:
        raise ParseError(ErrorCode.SESSION_MISSING, f"Cannot modify user {object_id}.")
    body = dict(call.body)
    user_rules.validate_user_update(body)
    await user_rules.check_available(s.store, username=body.get("username") if isinstance(body.get("username"), str)
                                     else None, email=body.get("email") if isinstance(body.get("email"), str)
                                     else None, exclude_id=object_id)
    internal: dict[str, Any] = {}
    password = body.pop("password", None)
    if password is not None:
        internal[user_rules.HASH_FIELD] = await s.passwords.hash_password_async(password)
    if "ACL" in body and body["ACL"] is not None and not principal.is_master:
        body["ACL"] = user_rules.keep_owner_access(user_rules.validate_acl(body["ACL"]), object_id, principal)
    try:
        saved = await s.writes.update(caller_of(call), USER, object_id, body, internal=internal or None,
                                      shown=None if password is None else {"password": password})
    except ParseError as error:
        await user_rules.explain_duplicate(s.store, error, username=body.get("username"), email=body.get("email"),
                                           exclude_id=object_id)
        raise
    if password is not None:  # a new password ends every other session of the user
        keep = principal.session_token if principal.user_id == object_id else None
        await s.sessions.revoke_user_sessions(object_id, keep_token=keep)
        await s.hub.refresh_sessions(object_id)
        await s.sessions_revoked(object_id, keep)
    return Reply(update_response(saved.after, saved.changes, saved.echo))


async def delete_user(call: Call, s: Services) -> Reply:
    object_id = call.path_params["objectId"]
    if not call.principal.is_master and call.principal.user_id is None:
        raise ParseError(ErrorCode.SESSION_MISSING, f"Cannot delete user {object_id}.")
    await s.writes.delete(caller_of(call), USER, object_id)
    await s.sessions.revoke_user_sessions(object_id)
    await s.hub.refresh_sessions(object_id)
    return Reply({})


async def find_users(call: Call, s: Services) -> Reply:
    return Reply(await s.reads.find(caller_of(call), USER, call.params))


async def get_user(call: Call, s: Services) -> Reply:
    return Reply(await s.reads.get(caller_of(call), USER, call.path_params["objectId"], call.params))


def register(router: Router) -> None:
    router.add("/users/me", "GET", me)  # first: routes match in the order they were added
    for base in ("/users", "/classes/_User"):
        router.add(base, "POST", sign_up)
        router.add(base, "GET", find_users)
        router.add(base + "/{objectId}", "GET", get_user)
        router.add(base + "/{objectId}", "PUT", update_user)
        router.add(base + "/{objectId}", "DELETE", delete_user)
    router.add("/login", "POST", log_in)
    router.add("/login", "GET", log_in)
    router.add("/logout", "POST", log_out)
