"""What one write means for one subscription: which event (PARSE_PROTOCOL 6.4), whether `watch` lets it through,
and the object a client receives (hidden fields stripped, trimmed to `keys`, 6.6). All pure."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from auth.principal import Principal
from livequery.matcher import MISSING

LiveEventKind = Literal["create", "enter", "update", "leave", "delete"]

# Fields an event object always keeps, whatever `keys` says.
BASE_KEYS = ("className", "objectId", "createdAt", "updatedAt", "ACL")
# Never sent to anyone, the user themselves and the master key included: credentials. (`_`-prefixed keys, the
# password hash among them, are internal and never sent either.)
SECRET_KEYS = frozenset({"password", "sessionToken", "authData"})
# Events that carry `original` next to `object`.
WITH_ORIGINAL = frozenset({"enter", "update", "leave"})


def classify(matched_before: bool, matches_now: bool, is_new: bool, is_delete: bool = False) -> LiveEventKind | None:
    """The live event one write produces for one subscriber, if any.

    "Matched" includes the subscriber's read access. `matched_before`: the object before the write existed,
    matched and was readable; `matches_now`: it matches and is readable after the write (for a delete: the
    deleted object did). `is_new`: the write created the object.
    """
    if is_delete:
        return "delete" if matches_now else None
    if matched_before:
        return "update" if matches_now else "leave"
    if matches_now:
        return "create" if is_new else "enter"
    return None


def passes_watch(kind: LiveEventKind, watch: tuple[str, ...] | None, current: Mapping[str, Any],
                 original: Mapping[str, Any] | None) -> bool:
    """`watch` holds back `create`/`update` unless a watched field differs between the two states (a created
    object against nothing). `enter`/`leave`/`delete` are never held back."""
    if not watch or (kind != "create" and kind != "update"):
        return True
    if original is None:
        return any(field in current for field in watch)
    return any(not same_json(current.get(f, MISSING), original.get(f, MISSING)) for f in watch)


def same_json(a: Any, b: Any) -> bool:
    """Deep equality of JSON values where true is not 1 (1 and 1.0 are equal, as in JSON)."""
    if a.__class__ is bool or b.__class__ is bool:
        return a is b
    if a.__class__ is list:
        return b.__class__ is list and len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if a.__class__ is dict:
        return (b.__class__ is dict and len(a) == len(b)
                and all(k in b and same_json(v, b[k]) for k, v in a.items()))
    return bool(a == b)


def select_keys(doc: Mapping[str, Any], keys: tuple[str, ...] | None) -> Mapping[str, Any]:
    """The object trimmed to BASE_KEYS plus `keys` (matching always uses the full object)."""
    if keys is None:
        return doc
    out = {k: doc[k] for k in BASE_KEYS if k in doc}
    for key in keys:
        if key in doc:
            out[key] = doc[key]
    return out


def strip_hidden(principal: Principal, class_name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The field filter every event goes through: no `_`-prefixed internal keys and no credentials (SECRET_KEYS),
    whoever subscribed. Returns a new dict; `doc` is never changed."""
    return {k: v for k, v in doc.items() if k[:1] != "_" and k not in SECRET_KEYS}


def object_json(class_name: str, doc: Mapping[str, Any]) -> bytes:
    """The Parse JSON of an event's `object`/`original`: `className` first, then the (filtered) fields."""
    return msgspec.json.encode({"className": class_name, **doc})
