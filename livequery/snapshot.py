"""A subscription's snapshot (our extension, parse-server #9086): the objects matching it now, as one `result`
frame, and then its live events, with nothing lost or stale in between.

Asked by `"snapshot": true` on `subscribe`/`update`, or by `{"op": "query", "requestId": N}` on a live
subscription (what the JS SDK's `subscription.find()` sends). The frame, as the SDK reads it:

    {"op": "result", "clientId": ..., "installationId": ..., "requestId": N, "results": [<object>, ...]}

Its objects are the subscription's own view of each object, exactly as its events show them (ACL, CLP, pointer
permissions, protectedFields, `keys`, `include`), at most `limit` of them in `order`.

How nothing falls between the two: from the moment the snapshot is asked (before its read starts), a gate stands
in for the subscription's client. The read runs in the client's own ordered queue of deferred frames, so every
event that arrives meanwhile queues behind the `result` frame. The gate then drops the events the snapshot
already reflects: an object's event older than the snapshot's state of it (`updatedAt`), or one that carries that
very state (same `updatedAt`, same content: the write committed before the read, its event came after). A
client that applies frames in order (result: the set; create/enter/update: put; leave/delete: remove) ends with
the newest state. Writes within one millisecond of the snapshot's state may be replayed (never lost).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from livequery.events import object_json, same_json, select_keys
from livequery.include import MAX_INCLUDED_OBJECTS, expand, fetch_pointed
from livequery.protocol import LiveQueryErrorCode, error_frame
from livequery.subscriptions import Subscription
from storage.errors import ErrorCode, ParseError

if TYPE_CHECKING:
    from livequery.hub import ClientHandle, Hub, Produce

log = logging.getLogger(__name__)

MAX_SNAPSHOT = 1000  # objects in one `result` frame, whatever `limit` asks
MAX_SNAPSHOT_INCLUDED = 1000  # included objects fetched for one snapshot
SETTLE_SECONDS = 30.0  # how long the gate watches for events the snapshot already reflects (bus latency is ms)
ENCODE_CHUNK = 200
_REPLACES = frozenset({"create", "enter", "update"})  # events that put a state the snapshot may already hold


def result_frame(ident: bytes, objects: list[bytes]) -> bytes:
    """The `result` frame around already-encoded objects (`ident`: the subscription's clientId..requestId)."""
    return b"".join((b'{"op":"result",', ident, b',"results":[', b",".join(objects), b"]}"))


class _Object(msgspec.Struct):
    objectId: str | None = None
    updatedAt: str | None = None


class _Frame(msgspec.Struct):
    op: str
    object: msgspec.Raw = msgspec.Raw()  # empty: no object (an error frame)


class SnapshotGate:
    """Stands in for a subscription's client (its `owner`) while its snapshot is read and settles: events are
    deferred behind the `result` frame, then those it already reflects are dropped. Then it steps aside."""

    def __init__(self, client: ClientHandle, subscription: Subscription) -> None:
        self.client = client
        self.subscription = subscription
        # objectId -> (updatedAt, encoded object) of the objects the client got in the snapshot; None while read
        self._known: dict[str, tuple[str | None, bytes]] | None = None
        self._settle: asyncio.TimerHandle | None = None

    @property
    def closed(self) -> bool:
        return self.client.closed

    @property
    def connection(self) -> Any:  # the hub's hooks read the client's installationId through it
        return self.client.connection

    def offer(self, frame: bytes) -> None:
        if self._known is None:
            self.client.offer_later(self._after_snapshot(frame))
        elif self.passes(frame):
            self.client.offer(frame)

    def offer_later(self, produce: Produce) -> None:
        async def gated() -> bytes | None:
            frame = await produce()
            return frame if frame is not None and self.passes(frame) else None

        self.client.offer_later(gated)

    def _after_snapshot(self, frame: bytes) -> Produce:
        async def gated() -> bytes | None:
            return frame if self.passes(frame) else None

        return gated

    def passes(self, frame: bytes) -> bool:
        """Whether an event frame still tells the client something the snapshot did not."""
        known = self._known
        if not known:
            return True
        try:
            event = msgspec.json.decode(frame, type=_Frame)
            if not event.object:
                return True  # an error frame
            obj = msgspec.json.decode(event.object, type=_Object)
        except msgspec.DecodeError:
            return True
        entry = known.get(obj.objectId) if obj.objectId is not None else None
        if entry is None:
            return True
        version, body = entry
        if version is not None and obj.updatedAt is not None:
            if obj.updatedAt < version:
                return False  # older than what the client holds: a later event (or the snapshot) has it
            if (obj.updatedAt == version and event.op in _REPLACES
                    and same_json(msgspec.json.decode(event.object), msgspec.json.decode(body))):
                return False  # the very state the snapshot gave
        del known[obj.objectId]  # the client follows this object's events from here on
        return True

    def settled(self) -> None:
        """Step aside: events go straight to the client again."""
        self._known = {}
        if self.subscription.owner is self:
            self.subscription.owner = self.client

    def produce_result(self, hub: Hub) -> Produce:
        async def produce() -> bytes | None:
            try:
                return await self._read(hub)
            except Exception:  # never out of the client's queue: its later frames would wait for ever
                log.exception("live query: the snapshot of %r failed", self.subscription)
                return error_frame(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error", reconnect=False,
                                   request_id=self.subscription.request_id)
            finally:
                if self._known is None:
                    self._known = {}  # failed or gone: the events pass

        return produce

    def _is_live(self) -> bool:
        """False once the client went, or the subscription was unsubscribed or replaced: no `result` then."""
        client, subscription = self.client, self.subscription
        return not client.closed and client.connection.subscriptions.get(subscription.request_id) is subscription

    async def _read(self, hub: Hub) -> bytes | None:
        subscription = self.subscription
        if not self._is_live():
            return None
        reads = hub.reads
        request_id = subscription.request_id
        if reads is None:
            return error_frame(LiveQueryErrorCode.UNKNOWN_OPERATION, "This server does not serve snapshots",
                               reconnect=False, request_id=request_id)
        principal, class_name = subscription.principal, subscription.query.class_name
        try:
            found = await reads.find(principal, class_name, subscription.reading)
        except ParseError as exc:
            return error_frame(exc.code, exc.message, reconnect=False, request_id=request_id)
        # as its events would show them: only what the matcher and the subscriber's access let through
        may_read = hub.read_check(class_name)
        documents = [doc for doc in found[:MAX_SNAPSHOT]
                     if subscription.query.matches(doc) and may_read(subscription, doc)]
        include = subscription.include
        fetched = None
        if include is not None and documents:
            fetched = await fetch_pointed(reads, principal, class_name, include.tree, documents,
                                          budget=max(MAX_INCLUDED_OBJECTS, MAX_SNAPSHOT_INCLUDED))

        def present(name: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
            return hub.visible(principal, name, doc)

        known: dict[str, tuple[str | None, bytes]] = {}
        objects = []
        for count, doc in enumerate(documents):
            if count and not count % ENCODE_CHUNK:
                await asyncio.sleep(0)  # a large snapshot must not hold the event loop
            shown = select_keys(present(class_name, doc), subscription.keys)
            if include is not None and fetched:
                shown = expand(shown, include.tree, fetched, present)
            body = object_json(class_name, shown)
            objects.append(body)
            object_id, version = doc.get("objectId"), doc.get("updatedAt")
            if isinstance(object_id, str):
                known[object_id] = (version if isinstance(version, str) else None, body)
        if not self._is_live():
            return None
        self._known = known
        self._settle = asyncio.get_running_loop().call_later(SETTLE_SECONDS, self.settled)
        return result_frame(subscription.ident, objects)


def start_snapshot(hub: Hub, client: ClientHandle, subscription: Subscription) -> None:
    """Send `subscription` its snapshot, then its events, nothing between them lost or stale. Call it right after
    the subscription went into the index, before any await: every event from then on passes the gate."""
    previous = subscription.owner
    if isinstance(previous, SnapshotGate):
        previous.settled()
    gate = SnapshotGate(client, subscription)
    subscription.owner = gate
    client.offer_later(gate.produce_result(hub))
