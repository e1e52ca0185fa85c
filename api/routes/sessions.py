"""Sessions: `/sessions`, `/sessions/me`, `/sessions/{id}`; a client sees and ends only its own."""
from __future__ import annotations

from typing import TYPE_CHECKING

from api.request import Call
from api.router import Reply, Router
from auth.sessions import own_sessions
from storage.errors import ErrorCode, ParseError
from storage.query import Node

if TYPE_CHECKING:
    from api.services import Services

SESSION = "_Session"


def _own(call: Call) -> Node | None:
    """Non-master callers are confined to their own sessions, and need one to ask."""
    return own_sessions(call.principal)


async def me(call: Call, s: Services) -> Reply:
    token = call.principal.session_token
    if not token:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Session token required.")
    found = await s.queries.find(call.principal, SESSION, {"where": {"sessionToken": token}, "limit": 1},
                                 extra=_own(call))
    if not found["results"]:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token")
    return Reply(found["results"][0])


async def find(call: Call, s: Services) -> Reply:
    return Reply(await s.queries.find(call.principal, SESSION, call.params, extra=_own(call)))


async def get(call: Call, s: Services) -> Reply:
    own = _own(call)
    found = await s.queries.find(call.principal, SESSION,
                                 {"where": {"objectId": call.path_params["objectId"]}, "limit": 1}, extra=own)
    if not found["results"]:
        raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
    return Reply(found["results"][0])


async def create(call: Call, s: Services) -> Reply:
    if call.principal.user_id is None:
        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Session token required.")
    session = await s.sessions.create(call.principal.user_id, action="create",
                                      installation_id=call.credentials.installation_id)
    body = {k: session[k] for k in ("objectId", "createdAt", "sessionToken", "user", "createdWith", "expiresAt")}
    return Reply(body, 201, {"Location": f"{s.settings.server_url}/sessions/{session['objectId']}"})


async def delete(call: Call, s: Services) -> Reply:
    _own(call)
    await s.objects.delete(call.principal, SESSION, call.path_params["objectId"])
    return Reply({})


def register(router: Router) -> None:
    router.add("/sessions/me", "GET", me)
    for base in ("/sessions", "/classes/_Session"):
        router.add(base, "GET", find)
        router.add(base, "POST", create)
        router.add(base + "/{objectId}", "GET", get)
        router.add(base + "/{objectId}", "DELETE", delete)
