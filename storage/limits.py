"""Bounds on the size of what a client sends, checked before any work is done on it.

A `where` is bounded while it is parsed (storage.query), JSON documents by their nesting: past these bounds a
request costs the server more than any app needs (SQLite's expression depth, Python's recursion, seconds of CPU),
so it is answered with Parse's INVALID_QUERY / INVALID_JSON naming the bound instead.
"""
from __future__ import annotations

from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError

MAX_JSON_DEPTH = 64  # nesting of objects and arrays in a body, a query parameter or a LiveQuery frame


class QueryLimits(msgspec.Struct, frozen=True):
    """How large one `where` may be."""

    depth: int = 16  # nesting of $or/$and/$nor and sub-queries ($inQuery, $select, ...)
    branches: int = 100  # clauses of one $or/$and/$nor
    conditions: int = 500  # field constraints and logical clauses in the whole where
    values: int = 10_000  # values of one $in/$nin/$all/$containedBy


DEFAULT_QUERY_LIMITS = QueryLimits()


def check_json_depth(value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """INVALID_JSON if `value` (decoded JSON) nests objects/arrays deeper than `limit`. Iterative: no recursion."""
    level: list[Any] = [value]
    depth = 0
    while level:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            return
        depth += 1
        if depth > limit:
            raise too_deep(what, limit)
        level = [child for container in containers
                 for child in (container.values() if isinstance(container, dict) else container)]


def too_deep(what: str, limit: int = MAX_JSON_DEPTH) -> ParseError:
    """The answer to JSON the decoder itself refused for its depth (RecursionError)."""
    return ParseError(ErrorCode.INVALID_JSON, f"{what} nests objects and arrays deeper than {limit} levels")
