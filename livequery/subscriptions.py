"""Who is subscribed to what: live subscriptions indexed by class and by top-level equality values.

A write is checked only against the queries it could match: `{"room": "r17"}` sits in the bucket
`room -> "r17"`, so a write to room r42 never looks at it, however many rooms there are. Identical
(className, where) pairs share one `Query` and so one compiled matcher.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

import msgspec

from auth.principal import Principal
from livequery.include import Includes
from livequery.matcher import DATE_KEYS, MISSING, Matcher, compile_query
from livequery.reads import Reading
from storage.query import And, Compare, Field, In, Node, parse_where
from storage.schema import validate_class_name
from storage.values import Pointer

_POINTER_TYPES = ("Pointer", "Object")


class Subscriber(Protocol):
    """The client a subscription delivers to (the hub's ClientHandle)."""

    @property
    def closed(self) -> bool: ...

    def offer(self, frame: bytes) -> None: ...


class Query:
    """One distinct (className, where): its compiled matcher, its index buckets, its subscriptions.

    `buckets` is `(field, values)` when every match has one of `values` at top-level `field` (directly or
    as an array element), or None when the query must be checked on every write of its class.
    """

    __slots__ = ("buckets", "class_name", "key", "matches", "subscribers")

    def __init__(self, key: bytes, class_name: str, matches: Matcher,
                 buckets: tuple[str, tuple[Hashable, ...]] | None) -> None:
        self.key = key
        self.class_name = class_name
        self.matches = matches
        self.buckets = buckets
        self.subscribers: dict[Subscription, None] = {}  # insertion-ordered set

    def __repr__(self) -> str:
        return f"Query({self.key.decode(errors='replace')}, subscribers={len(self.subscribers)})"


_SHARED_ACLS: dict[tuple[str, ...], frozenset[str]] = {}
_MAX_SHARED_ACLS = 10_000


def shared_acl(keys: list[str]) -> frozenset[str]:
    """`keys` as a frozenset, the same object for every subscription with the same keys (all anonymous subscribers
    share `{"*"}`, a user's subscriptions share theirs): one object fewer per subscription for every full garbage
    collection to walk. At most `_MAX_SHARED_ACLS` are kept; then they are forgotten and shared anew."""
    key = tuple(keys)
    acl = _SHARED_ACLS.get(key)
    if acl is None:
        if len(_SHARED_ACLS) >= _MAX_SHARED_ACLS:
            _SHARED_ACLS.clear()
        acl = _SHARED_ACLS[key] = frozenset(key)
    return acl


class Subscription:
    """One client's subscription (a requestId on one connection). Identity-hashed."""

    __slots__ = ("acl", "ident", "include", "keys", "owner", "positions", "principal", "query", "reading",
                 "request_id", "session_token", "since", "watch")

    def __init__(self, owner: Subscriber | None, request_id: int, query: Query, principal: Principal, *,
                 keys: tuple[str, ...] | None = None, watch: tuple[str, ...] | None = None,
                 ident: bytes = b"", session_token: str | None = None, include: Includes | None = None,
                 reading: Reading | None = None) -> None:
        self.owner = owner
        self.request_id = request_id
        self.query = query
        self.keys = keys
        self.watch = watch
        self.use_principal(principal)
        self.ident = ident  # the per-client part of an event frame (clientId, installationId, requestId)
        self.session_token = session_token
        self.since = 0  # the position it was subscribed at (livequery/resume.py)
        self.positions = False  # its event frames carry their position (the `resumeFrom` extension)
        self.include = include  # None (the usual case): events carry plain pointers, at no cost
        self.reading = reading if reading is not None else Reading()  # what a snapshot of it reads

    def use_principal(self, principal: Principal) -> None:
        """Whom this subscription now reads as (at subscribe, and again after a log-out or a role change), and the
        ACL keys that grants, worked out once: they are checked against `_rperm` on every event."""
        self.principal = principal
        self.acl = shared_acl(principal.acl_keys())

    def __repr__(self) -> str:
        return f"Subscription({self.request_id}, {self.query.class_name}, user={self.principal.user_id})"


class _ClassIndex:
    __slots__ = ("fields", "scan")

    def __init__(self) -> None:
        self.scan: dict[Query, None] = {}
        self.fields: dict[str, dict[Hashable, dict[Query, None]]] = {}


class SubscriptionIndex:
    """Subscriptions by class and equality bucket. `add`/`remove` are O(1) (O(#values) for an `$in` query);
    `candidates` costs O(#indexed fields of the class + #unindexed queries), not O(#subscriptions)."""

    def __init__(self) -> None:
        self._queries: dict[bytes, Query] = {}
        self._classes: dict[str, _ClassIndex] = {}
        self._unshared = itertools.count()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def query_count(self) -> int:
        return len(self._queries)

    def subscriptions_by_class(self) -> dict[str, int]:
        """How many subscriptions each class has (for metrics; O(distinct queries))."""
        counts: dict[str, int] = {}
        for query in self._queries.values():
            counts[query.class_name] = counts.get(query.class_name, 0) + len(query.subscribers)
        return counts

    def prepare(self, class_name: str, where: Mapping[str, Any] | None) -> Query:
        """The Query for (class_name, where): the live one if any, else a newly compiled one (not registered until
        a subscription is added). Raises ParseError for an invalid class name (103) or an invalid or
        unsupported where."""
        validate_class_name(class_name)
        key = msgspec.json.encode((class_name, where or {}), order="sorted")
        if b'"$relativeTime"' in key:  # resolved against the clock at subscribe time: never shared
            key += b"#%d" % next(self._unshared)
        query = self._queries.get(key)
        if query is not None:
            return query
        node = parse_where(where or {})
        return Query(key, class_name, compile_query(node), index_buckets(node))

    def add(self, subscription: Subscription) -> None:
        query = self._queries.get(subscription.query.key)
        if query is None:
            query = subscription.query
            self._register(query)
        subscription.query = query
        if subscription not in query.subscribers:
            query.subscribers[subscription] = None
            self._count += 1

    def remove(self, subscription: Subscription) -> None:
        query = subscription.query
        if query.subscribers.pop(subscription, MISSING) is MISSING:
            return
        self._count -= 1
        if not query.subscribers and self._queries.get(query.key) is query:
            self._unregister(query)

    def candidates(self, class_name: str, current: Mapping[str, Any],
                   original: Mapping[str, Any] | None = None) -> list[Query]:
        """The queries of `class_name` that could match `current` or `original` (each once)."""
        index = self._classes.get(class_name)
        if index is None:
            return []
        found: dict[Query, None] = dict(index.scan)
        for field, by_value in index.fields.items():
            _collect(by_value, current.get(field, MISSING), found)
            if original is not None:
                _collect(by_value, original.get(field, MISSING), found)
        return list(found)

    def _register(self, query: Query) -> None:
        self._queries[query.key] = query
        index = self._classes.get(query.class_name)
        if index is None:
            index = self._classes[query.class_name] = _ClassIndex()
        if query.buckets is None:
            index.scan[query] = None
            return
        field, values = query.buckets
        by_value = index.fields.setdefault(field, {})
        for value in values:
            by_value.setdefault(value, {})[query] = None

    def _unregister(self, query: Query) -> None:
        del self._queries[query.key]
        index = self._classes.get(query.class_name)
        if index is None:
            return
        if query.buckets is None:
            index.scan.pop(query, None)
        else:
            field, values = query.buckets
            by_value = index.fields.get(field, {})
            for value in values:
                bucket = by_value.get(value)
                if bucket is not None:
                    bucket.pop(query, None)
                    if not bucket:
                        del by_value[value]
            if not by_value:
                index.fields.pop(field, None)
        if not index.scan and not index.fields:
            del self._classes[query.class_name]


def _collect(by_value: dict[Hashable, dict[Query, None]], value: Any, found: dict[Query, None]) -> None:
    if value.__class__ is list:
        for element in value:
            key = bucket_key(element)
            if key is not None:
                bucket = by_value.get(key)
                if bucket:
                    found.update(bucket)
        return
    key = bucket_key(value)
    if key is not None:
        bucket = by_value.get(key)
        if bucket:
            found.update(bucket)


def bucket_key(value: Any) -> Hashable | None:
    """The bucket a stored value (or decoded query value) falls in; None if such values are not indexed.

    Strings, numbers (1 and 1.0 share a bucket, as they are equal) and pointers. Booleans never: in Python
    True == 1, which would mix them with numbers.
    """
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return None if math.isnan(value) else value
    if kind is Pointer:
        return value  # type: ignore[no-any-return]
    if kind is dict and value.get("__type") in _POINTER_TYPES:
        class_name, object_id = value.get("className"), value.get("objectId")
        if class_name.__class__ is str and object_id.__class__ is str:
            return Pointer(class_name, object_id)
    return None


def index_buckets(node: Node) -> tuple[str, tuple[Hashable, ...]] | None:
    """A top-level field and the values one of which every match must hold there, if the where has one.

    Only conjunctions are looked into: `{"room": "r1", "n": {"$gt": 3}}` → ("room", ("r1",)). An `$in` of
    indexable values gives several buckets. None = no such field (the query is checked on every write).
    """
    fields = [node] if isinstance(node, Field) else list(node.children) if isinstance(node, And) else []
    best: tuple[str, tuple[Hashable, ...]] | None = None
    for child in fields:
        if not isinstance(child, Field) or len(child.path) != 1 or child.path[0] in DATE_KEYS:
            continue
        for constraint in child.constraints:
            if isinstance(constraint, Compare) and constraint.op == "$eq":
                if constraint.value.__class__ is not dict and (key := bucket_key(constraint.value)) is not None:
                    return child.path[0], (key,)
            elif isinstance(constraint, In) and not constraint.negate and best is None:
                keys = [bucket_key(v) if v.__class__ is not dict else None for v in constraint.values]
                if all(k is not None for k in keys):
                    best = child.path[0], tuple(dict.fromkeys(keys))  # type: ignore[arg-type]
    return best

