"""`include` on a subscription (our extension, parse-server #1686): the objects an event's pointers name, fetched as
the subscriber reads them and put in place of the pointers, as a REST find with `include` returns them.

Bounded: at most MAX_INCLUDE_PATHS paths of at most MAX_INCLUDE_DEPTH levels, and MAX_INCLUDED_OBJECTS objects
fetched per event and reader. A pointer to an object the subscriber may not read stays a plain pointer.

A fetch is shared by the subscribers that include the same paths and read alike, so what an event costs grows
with the number of different include lists. One socket may hold MAX_INCLUDE_LISTS_PER_SOCKET of them: without
that bound, a socket's 1,000 subscriptions, each with its own list (`["author", "x1"]`, `["author", "x2"]`...),
made every write to the class 1,000 reads of the store.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import msgspec

from auth.principal import Principal
from livequery.reads import LiveReads
from storage.errors import ErrorCode, ParseError

log = logging.getLogger(__name__)

MAX_INCLUDE_PATHS = 10
MAX_INCLUDE_DEPTH = 3
MAX_INCLUDED_OBJECTS = 100  # per event and reader; a snapshot may fetch MAX_SNAPSHOT_INCLUDED
MAX_INCLUDE_LISTS_PER_SOCKET = 10  # different include lists among one socket's subscriptions

Tree = dict[str, "Tree"]
Fetched = dict[tuple[str, str], dict[str, Any]]
"""(className, objectId) -> the stored object, for those the reader may read."""
Present = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""(className, stored object) -> what the subscriber may see of it (the hub's field filter)."""


class Includes(msgspec.Struct, frozen=True):
    """A subscription's include paths (`paths` as sent, sorted: the key of a shared fetch) and their tree."""

    paths: tuple[str, ...]
    tree: Tree


def parse_include(raw: list[str] | str | None) -> Includes | None:
    """A subscribe frame's `query.include`: a list of dotted paths, or one comma-separated string (as REST takes
    it). None for none; ParseError 102 beyond the bounds."""
    if raw is None:
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    paths = sorted({name.strip() for name in names if name.strip()})
    if not paths:
        return None
    if len(paths) > MAX_INCLUDE_PATHS:
        raise ParseError(ErrorCode.INVALID_QUERY, f"include may name at most {MAX_INCLUDE_PATHS} paths on a live query")
    tree: Tree = {}
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_INCLUDE_DEPTH or not all(parts):
            raise ParseError(ErrorCode.INVALID_QUERY,
                             f"Include path {path[:100]!r} is not a field path of at most {MAX_INCLUDE_DEPTH} levels")
        cursor = tree
        for part in parts:
            cursor = cursor.setdefault(part, {})
    return Includes(tuple(paths), tree)


async def fetch_pointed(reads: LiveReads, principal: Principal, class_name: str, tree: Tree,
                        documents: Iterable[Mapping[str, Any] | None], budget: int = MAX_INCLUDED_OBJECTS) -> Fetched:
    """Every object the include `tree` reaches from `documents` that `principal` may read, level by level: one
    read per pointed class and level, at most `budget` objects in all."""
    fetched: Fetched = {}
    level: list[tuple[Mapping[str, Any], Tree]] = [(doc, tree) for doc in documents if doc is not None]
    while level and budget > 0:
        wanted: dict[str, dict[str, None]] = {}  # className -> objectIds, in first-seen order
        next_level: list[tuple[tuple[str, str], Tree]] = []
        for doc, subtree in level:
            for field, below in subtree.items():
                for pointed_class, object_id in _pointers_in(doc.get(field)):
                    key = (pointed_class, object_id)
                    if key not in fetched and len(wanted.get(pointed_class, ())) < budget:
                        wanted.setdefault(pointed_class, {})[object_id] = None
                    if below:
                        next_level.append((key, below))
        if not wanted:
            break
        for pointed_class, ids in wanted.items():
            chosen = list(ids)[:budget]
            if not chosen:
                continue
            try:
                found = await reads.get_many(principal, pointed_class, chosen)
            except ParseError:  # the class may not be read by this subscriber: its pointers stay pointers
                found = []
            budget -= len(chosen)
            for doc in found:
                object_id = doc.get("objectId")
                if isinstance(object_id, str):
                    fetched[(pointed_class, object_id)] = doc
        level = [(fetched[key], below) for key, below in next_level if key in fetched]
    return fetched


def expand(obj: Mapping[str, Any], tree: Tree, fetched: Fetched, present: Present) -> dict[str, Any]:
    """`obj` with its included pointers replaced by the objects (`__type: Object`) as `present` shows them. New
    dicts throughout: `obj` and `fetched` are never changed (they are shared by subscribers)."""
    out = dict(obj)
    for field, below in tree.items():
        if field in out:  # a field the subscriber may not see stays absent
            out[field] = _swap(out[field], below, fetched, present)
    return out


def _swap(value: Any, tree: Tree, fetched: Fetched, present: Present) -> Any:
    if value.__class__ is list:
        return [_swap(item, tree, fetched, present) for item in value]
    if value.__class__ is dict and value.get("__type") == "Pointer":
        key = (value.get("className"), value.get("objectId"))
        doc = fetched.get(key)  # type: ignore[arg-type]
        if doc is None:
            return value
        shown = expand(present(key[0], doc), tree, fetched, present) if tree else dict(present(key[0], doc))
        return {"__type": "Object", "className": key[0], **shown}
    return value


def _pointers_in(value: Any) -> list[tuple[str, str]]:
    items = value if value.__class__ is list else (value,)
    found = []
    for item in items:
        if item.__class__ is dict and item.get("__type") == "Pointer":
            class_name, object_id = item.get("className"), item.get("objectId")
            if class_name.__class__ is str and object_id.__class__ is str:
                found.append((class_name, object_id))
    return found


class SharedFetch:
    """One event's include fetch for one kind of reader (include paths, ACL keys, master or not), shared by all
    its subscribers: the first to need it runs it in its own client's task, the others wait for that."""

    __slots__ = ("_done", "_make")

    def __init__(self, make: Callable[[], Awaitable[Fetched]]) -> None:
        self._make = make
        self._done: asyncio.Future[Fetched] | None = None

    async def get(self) -> Fetched:
        if self._done is not None:
            return await asyncio.shield(self._done)
        self._done = done = asyncio.get_running_loop().create_future()
        try:
            fetched = await self._make()
        except asyncio.CancelledError:  # its client went: the others send plain pointers rather than wait
            done.set_result({})
            raise
        except Exception:  # a failing read must not stop the events: they go with plain pointers
            log.exception("live query: fetching included objects failed")
            fetched = {}
        done.set_result(fetched)
        return fetched
