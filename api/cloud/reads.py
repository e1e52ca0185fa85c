"""The read path with before_find / after_find: the query a client sent, as the class's triggers rewrite it.

before_find sees a CloudQuery (where, order, limit, skip, keys, include, count, is_get) for find, get and count
and may change it or return a new one; the rewritten query runs with the caller's permissions. after_find sees
the page of results as REST JSON and may change or replace them (a get whose object it drops is 101).
"""
from __future__ import annotations

from typing import Any

from api.cloud.runner import Caller, HookRunner
from api.queries import QueryService, list_param
from auth.principal import Principal
from livequery.cloud import CloudQuery, Hook
from storage.errors import ErrorCode, ParseError
from storage.query import Node, parse_where

_LIST_PARAMS = (("keys", "keys"), ("include", "include"), ("exclude_keys", "excludeKeys"))


class CloudReads:
    def __init__(self, queries: QueryService, hooks: HookRunner) -> None:
        self._queries = queries
        self._hooks = hooks
        queries.include_scope = self.include_scope

    async def include_scope(self, principal: Principal, class_name: str) -> Node | None:
        """before_find of an `include`d class, as Parse runs it: what it adds to the query limits the included
        objects (those it excludes stay pointers)."""
        hook = self._hooks.find("before_find", class_name)
        if hook is None:
            return None
        params = await self._before_find(hook, Caller(principal), {}, {}, is_get=False)
        where = params.get("where")
        return parse_where(where, internal=principal.is_master) if where else None

    async def find(self, caller: Caller, class_name: str, params: dict[str, Any]) -> dict[str, Any]:
        before, after = self._hooks.around("find", class_name)
        if before is None and after is None:
            return await self._queries.find(caller.principal, class_name, params)
        context = dict(caller.context or {})
        if before is not None:
            params = await self._before_find(before, caller, params, context, is_get=False)
        body = await self._queries.find(caller.principal, class_name, params)
        if after is not None:
            body["results"] = await self._after_find(after, caller, body["results"], context, is_get=False)
        return body

    async def get(self, caller: Caller, class_name: str, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
        before, after = self._hooks.around("find", class_name)
        if before is None and after is None:
            return await self._queries.get(caller.principal, class_name, object_id, params)
        context = dict(caller.context or {})
        extra = None
        if before is not None:
            rewritten = await self._before_find(before, caller, {**params, "where": {"objectId": object_id}},
                                                context, is_get=True)
            where = rewritten.pop("where", None)
            extra = parse_where(where, internal=caller.principal.is_master) if where else None
            params = {k: v for k, v in rewritten.items() if k in ("keys", "include", "excludeKeys")}
        found = await self._queries.get(caller.principal, class_name, object_id, params, extra=extra)
        if after is None:
            return found
        results = await self._after_find(after, caller, [found], context, is_get=True)
        if not results:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        return results[0]

    async def _before_find(self, hook: Hook, caller: Caller, params: dict[str, Any],
                           context: dict[str, Any], *, is_get: bool) -> dict[str, Any]:
        query = query_from_params(hook.target, params, is_get=is_get)
        request = await self._hooks.request_for(hook, caller, query=query, count=query.count, is_get=is_get,
                                                context=context)
        returned = await self._hooks.run(hook, request, caller.principal)
        if isinstance(returned, CloudQuery):
            query = returned
        elif isinstance(returned, dict):  # a where
            query.where = returned
        elif isinstance(request.query, CloudQuery):
            query = request.query
        return params_from_query(query, params)

    async def _after_find(self, hook: Hook, caller: Caller, objects: list[dict[str, Any]],
                          context: dict[str, Any], *, is_get: bool) -> list[dict[str, Any]]:
        request = await self._hooks.request_for(hook, caller, objects=objects, is_get=is_get, context=context)
        returned = await self._hooks.run(hook, request, caller.principal)
        chosen = returned if returned is not None else request.objects
        if not isinstance(chosen, (list, tuple)):
            raise ParseError(ErrorCode.SCRIPT_FAILED, "after_find must return a list of objects")
        return [item if isinstance(item, dict) else {} for item in chosen]


def query_from_params(class_name: str, params: dict[str, Any], *, is_get: bool = False) -> CloudQuery:
    where = params.get("where")
    return CloudQuery(class_name, dict(where) if isinstance(where, dict) else {},
                      order=params.get("order") if isinstance(params.get("order"), str) else None,
                      limit=_int(params.get("limit")), skip=_int(params.get("skip")),
                      keys=list_param(params.get("keys")), include=list_param(params.get("include")),
                      exclude_keys=list_param(params.get("excludeKeys")),
                      count=params.get("count") in (1, True, "1", "true"), is_get=is_get)


def params_from_query(query: CloudQuery, params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    out["where"] = query.where
    for attribute, name in (("order", "order"), ("limit", "limit"), ("skip", "skip")):
        value = getattr(query, attribute)
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    for attribute, name in _LIST_PARAMS:
        names = getattr(query, attribute)
        if names:
            out[name] = ",".join(names)
        else:
            out.pop(name, None)
    if query.count:
        out["count"] = 1
    else:
        out.pop("count", None)
    return out


def _int(raw: Any) -> int | None:
    try:
        return None if raw is None or raw == "" or isinstance(raw, bool) else int(raw)
    except (TypeError, ValueError):
        return None
