"""Roles (`/roles`, `/classes/_Role`): a role needs a valid, unique name and an ACL; its name never changes."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from api.request import Call
from api.router import Reply, Router
from api.routes.classes import update_response
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from api.services import Services

ROLE = "_Role"
_ROLE_NAME = re.compile(r"^[0-9A-Za-z_\- ]+$")


async def create(call: Call, s: Services) -> Reply:
    name, acl = call.body.get("name"), call.body.get("ACL")
    if not name:
        raise ParseError(ErrorCode.INCORRECT_TYPE, "name is required.")
    if not isinstance(name, str) or not _ROLE_NAME.match(name):
        raise ParseError(ErrorCode.INVALID_ROLE_NAME,
                         "A role's name can be only contain alphanumeric characters, _, -, and spaces.")
    if acl is None:
        raise ParseError(ErrorCode.INCORRECT_TYPE, "ACL is required.")
    try:
        document = await s.objects.create(call.principal, ROLE, call.body)
    except ParseError as error:
        if error.code == ErrorCode.DUPLICATE_VALUE:
            raise ParseError(ErrorCode.DUPLICATE_VALUE, f"Cannot add duplicate role name of '{name}'") from None
        raise
    return Reply({"objectId": document["objectId"], "createdAt": document["createdAt"]}, 201,
                 {"Location": f"{s.settings.server_url}/roles/{document['objectId']}"})


async def update(call: Call, s: Services) -> Reply:
    if "name" in call.body:
        raise ParseError(ErrorCode.CHANGED_IMMUTABLE_FIELD, "A role's name can only be set before it has been saved.")
    _before, after, changes = await s.objects.update(call.principal, ROLE, call.path_params["objectId"], call.body)
    return Reply(update_response(after, changes))


def register(router: Router) -> None:
    for base in ("/roles", "/classes/_Role"):
        router.add(base, "POST", create)
        router.add(base + "/{objectId}", "PUT", update)
