"""`<classes>` find queries as Relay connections, with keyset cursors.

A cursor holds the sort-key values and objectId of its row (base64 JSON, opaque to clients). `after` and
`before` become conditions on those keys, not offsets, so a page never shifts when rows are added or removed
before it (Parse's cursors are offsets). `objectId` is the last sort key, so every order is total.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping

import msgspec
from graphql import GraphQLResolveInfo

from api.graphql.context import RequestContext, tagged
from api.graphql.selection import selected_below, selected_names
from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema

DEFAULT_LIMIT = 100
_DATES = ("createdAt", "updatedAt")


def _sort_keys(order: list[str] | None) -> list[tuple[str, bool]]:
    keys: list[tuple[str, bool]] = []
    for value in order or ():
        name, descending = value.lstrip("-"), value.startswith("-")
        if name not in (k for k, _ in keys):
            keys.append((name, descending))
    if "objectId" not in (k for k, _ in keys):
        keys.append(("objectId", False))
    return keys


def encode_cursor(row: Mapping[str, Any], keys: list[tuple[str, bool]]) -> str:
    values = [row.get(name) for name, _ in keys]
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode()


def decode_cursor(cursor: str, keys: list[tuple[str, bool]], which: str) -> list[Any]:
    try:
        values = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, msgspec.DecodeError, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != len(keys) or not isinstance(values[-1], str):
        raise ParseError(ErrorCode.INVALID_QUERY, f"{which} is not a valid cursor")
    return values


def _where_value(name: str, value: Any) -> Any:
    if name in _DATES and isinstance(value, str):
        return {"__type": "Date", "iso": value}
    return value


def keyset_where(keys: list[tuple[str, bool]], values: list[Any], *, after: bool) -> dict[str, Any]:
    """Rows strictly after (or before) the row with sort-key `values`, in the order `keys`. Missing values sort
    first in ascending order, as in both stores."""
    branches: list[dict[str, Any]] = []
    prefix: dict[str, Any] = {}
    for (name, descending), value in zip(keys, values):
        forward = after != descending  # True: the following rows have greater values
        value = _where_value(name, value)
        if value is None:
            if forward:
                branches.append({**prefix, name: {"$exists": True, "$ne": None}})
        else:
            branches.append({**prefix, name: {"$gt" if forward else "$lt": value}})
            if not forward:
                branches.append({**prefix, name: {"$eq": None}})
        prefix = {**prefix, name: {"$eq": value}}
    return {"$or": branches} if branches else {"objectId": {"$in": []}}


def _count_non_negative(args: Mapping[str, Any], name: str, message: str) -> int | None:
    value = args.get(name)
    if value is not None and value < 0:
        raise ParseError(ErrorCode.INVALID_QUERY, message)
    return value  # type: ignore[no-any-return]


class Connection:
    """The value of a `<T>Connection` field; `count` runs its own count query only when it is selected."""

    def __init__(self, context: RequestContext, class_name: str, where: dict[str, Any]) -> None:
        self.context = context
        self.class_name = class_name
        self.where = where
        self.edges: list[dict[str, Any]] = []
        self.page_info: dict[str, Any] = {"hasNextPage": False, "hasPreviousPage": False,
                                          "startCursor": None, "endCursor": None}

    async def count(self) -> int:
        reply = await self.context.services.queries.find(
            self.context.principal, self.class_name, {"where": self.where, "count": 1, "limit": 0})
        return int(reply.get("count", 0))


def pointers_of(rows: list[dict[str, Any]], schema: ClassSchema | None, fields: set[str]) -> list[tuple[str, str]]:
    """(class, objectId) of the targets of the pointer `fields` of `rows`."""
    if schema is None:
        return []
    wanted = [name for name in fields if (kind := schema.fields.get(name)) is not None and kind.type == "Pointer"]
    out: list[tuple[str, str]] = []
    for row in rows:
        for name in wanted:
            value = row.get(name)
            if isinstance(value, dict) and value.get("__type") == "Pointer":
                out.append((value["className"], value["objectId"]))
    return out


async def find_connection(context: RequestContext, class_name: str, where: dict[str, Any],
                          args: Mapping[str, Any], info: GraphQLResolveInfo) -> Connection:
    """Run a find with Relay arguments (`first`/`after`/`last`/`before`/`skip`/`order`). Rows are read only
    when `edges` or `pageInfo` is selected (`count` alone runs a count query only); the targets of the
    pointer fields selected on the nodes are loaded with them, one query per class."""
    selected = selected_names(info)
    wants_rows = "edges" in selected or "pageInfo" in selected
    skip = _count_non_negative(args, "skip", "Skip should be a positive number") or 0
    first = _count_non_negative(args, "first", "First should be a positive number")
    last = _count_non_negative(args, "last", "Last should be a positive number")
    keys = _sort_keys(args.get("order"))
    connection = Connection(context, class_name, where)
    conditions = [where] if where else []
    if args.get("after"):
        conditions.append(keyset_where(keys, decode_cursor(args["after"], keys, "After"), after=True))
    if args.get("before"):
        conditions.append(keyset_where(keys, decode_cursor(args["before"], keys, "Before"), after=False))
    if not wants_rows or first == 0 or last == 0:
        return connection
    max_limit = context.services.settings.max_limit
    scoped = conditions[0] if len(conditions) == 1 else ({"$and": conditions} if conditions else {})
    backwards = last is not None and first is None and not skip
    if backwards:  # the last rows: read in the reverse order, then turn them around
        order = ",".join(("" if descending else "-") + name for name, descending in keys)
        limit = last if max_limit is None else min(last, max_limit)
        rows = await _find(context, class_name, scoped, order, limit + 1, 0)
        has_previous, rows = len(rows) > limit, rows[:limit][::-1]
        has_next = bool(args.get("before"))
    else:
        order = ",".join(("-" if descending else "") + name for name, descending in keys)
        limit = first if first is not None else DEFAULT_LIMIT
        if max_limit is not None:
            limit = min(limit, max_limit)
        rows = await _find(context, class_name, scoped, order, limit + 1, skip)
        has_next, rows = len(rows) > limit, rows[:limit]
        has_previous = skip > 0 or bool(args.get("after"))
        if last is not None and last < len(rows):
            rows, has_previous = rows[-last:], True
    node_fields = selected_below(info, ("edges", "node")) if "edges" in selected else set()
    pointers = pointers_of(rows, context.schemas.get(class_name), node_fields)
    if pointers:
        await context.loader.prefetch(pointers)
    connection.edges = [{"cursor": encode_cursor(row, keys), "node": tagged(row, class_name)} for row in rows]
    connection.page_info = {
        "hasNextPage": has_next, "hasPreviousPage": has_previous,
        "startCursor": connection.edges[0]["cursor"] if connection.edges else None,
        "endCursor": connection.edges[-1]["cursor"] if connection.edges else None}
    return connection


async def _find(context: RequestContext, class_name: str, where: dict[str, Any], order: str, limit: int,
                skip: int) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"where": where, "order": order, "limit": limit}
    if skip:
        params["skip"] = skip
    reply = await context.services.queries.find(context.principal, class_name, params)
    return reply["results"]  # type: ignore[no-any-return]
