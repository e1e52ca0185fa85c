"""Bounds on the size of what a client sends, checked before any work is done on it.

A `where` is bounded while it is parsed (storage.query), JSON documents by their nesting: past these bounds a
request costs the server more than any app needs (SQLite's expression depth, Python's recursion, seconds of CPU),
so it is answered with Parse's INVALID_QUERY / INVALID_JSON naming the bound instead.
"""
from __future__ import annotations

from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError

MAX_JSON_DEPTH = 256  # nesting of objects and arrays in a body, a query parameter or a LiveQuery frame


class QueryLimits(msgspec.Struct, frozen=True):
    """How large one `where` may be."""

    depth: int = 16  # nesting of $or/$and/$nor and sub-queries ($inQuery, $select, ...)
    branches: int = 100  # clauses of one $or/$and/$nor
    conditions: int = 500  # field constraints and logical clauses in the whole where
    values: int = 10_000  # values of one $in/$nin/$all/$containedBy


DEFAULT_QUERY_LIMITS = QueryLimits()


def check_json_depth(value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """INVALID_JSON if `value` (decoded JSON) nests objects/arrays deeper than `limit`. Iterative: no recursion."""
    level = [value] if value.__class__ is dict or value.__class__ is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise too_deep(what, limit)
        deeper: list[Any] = []
        for container in level:
            deeper += [child for child in (container.values() if container.__class__ is dict else container)
                       if child.__class__ is dict or child.__class__ is list]
        level = deeper


def check_decoded_depth(text: str | bytes, value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """`check_json_depth` of JSON just decoded from `text`; free when the text has too few brackets to nest that
    deep (nearly always: a 1 MB `$in` list has two)."""
    if isinstance(text, str):
        opening = text.count("{") + text.count("[")
    else:
        opening = text.count(b"{") + text.count(b"[")
    if opening > limit:
        check_json_depth(value, what, limit)


def too_deep(what: str, limit: int = MAX_JSON_DEPTH) -> ParseError:
    """The answer to JSON the decoder itself refused for its depth (RecursionError)."""
    return ParseError(ErrorCode.INVALID_JSON, f"{what} nests objects and arrays deeper than {limit} levels")
