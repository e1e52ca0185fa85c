"""`request.api`: the data path REST clients use, from inside cloud code.

Every call acts as the request's caller (ACL and CLP apply), or as the master key with `master=True`, or as
nobody with `anonymous=True`. Writes go through the triggered write path, so they run their class's triggers
and publish LiveQuery events. Objects go in and come out as REST JSON dicts (a `datetime` going in, in data or
in a where, becomes a Parse Date).
"""
from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from api.cloud.runner import Caller
from api.cloud.values import encode_result
from auth.principal import ANONYMOUS, MASTER
from livequery.cloud import SYSTEM_ALIASES, CloudError
from storage.errors import ErrorCode

if TYPE_CHECKING:
    from api.services import Services

T = TypeVar("T")


# How deep request.api calls are nested in this task: a trigger writing its own class through request.api
# would otherwise recurse until the stack gives out.
_depth: ContextVar[int] = ContextVar("cloud_api_depth", default=0)
MAX_DEPTH = 16


def _nested(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> T:
        depth = _depth.get()
        if depth >= MAX_DEPTH:
            raise CloudError(f"request.api calls nested more than {MAX_DEPTH} deep (a trigger writing its own "
                             "class?)")
        token = _depth.set(depth + 1)
        try:
            return await method(*args, **kwargs)
        finally:
            _depth.reset(token)

    return guarded


class CloudApi:
    """Find, first, get, count, create, update, delete, run: as the caller unless told otherwise."""

    def __init__(self, services: Services, caller: Caller) -> None:
        self._services = services
        self._caller = caller

    def _as(self, master: bool, anonymous: bool) -> Caller:
        if master and anonymous:
            raise CloudError(ErrorCode.INVALID_QUERY, "request.api: master and anonymous exclude each other")
        if master:
            return self._caller.acting_as(MASTER)
        if anonymous:
            return self._caller.acting_as(ANONYMOUS)
        return self._caller.acting_as(self._caller.principal)  # a context of its own, as a new request

    # --- reads --------------------------------------------------------------------------------------------
    @_nested
    async def find(self, class_name: str, where: dict[str, Any] | None = None, *, order: str | None = None,
                   limit: int | None = None, skip: int | None = None, keys: list[str] | None = None,
                   include: list[str] | None = None, master: bool = False,
                   anonymous: bool = False) -> list[dict[str, Any]]:
        params = _params(where, order=order, limit=limit, skip=skip, keys=keys, include=include)
        body = await self._services.reads.find(self._as(master, anonymous), _class(class_name), params)
        return list(body["results"])

    async def first(self, class_name: str, where: dict[str, Any] | None = None, *, order: str | None = None,
                    keys: list[str] | None = None, include: list[str] | None = None, master: bool = False,
                    anonymous: bool = False) -> dict[str, Any] | None:
        found = await self.find(class_name, where, order=order, limit=1, keys=keys, include=include,
                                master=master, anonymous=anonymous)
        return found[0] if found else None

    @_nested
    async def get(self, class_name: str, object_id: str, *, keys: list[str] | None = None,
                  include: list[str] | None = None, master: bool = False, anonymous: bool = False) -> dict[str, Any]:
        """The object, or CloudError 101 when it does not exist or the caller may not read it."""
        params = _params(None, keys=keys, include=include)
        return await self._services.reads.get(self._as(master, anonymous), _class(class_name), object_id, params)

    @_nested
    async def count(self, class_name: str, where: dict[str, Any] | None = None, *, master: bool = False,
                    anonymous: bool = False) -> int:
        params = _params(where, limit=0)
        params["count"] = 1
        body = await self._services.reads.find(self._as(master, anonymous), _class(class_name), params)
        return int(body["count"])

    # --- writes -------------------------------------------------------------------------------------------
    @_nested
    async def create(self, class_name: str, data: dict[str, Any], *, master: bool = False,
                     anonymous: bool = False) -> dict[str, Any]:
        """Store a new object; returns it as the caller may read it back (objectId, createdAt, ...)."""
        caller = self._as(master, anonymous)
        name = _class(class_name)
        saved = await self._services.writes.create(caller, name, encode_result(dict(data)))
        return await self._present(caller, name, saved.after)

    @_nested
    async def update(self, class_name: str, object_id: str, data: dict[str, Any], *, master: bool = False,
                     anonymous: bool = False) -> dict[str, Any]:
        """Apply `data` (values or Parse ops such as `{"__op": "Increment"}`); returns the updated object."""
        caller = self._as(master, anonymous)
        name = _class(class_name)
        saved = await self._services.writes.update(caller, name, object_id, encode_result(dict(data)))
        return await self._present(caller, name, saved.after)

    @_nested
    async def delete(self, class_name: str, object_id: str, *, master: bool = False,
                     anonymous: bool = False) -> None:
        await self._services.writes.delete(self._as(master, anonymous), _class(class_name), object_id)

    @_nested
    async def run(self, name: str, params: dict[str, Any] | None = None, *, master: bool = False,
                  anonymous: bool = False) -> Any:
        """Call another cloud function (its validator and handler), returning what it returns."""
        return await self._services.functions.call(self._as(master, anonymous), name, dict(params or {}))

    async def _present(self, caller: Caller, class_name: str, document: dict[str, Any]) -> dict[str, Any]:
        schema = await self._services.schemas.get(class_name)
        if schema is None:
            return dict(document)
        return (await self._services.queries.present(caller.principal, schema, [document], {}))[0]


def _class(class_name: str) -> str:
    return SYSTEM_ALIASES.get(class_name, class_name)


def _params(where: dict[str, Any] | None, **options: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if where:
        params["where"] = encode_result(where)
    for name, value in options.items():
        if value is None:
            continue
        params[name] = ",".join(value) if isinstance(value, (list, tuple)) else value
    return params
