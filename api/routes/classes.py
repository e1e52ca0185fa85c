"""Objects: `/classes/{className}[/{objectId}]`, and the same routes under `/roles` and `/installations`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.output import set_by_server
from api.request import Call
from api.router import Reply, Router
from storage.changes import Changes

if TYPE_CHECKING:
    from api.services import Services

_ALIASES = {"/roles": "_Role", "/installations": "_Installation"}


def _class_of(call: Call, fixed: str | None) -> str:
    return fixed or call.path_params["className"]


def _collection(fixed: str | None, route: str):
    async def create(call: Call, s: Services) -> Reply:
        class_name = _class_of(call, fixed)
        document = await s.objects.create(call.principal, class_name, call.body)
        location = f"{s.settings.server_url}{route.replace('{className}', class_name)}/{document['objectId']}"
        return Reply({"objectId": document["objectId"], "createdAt": document["createdAt"],
                      **set_by_server(document, call.body)}, 201, {"Location": location})

    async def find(call: Call, s: Services) -> Reply:
        return Reply(await s.queries.find(call.principal, _class_of(call, fixed), call.params))

    return create, find


def _member(fixed: str | None):
    async def get(call: Call, s: Services) -> Reply:
        return Reply(await s.queries.get(call.principal, _class_of(call, fixed), call.path_params["objectId"],
                                         call.params))

    async def update(call: Call, s: Services) -> Reply:
        _before, after, changes = await s.objects.update(call.principal, _class_of(call, fixed),
                                                         call.path_params["objectId"], call.body)
        return Reply(update_response(after, changes))

    async def delete(call: Call, s: Services) -> Reply:
        await s.objects.delete(call.principal, _class_of(call, fixed), call.path_params["objectId"])
        return Reply({})

    return get, update, delete


def update_response(after: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """`{updatedAt}` plus the new values of the fields an Increment/Add/AddUnique/Remove changed."""
    body: dict[str, Any] = {"updatedAt": after["updatedAt"]}
    for path in changes.echoed_fields():
        value: Any = after
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        body[".".join(path)] = value
    return body


def register(router: Router) -> None:
    for route, fixed in (("/classes/{className}", None), ("/roles", "_Role"),
                         ("/installations", "_Installation")):
        create, find = _collection(fixed, route)
        router.add(route, "POST", create)
        router.add(route, "GET", find)
        get, update, delete = _member(fixed)
        router.add(route + "/{objectId}", "GET", get)
        router.add(route + "/{objectId}", "PUT", update)
        router.add(route + "/{objectId}", "DELETE", delete)
