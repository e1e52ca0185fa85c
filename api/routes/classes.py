"""Objects: `/classes/{className}[/{objectId}]`, and the same routes under `/roles` and `/installations`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.cloud.runner import caller_of
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
        saved = await s.writes.create(caller_of(call), class_name, call.body)
        document = saved.after
        location = f"{s.settings.server_url}{route.replace('{className}', class_name)}/{document['objectId']}"
        return Reply({"objectId": document["objectId"], "createdAt": document["createdAt"],
                      **set_by_server(document, call.body), **saved.echo}, 201, {"Location": location})

    async def find(call: Call, s: Services) -> Reply:
        return Reply(await s.reads.find(caller_of(call), _class_of(call, fixed), call.params))

    return create, find


def _member(fixed: str | None):
    async def get(call: Call, s: Services) -> Reply:
        return Reply(await s.reads.get(caller_of(call), _class_of(call, fixed), call.path_params["objectId"],
                                       call.params))

    async def update(call: Call, s: Services) -> Reply:
        saved = await s.writes.update(caller_of(call), _class_of(call, fixed), call.path_params["objectId"],
                                      call.body)
        return Reply(update_response(saved.after, saved.changes, saved.echo))

    async def delete(call: Call, s: Services) -> Reply:
        await s.writes.delete(caller_of(call), _class_of(call, fixed), call.path_params["objectId"])
        return Reply({})

    return get, update, delete


def update_response(after: dict[str, Any], changes: Changes | None,
                    echo: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{updatedAt}` plus the new values of the fields an Increment/Add/AddUnique/Remove changed, plus the fields
    a before_save trigger changed (`echo`)."""
    body: dict[str, Any] = {"updatedAt": after["updatedAt"]}
    for path in changes.echoed_fields() if changes is not None else ():
        value: Any = after
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        body[".".join(path)] = value
    if echo:
        body.update(echo)
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
