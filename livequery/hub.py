"""The fan-out: change events from the bus to every subscribed client that may see them.

Per event, only the candidate queries from the index are evaluated (once each, before and after); read access is
checked only for subscribers of matching queries; an object is encoded once per distinct audience and `keys`, and
each client gets those bytes in a small envelope of its own. Every client has a bounded outbox: a client that
falls behind is closed (4008 "too slow") and never delays anyone else.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Hashable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

import msgspec

from auth.principal import Principal
from storage.errors import ParseError
from livequery.bus import Bus, ChangeEvent, Departure
from livequery.coalesce import Coalescer, CoalesceStats
from livequery.connection import (
    DEFAULT_MAX_SUBSCRIPTIONS,
    Add,
    Connection,
    KeyCheck,
    Remove,
    Send,
    SessionResolver,
    Snapshot,
    SubscribeCheck,
)
from livequery.events import (
    WITH_ORIGINAL,
    LiveEventKind,
    classify,
    object_json,
    passes_watch,
    select_keys,
    strip_hidden,
)
from livequery.history import History
from livequery.hooks import EventParts, LiveHooks, Who
from livequery.include import SharedFetch, expand, fetch_pointed
from livequery.protocol import LiveQueryErrorCode, error_frame, event_frame, event_parts
from livequery.resume import Joined, Resumes, with_position
from livequery.reads import LiveReads
from livequery.snapshot import start_snapshot
from livequery.subscriptions import Subscription, SubscriptionIndex

log = logging.getLogger(__name__)

Document = Mapping[str, Any]
SendBytes = Callable[[bytes], Awaitable[None]]
Produce = Callable[[], Awaitable["bytes | None"]]
"""Makes one frame later (an after_live_query_event hook's), or None to send nothing."""
WriteFrames = Callable[[list[bytes]], bool]
"""Writes text frames to the socket at once, without waiting (one transport write); False when the socket can take
no more (closing or gone)."""
Buffered = Callable[[], int]
"""Bytes the socket's transport holds, written but not yet taken by the peer (its write buffer size)."""
CanSee = Callable[[Principal, str, Document], bool]
"""An extra read check after the ACL (auth's CLP). Not called for the master key."""
VisibleFields = Callable[[Principal, str, Document], Document]
"""The fields `principal` may see (auth's protectedFields). Must return a new mapping and never change `doc`;
it may only leave fields out, never change their values."""
Audience = Callable[[Principal, str, Document], Hashable]
"""Equal audiences must get equal `VisibleFields` results: the object is encoded once per audience."""

EventHook = Callable[[ChangeEvent], Awaitable[None]]


class FanoutObserver(Protocol):
    """Watches the fan-out once per event, never per client (metrics: bus lag, commit-to-socket latency)."""

    def received(self, event: ChangeEvent) -> None:
        """The hub took `event` from the bus."""

    def written(self, event: ChangeEvent) -> None:
        """`event`'s frames were queued and every subscriber's writer has had its turn to write them."""

TOO_SLOW = 4008
DEFAULT_BUDGET_BYTES = 1 << 20
# Under a backlog the hub dispatches events for up to this long before it lets other tasks run. One event per
# loop turn left it behind whenever the loop was busy (each turn runs every ready request): at 70 bookings/s in
# the appointment benchmark, events waited 0.5-2 s in the bus queue while the server had CPU to spare.
DISPATCH_SLICE_SECONDS = 0.004


class Close(msgspec.Struct, frozen=True):
    """Why a client's outbox ended: the websocket close code and reason the endpoint should use."""

    code: int
    reason: str = ""
    farewell: bytes | None = None  # a last frame to try to send before closing


class ClientHandle:
    """One connected websocket, as the endpoint sees it: feed it frames with `receive`, let `pump` (or `serve`)
    write its outbox to the socket, and `close` it when the socket goes.

    With a `write` (the endpoint's direct writer) there is no outbox and no pump: the frames offered during one loop
    iteration go to the socket together in one write when the iteration ends (Hub._flush), with no task switch per
    frame, and `serve` reads in the caller's task (an idle socket holds no queue and no task of its own)."""

    def __init__(self, hub: Hub, send: SendBytes, outbox_size: int, buffered: Buffered | None = None,
                 budget_bytes: int = DEFAULT_BUDGET_BYTES, write: WriteFrames | None = None) -> None:
        self._hub = hub
        self._send = send
        self._write = write
        # direct writing: frames offered since the last flush (an empty tuple, not a list of its own, while none
        # are: an idle socket holds one object fewer for full garbage collections to walk)
        self._pending: list[bytes] | tuple[()] = ()
        self._outbox_size = max(2, outbox_size)
        self.outbox: asyncio.Queue[bytes | Close] | None = None if write else asyncio.Queue(self._outbox_size)
        self._closing: Close | None = None  # direct writing: how the socket is to be closed
        # What this client holds in the server: its outbox and its transport's write buffer, in bytes. A client
        # over its budget is closed: frames a stalled reader never takes must not pile up anywhere.
        self._buffered = buffered
        self._budget = budget_bytes
        self._queued_bytes = 0
        self.closed = False
        self._pump: asyncio.Task[Any] | None = None
        self._sending = False
        self._interrupted = False
        # frames waiting behind an after_live_query_event hook of this client (None: none, the usual case)
        self._later: deque[bytes | Produce] | None = None
        self._later_task: asyncio.Task[None] | None = None
        # resumes (livequery/resume.py): the position the client proved it read up to
        self.acked = 0
        self.connection = Connection(check_keys=hub.check_keys, resolve_session=hub.resolve_session,
                                     prepare=hub.prepare_query, owner=self, authorize=hub.authorize,
                                     hooks=hub.hooks, max_subscriptions=hub.max_subscriptions)

    @property
    def client_id(self) -> str | None:
        return self.connection.client_id

    async def receive(self, data: str | bytes) -> None:
        """Handle one frame from the client (replies go to the outbox). Never raises."""
        if self.closed:
            return
        actions = await self.connection.receive(data)
        if self.closed:  # closed while the session resolved: do not resurrect subscriptions
            return
        hub = self._hub
        index, resumes = hub.index, hub.resumes
        joined: Joined | None = None
        for action in actions:
            if self.closed:  # a reply overflowed the outbox
                return
            if isinstance(action, Send):
                if joined is None:
                    self.offer(action.frame)
                    continue
                self.offer(resumes.subscribed_frame(action.frame, joined))  # type: ignore[union-attr]
                for frame in joined.frames:  # what it missed, before anything dispatched from now on
                    self.offer(frame)
                joined = None
            elif isinstance(action, Add):
                subscription = action.subscription
                shared: list[Departure] = []
                if resumes is not None and resumes.shared is not None and self.connection.installation_id:
                    # before the add: events dispatched during the look-up are in the history, and replayed
                    shared = await resumes.look_up(self, subscription, action.resume_from)
                    if self.closed:
                        resumes.give_back(self, subscription, shared)
                        return
                hub.release_held(subscription.query.class_name)  # held from before it subscribed
                index.add(subscription)
                if resumes is not None:
                    joined = resumes.join(hub, self, subscription, action.resume_from, shared)
            elif isinstance(action, Remove):
                index.remove(action.subscription)
                if resumes is not None:
                    resumes.unsubscribed(self, action.subscription)
            elif isinstance(action, Snapshot):
                start_snapshot(self._hub, self, action.subscription)

    def acknowledge(self, position: int) -> None:
        """The client answered a ping sent when everything up to `position` had been written to it."""
        if position > self.acked:
            self.acked = position

    def unacknowledged(self) -> int | None:
        """The position to have the client acknowledge with a ping now: the hub's, when every frame of the
        events up to it has been written to the socket and it is newer than the last acknowledged; else None.
        Also None for a client without an installationId: only subscriptions known by (installationId,
        requestId) are resumed from what was acknowledged (`resumeFrom` carries its own position), so a ping
        would cost it and the server a round trip for nothing."""
        position = self._hub.delivered_position()
        if (position <= self.acked or self.closed or self._sending or self._later is not None
                or self.backlog() or not self.connection.subscriptions or self.connection.installation_id is None):
            return None
        return position

    def offer(self, frame: bytes) -> None:
        """Queue a frame without waiting; a full outbox, or more bytes held for this client than its budget,
        closes it (4008), dropping its backlog. A single frame larger than the budget still goes to an idle
        client."""
        if self.closed:
            return
        if self._later is not None:  # behind a hook's frame: keep this client's order
            self._later.append(frame)
            return
        held = self._queued_bytes + (self._buffered() if self._buffered is not None else 0)
        if held and held + len(frame) > self._budget:
            self._too_slow(f"{held} bytes undelivered")
            return
        if self._write is not None:
            pending = self._pending
            if pending:
                pending.append(frame)  # type: ignore[union-attr]
            else:
                self._hub._flush_later(self)
                self._pending = [frame]
            self._queued_bytes += len(frame)
            return
        outbox = self.outbox
        assert outbox is not None
        try:
            outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self._too_slow(f"{outbox.qsize()} frames queued")
            return
        self._queued_bytes += len(frame)

    def flush(self) -> None:
        """Write the frames offered since the last flush to the socket, in one write (direct writing only)."""
        frames = self._pending
        if not frames or self.closed:
            return
        self._pending = ()
        self._queued_bytes = 0
        try:
            written = self._write(frames)  # type: ignore[misc]
        except Exception as exc:
            log.debug("live query client %s: write failed: %r", self.client_id, exc)
            written = False
        if not written:
            self._hub.frames_dropped += len(frames)
            self.close(1011, "send failed")

    def _too_slow(self, backlog: str) -> None:
        log.warning("live query client %s is too slow (%s): closing it", self.client_id, backlog)
        self._hub.slow_clients += 1
        self.close(TOO_SLOW, "too slow", farewell=error_frame(
            LiveQueryErrorCode.INVALID_MESSAGE, "Client is too slow: too many events queued", reconnect=True))

    def offer_later(self, produce: Produce) -> None:
        """Queue a frame an after_live_query_event hook must produce first (None: nothing to send). The hooks
        run in this client's own task, so a slow hook delays this client's frames only, and in order."""
        if self.closed:
            return
        if self._later is None:
            self._later = deque()
            self._later_task = asyncio.get_running_loop().create_task(self._run_later())
        elif len(self._later) >= self._outbox_size:
            self._too_slow(f"{len(self._later)} frames waiting behind a hook")
            return
        self._later.append(produce)

    async def _run_later(self) -> None:
        later = self._later
        while later:  # offer()/offer_later() append to it meanwhile
            item = later[0]
            frame = item if isinstance(item, bytes) else await item()
            if self._later is not later:  # closed meanwhile
                return
            later.popleft()
            if frame is not None:
                self._later = None  # this one goes to the outbox now
                self.offer(frame)
                if self.closed:
                    return
                self._later = later
        self._later = None

    def close(self, code: int = 1000, reason: str = "", *, farewell: bytes | None = None) -> None:
        """Stop delivering, free every subscription, and end `pump` with this Close. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._hub.frames_dropped += self.backlog()
        self._pending = ()
        self._later = None
        if self._later_task is not None and self._later_task is not asyncio.current_task():
            self._later_task.cancel()
        self._queued_bytes = 0
        outbox = self.outbox
        if outbox is None:
            self._closing = Close(code, reason, farewell)
            interrupt = True  # `serve` is waiting for the client's next frame: stop waiting
        else:
            while not outbox.empty():  # what is still queued is dropped: the socket is going
                outbox.get_nowait()
            outbox.put_nowait(Close(code, reason, farewell))
            interrupt = self._sending  # a send stuck on a peer that does not read: abandon it
        if interrupt and self._pump is not None and self._pump is not asyncio.current_task():
            self._interrupted = True
            self._pump.cancel()
        self._hub._release(self)

    def backlog(self) -> int:
        """Frames offered to this client and not yet handed to its socket."""
        return len(self._pending) if self.outbox is None else self.outbox.qsize()

    async def pump(self, *, farewell_timeout: float = 1.0) -> Close:
        """Write the outbox to the socket until the client is closed; returns how to close the socket.

        `close` interrupts a send that is stuck on a peer which stopped reading."""
        outbox = self.outbox
        if outbox is None:
            raise RuntimeError("a directly written client has no outbox to pump: use serve()")
        self._pump = task = asyncio.current_task()
        try:
            while True:
                item = await outbox.get()
                if isinstance(item, Close):
                    if item.farewell is not None and not self._interrupted:
                        try:
                            await asyncio.wait_for(self._send(item.farewell), farewell_timeout)
                        except Exception as exc:  # the socket is stuck or gone: closing is all that is left
                            log.debug("live query client %s: farewell not sent: %r", self.client_id, exc)
                    return item
                self._queued_bytes -= len(item)
                self._sending = True
                try:
                    await self._send(item)
                except asyncio.CancelledError:
                    if not self._interrupted:
                        raise
                    if task is not None:
                        task.uncancel()  # our own interruption: the Close is next in the outbox
                except Exception as exc:
                    log.debug("live query client %s: send failed: %r", self.client_id, exc)
                    self.close(1011, "send failed")
                finally:
                    self._sending = False
        finally:
            self._pump = None

    def serve(self, messages: AsyncIterable[str | bytes]) -> Awaitable[Close]:
        """Run the connection: read `messages` (the socket's text frames; it ends when the client goes) and
        write the outbox, until either ends. Returns how to close the socket. (Not a coroutine itself: it hands
        over the one that serves, one suspended frame fewer for each of many idle sockets.)"""
        if self.outbox is None:
            return self._serve_direct(messages)
        return self._serve_pumped(messages)

    async def _serve_pumped(self, messages: AsyncIterable[str | bytes]) -> Close:
        """`serve` for a client written through its outbox by `pump`, while another task reads."""

        async def read() -> None:
            try:
                async for data in messages:
                    await self.receive(data)
                    if self.closed:
                        return
            except Exception:
                log.exception("live query client %s: reading failed", self.client_id)
            self.close()

        try:
            async with asyncio.TaskGroup() as tasks:
                reader = tasks.create_task(read())
                result = await self.pump()
                reader.cancel()
        finally:
            self.close()
        return result

    async def _serve_direct(self, messages: AsyncIterable[str | bytes]) -> Close:
        """`serve` for a directly written client: frames go out from Hub._flush, so this task only reads, and
        `close` cancels the wait for the next frame."""
        self._pump = task = asyncio.current_task()
        try:
            async for data in messages:
                await self.receive(data)
                if self.closed:
                    break
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            if task is not None:
                task.uncancel()  # our own interruption: closed elsewhere (too slow, write failed, shut down)
        except Exception:
            log.exception("live query client %s: reading failed", self.client_id)
        finally:
            self._pump = None
        self.close()
        closing = self._closing
        assert closing is not None
        if closing.farewell is not None and self._write is not None:
            try:
                self._write([closing.farewell])
            except Exception as exc:  # the socket is gone: closing is all that is left
                log.debug("live query client %s: farewell not sent: %r", self.client_id, exc)
        return closing


class Hub:
    """Connected clients, their subscriptions, and the fan-out of change events to them.

    Delivery is at most once and in bus order per client. One failing subscriber or event is logged and never
    stops the fan-out to the others.
    """

    def __init__(self, *, check_keys: KeyCheck, resolve_session: SessionResolver,
                 live_classes: AbstractSet[str] | None = None, can_see: CanSee | None = None,
                 visible_fields: VisibleFields | None = None, audience: Audience | None = None,
                 outbox_size: int = 1024, index: SubscriptionIndex | None = None,
                 authorize: SubscribeCheck | None = None, hooks: LiveHooks | None = None,
                 budget_bytes: int = DEFAULT_BUDGET_BYTES,
                 max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS,
                 coalesce_ms: Mapping[str, float] | None = None, history: History | None = None,
                 resumes: Resumes | None = None, reads: LiveReads | None = None) -> None:
        """`live_classes`: the classes whose events are delivered (None: all). `can_see`/`visible_fields`:
        auth's CLP and protectedFields hooks (default: ACL only; internal fields, credentials and other users'
        authData are always stripped, before `visible_fields` sees the object). Without `audience`, a custom
        `visible_fields` is called per subscriber and objects are shared per visible key set. `authorize`:
        auth's check of a subscription before it is accepted (class permissions, protected `where`/`watch`).
        `hooks`: cloud code's LiveQuery hooks. `budget_bytes`: the undelivered bytes one client may hold;
        `max_subscriptions`: the subscriptions one socket may hold. `coalesce_ms`: the classes whose updates are
        coalesced (livequery/coalesce.py), with their window in milliseconds. `history`: the bus's, from which
        `resumes` (livequery/resume.py; default: with its defaults) replays what reconnecting clients missed.
        `reads`: the REST read path, for snapshots and `include` (without it, snapshots are refused and pointers
        stay pointers)."""
        self.check_keys = check_keys
        self.authorize = authorize
        self.resolve_session = resolve_session
        self.hooks = hooks  # cloud code's LiveQuery hooks; classes without one pay a dict look-up per event
        self.live_classes = live_classes
        self.reads = reads
        self.index = index if index is not None else SubscriptionIndex()
        # one bound method for every connection (`self.index.prepare` makes a new one at each look-up, and each
        # connection kept its own: an object per socket that full garbage collections walk)
        self.prepare_query = self.index.prepare
        self._can_see = can_see
        self._visible_fields: VisibleFields = strip_hidden
        self._audience: Audience | None = _everyone
        if visible_fields is not None:  # applied after strip_hidden: internal fields never depend on a hook
            self._visible_fields = _after_strip(visible_fields)
            self._audience = audience
        self._outbox_size = outbox_size
        self._budget_bytes = budget_bytes
        self.max_subscriptions = max_subscriptions
        self._clients: set[ClientHandle] = set()
        self._unflushed: list[ClientHandle] = []  # direct-writing clients with frames offered this iteration
        self._dispatching = False
        self._release_later: list[ClientHandle] = []
        self.events_seen = 0
        self.frames_sent = 0
        self.slow_clients = 0
        self.frames_dropped = 0  # queued for a client that was closed before they were written
        self.observer: FanoutObserver | None = None
        self.coalesce_stats = CoalesceStats()
        self._coalescers = {name: Coalescer(ms / 1000, self.coalesce_stats, fan_out=self._fan_out,
                                            release=self._release_held, plain=self._plain_update)
                            for name, ms in (coalesce_ms or {}).items()}
        self.position = 0  # of the last event dispatched (or held by a coalescer)
        self.history = history
        self.resumes = resumes if resumes is not None or history is None else Resumes(history)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def outbox_depths(self) -> list[int]:
        """Frames waiting in each open client's outbox (for metrics; O(clients))."""
        return [client.backlog() for client in self._clients if not client.closed]

    def visible(self, principal: Principal, class_name: str, doc: Document) -> Document:
        """What `principal` may see of `doc`: the field filter every event object goes through."""
        return self._visible_fields(principal, class_name, doc)

    def read_check(self, class_name: str) -> Callable[[Subscription, Document], bool]:
        """Whether a subscriber may read a `class_name` object (its ACL, then the CLP check), as the fan-out
        decides for events."""
        check = _Fanout(self, class_name, {}, None, "update")
        return lambda subscription, doc: check.can_read(subscription, doc, _restricted_to(doc))

    def connect(self, send: SendBytes, buffered: Buffered | None = None,
                write: WriteFrames | None = None) -> ClientHandle:
        """A new websocket. `send` writes one text frame (UTF-8 JSON bytes) to it; `buffered` tells how many bytes
        its transport still holds (None: only the outbox is counted); `write`, when the endpoint can write frames to
        the socket directly, is used for every frame but the farewell."""
        client = ClientHandle(self, send, self._outbox_size, buffered, self._budget_bytes, write)
        self._clients.add(client)
        return client

    def _flush_later(self, client: ClientHandle) -> None:
        """`client` has its first frame of this loop iteration: write it (and what follows) when the iteration ends."""
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unflushed.append(client)

    def _flush(self) -> None:
        clients, self._unflushed = self._unflushed, []
        for client in clients:
            client.flush()

    async def run(self, bus: Bus, *, first: EventHook | None = None) -> None:
        """Consume the bus until cancelled. `first` sees each event before it is delivered (auth's upkeep after
        another process's log-out or role change), so deliveries follow such a change from the next event on."""
        hooks = self.hooks
        loop = asyncio.get_running_loop()
        yield_at = time.perf_counter()  # not loop.time(): uvloop's stands still until the loop turns
        async with bus.subscribe() as events:
            async for event in events:
                observer = self.observer
                if observer is not None:
                    observer.received(event)
                if first is not None:
                    try:
                        await first(event)
                    except Exception:  # one bad event must not end the fan-out
                        log.exception("live query: handling a %s %s event first failed", event.class_name, event.kind)
                if hooks is not None and not event.notice and hooks.has("after_live_query_write", event.class_name):
                    hooked = await hooks.after_write(event)  # once per write, before any subscriber
                    if hooked is None:
                        continue
                    event = hooked
                delivered = self.dispatch(event)
                if delivered and observer is not None:
                    # runs after the writers this event woke (call_soon is FIFO): its frames are written by then,
                    # except to a client that still had a backlog (the outbox gauges show those)
                    loop.call_soon(observer.written, event)
                if time.perf_counter() >= yield_at:
                    # let writers and readers run between slices, even under a backlog; a backlog is dispatched a
                    # slice at a time, so each client's frames of it go out in one write
                    await asyncio.sleep(0)
                    yield_at = time.perf_counter() + DISPATCH_SLICE_SECONDS

    async def refresh_sessions(self, user_id: str | None = None) -> None:
        """Resolve subscribers' sessions again (after a logout or a role change), for all or for one user."""
        for client in list(self._clients):
            if not client.closed:
                await client.connection.refresh(user_id)

    def dispatch(self, event: ChangeEvent) -> int:
        """Deliver one change event to every client it concerns (a coalesced class's update may be held for its
        window instead: livequery/coalesce.py); returns the number of frames queued now."""
        self.events_seen += 1
        if event.position:
            self.position = event.position
        if event.notice or (self.live_classes is not None and event.class_name not in self.live_classes):
            return 0  # a notice is for the auth caches, never an object for subscribers
        if self._coalescers:
            coalescer = self._coalescers.get(event.class_name)
            if coalescer is not None:
                return coalescer.admit(event)
        return self._fan_out(event)

    def delivered_position(self) -> int:
        """The position up to which every event was fanned out: the hub's, unless a coalescer still holds an
        update from before it (a client acknowledging more would be resumed past that update)."""
        position = self.position
        for coalescer in self._coalescers.values():
            held = coalescer.oldest_held()
            if held is not None and held <= position:
                position = held - 1
        return position

    def release_held(self, class_name: str) -> None:
        """Send the updates a coalescer holds for `class_name` now (before a subscription to it is added)."""
        coalescer = self._coalescers.get(class_name) if self._coalescers else None
        if coalescer is not None:
            coalescer.release_all()

    def _release_held(self, event: ChangeEvent) -> None:
        delivered = self._fan_out(event)
        observer = self.observer
        if delivered and observer is not None:
            asyncio.get_running_loop().call_soon(observer.written, event)

    def _plain_update(self, event: ChangeEvent) -> bool:
        """Whether an update may be merged with the next: it changes only plain values (not an ACL, pointer,
        array or object: what visibility is decided by) and no subscribed query matches one state but not the
        other. Costs a field comparison and one match per candidate query, once per event."""
        current, original = event.object, event.original
        if original is None:
            return False
        if len(original) > len(current) or not original.keys() <= current.keys():
            if not all(_plain_value(value) for name, value in original.items() if name not in current):
                return False  # a field that was removed: the same rule as for a changed one
        for name, value in current.items():
            before = original.get(name, _ABSENT)
            if before is value or (before == value and before.__class__ is value.__class__):
                continue
            if not (_plain_value(value) and _plain_value(before)):
                return False
        for query in self.index.candidates(event.class_name, current, original):
            if query.matches(current) != query.matches(original):
                return False
        return True

    def _fan_out(self, event: ChangeEvent) -> int:
        """Deliver `event` to every subscription it concerns now; returns the number of frames queued."""
        try:
            current = event.object
            original = None if event.kind == "delete" else event.original
            queries = self.index.candidates(event.class_name, current, original)
            if not queries:
                return 0
            fanout = _Fanout(self, event.class_name, current, original, event.kind)
        except Exception:
            log.exception("live query: cannot dispatch %s %s event", event.class_name, event.kind)
            return 0
        self._dispatching = True
        try:
            for query in queries:
                try:
                    now = query.matches(current)
                    before = original is not None and query.matches(original)
                except Exception:
                    log.exception("live query: matching %r failed", query)
                    continue
                if not (now or before):
                    continue
                for subscription in query.subscribers:
                    try:
                        fanout.deliver(subscription, before, now)
                    except Exception:
                        log.exception("live query: delivering to %r failed", subscription)
        finally:
            self._dispatching = False
            pending, self._release_later = self._release_later, []
            for client in pending:
                self._release(client)
        self.frames_sent += fanout.delivered
        return fanout.delivered

    def _release(self, client: ClientHandle) -> None:
        if self._dispatching:  # the fan-out is iterating the index: free the client right after this event
            self._release_later.append(client)
            return
        self._clients.discard(client)
        if self.resumes is not None:
            self.resumes.leave(client, self.position)
        for action in client.connection.close():
            if isinstance(action, Remove):
                self.index.remove(action.subscription)


    def can_read(self, principal: Principal, class_name: str, doc: Document) -> bool:
        """Whether `principal` may read `doc` now: its ACL, then CLP (the master key always may)."""
        if principal.is_master or principal.is_read_only_master:
            return True
        readers = _restricted_to(doc)
        if readers is not None and frozenset(principal.acl_keys()).isdisjoint(readers):
            return False
        return self._can_see is None or self._can_see(principal, class_name, doc)

    def object_bytes(self, subscription: Subscription, doc: Document) -> bytes:
        """`doc` as `subscription`'s client may see it, encoded (not shared: for replays)."""
        class_name = subscription.query.class_name
        visible = self._visible_fields(subscription.principal, class_name, doc)
        return object_json(class_name, select_keys(visible, subscription.keys))

    def history_token(self, position: int) -> bytes:
        """A position as its client-side token (JSON string)."""
        return msgspec.json.encode(self.history.token(position) if self.history is not None else str(position))


_Plan = tuple[LiveEventKind, Document, "Document | None", bytes, bytes]
_NOTHING: _Plan = ("create", {}, None, b"", b"")  # this audience gets nothing from this event


class _Fanout:
    """One event on its way out: per-event facts and the encoded objects, shared by its subscribers."""

    __slots__ = (
        "class_name",
        "current",
        "delivered",
        "denied_before",
        "denied_now",
        "fetches",
        "hooked",
        "hub",
        "is_delete",
        "is_new",
        "objects_before",
        "objects_now",
        "original",
        "plans",
    )

    def __init__(self, hub: Hub, class_name: str, current: Document, original: Document | None,
                 kind: str) -> None:
        self.hub = hub
        self.class_name = class_name
        self.current = current
        self.original = original
        self.is_new = kind == "create"
        self.is_delete = kind == "delete"
        self.denied_now = _restricted_to(current)
        self.denied_before = _restricted_to(original) if original is not None else None
        self.objects_now: dict[Hashable, bytes] = {}
        self.objects_before: dict[Hashable, bytes] = {}
        self.plans: dict[tuple[Any, ...], _Plan] = {}
        self.delivered = 0
        self.fetches: dict[Hashable, SharedFetch] | None = None  # `include` reads, made once per kind of reader
        hooks = hub.hooks
        self.hooked = hooks is not None and hooks.has("after_live_query_event", class_name)

    def deliver(self, subscription: Subscription, matched_before: bool, matches_now: bool) -> None:
        owner = subscription.owner
        if owner is None or owner.closed:
            return
        # What a subscriber gets depends only on who they are, their `keys`/`watch` and how the query matched: it
        # is worked out once per event for each such audience, and a subscriber costs a look-up and a join. An
        # id() key is safe: every principal is held by a subscription for the whole (synchronous) dispatch.
        key = (id(subscription.principal), subscription.keys, subscription.watch, matched_before, matches_now)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = self.plan(subscription, matched_before, matches_now)
        if plan is _NOTHING:
            return
        kind, shown, original, head, tail = plan
        if self.hooked or subscription.include is not None:  # made in the client's own task, after hook/fetch
            owner.offer_later(self.later_frame(subscription, kind, shown, original))  # type: ignore[attr-defined]
            self.delivered += 1
            return
        frame = b"".join((head, subscription.ident, tail))
        if subscription.positions:  # the `resumeFrom` extension: a position it may resume from
            frame = with_position(frame, self.hub.history_token(self.hub.delivered_position()))
        owner.offer(frame)
        self.delivered += 1

    def plan(self, subscription: Subscription, matched_before: bool, matches_now: bool) -> _Plan:
        """The event kind, the states shown and the frame's shared parts for subscribers like this one."""
        if matches_now:
            matches_now = self.can_read(subscription, self.current, self.denied_now)
        if matched_before:
            matched_before = self.can_read(subscription, self.original, self.denied_before)  # type: ignore[arg-type]
        kind = classify(matched_before, matches_now, self.is_new, self.is_delete)
        if kind is None:
            return _NOTHING
        if subscription.watch is not None and not passes_watch(kind, subscription.watch, self.current,
                                                               self.original):
            return _NOTHING
        shown, original = self.current, self.original if kind in WITH_ORIGINAL else None
        if original is not None:
            if kind == "enter" and not self.can_read(subscription, original, self.denied_before):
                original = None  # it entered because they may now read it: the state before was not theirs to see
            elif kind == "leave" and not self.can_read(subscription, shown, self.denied_now):
                shown = original  # it left because they may no longer read it: the last state they could see
        if self.hooked:  # the frame is made per subscriber, after their hook
            return kind, shown, original, b"", b""
        object_bytes = self.encoded(subscription, shown,
                                    self.objects_now if shown is self.current else self.objects_before)
        original_bytes = None if original is None else self.encoded(subscription, original, self.objects_before)
        head, tail = event_parts(kind, object_bytes, original_bytes)
        return kind, shown, original, head, tail

    def later_frame(self, subscription: Subscription, kind: LiveEventKind, shown: Document,
                    before: Document | None) -> Produce:
        """The frame of this event for one subscriber, made in that client's own task: after its
        after_live_query_event hook ran on its own copy of what that subscriber may see, and/or with the objects its
        `include` names (`shown`/`before`: the states `deliver` chose for them)."""
        hub, class_name, principal, hooked = self.hub, self.class_name, subscription.principal, self.hooked
        current: Document = hub._visible_fields(principal, class_name, shown)
        original = None if before is None else hub._visible_fields(principal, class_name, before)
        who: Who | None = None
        if hooked:  # the hook may change what it is given: its own copies
            current = copy.deepcopy(dict(current))
            original = None if original is None else copy.deepcopy(dict(original))
            installation_id = getattr(getattr(subscription.owner, "connection", None), "installation_id", None)
            who = Who(principal, subscription.session_token, installation_id, subscription.request_id)
        parts: EventParts = (kind, current, original)  # type: ignore[assignment]
        fetch = self.shared_fetch(subscription)

        async def produce() -> bytes | None:
            event, obj, before = parts
            hooks = hub.hooks
            if hooked and who is not None:
                if hooks is None:
                    return None
                try:
                    sent = await hooks.after_event(class_name, parts, who)
                except ParseError as error:  # as Parse: an error frame to this subscriber instead of the event
                    return error_frame(error.code, error.message, reconnect=False,
                                       request_id=subscription.request_id)
                except Exception:
                    log.exception("live query: after_live_query_event for %r failed", subscription)
                    return None
                if sent is None:
                    return None
                event, obj, before = sent
            keys = subscription.keys
            obj = select_keys(obj, keys)
            before = select_keys(before, keys) if before is not None and event in WITH_ORIGINAL else None
            include = subscription.include
            if fetch is not None and include is not None:
                fetched = await fetch.get()
                if fetched:
                    def present(name: str, doc: Document) -> Document:
                        return hub._visible_fields(principal, name, doc)

                    obj = expand(obj, include.tree, fetched, present)
                    before = None if before is None else expand(before, include.tree, fetched, present)
            object_bytes = object_json(class_name, obj)
            if before is not None:
                return event_frame(event, subscription.ident, object_bytes, object_json(class_name, before))
            return event_frame(event, subscription.ident, object_bytes)

        return produce

    def shared_fetch(self, subscription: Subscription) -> SharedFetch | None:
        """This event's read of the objects `subscription` includes, shared with every subscriber that includes the
        same paths and reads with the same ACL keys."""
        include, reads = subscription.include, self.hub.reads
        if include is None or reads is None:
            return None
        principal = subscription.principal
        key = (include.paths, subscription.acl, principal.is_master, principal.is_read_only_master)
        if self.fetches is None:
            self.fetches = {}
        shared = self.fetches.get(key)
        if shared is None:
            documents, class_name = (self.current, self.original), self.class_name
            shared = self.fetches[key] = SharedFetch(
                lambda: fetch_pointed(reads, principal, class_name, include.tree, documents))
        return shared

    def can_read(self, subscription: Subscription, doc: Document, readers: list[Any] | None) -> bool:
        principal = subscription.principal
        if principal.is_master or principal.is_read_only_master:
            return True
        if readers is not None and subscription.acl.isdisjoint(readers):
            return False
        can_see = self.hub._can_see
        return can_see is None or can_see(principal, self.class_name, doc)

    def encoded(self, subscription: Subscription, doc: Document, cache: dict[Hashable, bytes]) -> bytes:
        hub, principal, keys = self.hub, subscription.principal, subscription.keys
        if hub._audience is not None:
            key: Hashable = (hub._audience(principal, self.class_name, doc), keys)
            data = cache.get(key)
            if data is None:
                visible = hub._visible_fields(principal, self.class_name, doc)
                data = cache[key] = object_json(self.class_name, select_keys(visible, keys))
            return data
        visible = hub._visible_fields(principal, self.class_name, doc)
        key = (tuple(visible), keys)
        data = cache.get(key)
        if data is None:
            data = cache[key] = object_json(self.class_name, select_keys(visible, keys))
        return data


_ABSENT = object()
_PLAIN_TYPES = (str, int, float, bool, type(None))


def _plain_value(value: Any) -> bool:
    """A value visibility cannot depend on: a string, number, boolean, null or date (absent counts as null)."""
    if value is _ABSENT or value.__class__ in _PLAIN_TYPES:
        return True
    return value.__class__ is dict and value.get("__type") == "Date"


def _restricted_to(doc: Document) -> list[Any] | None:
    """Who may read `doc` by its ACL: None when everyone may (no `_rperm`, or public read)."""
    readers = doc.get("_rperm")
    if readers is None:
        return None
    if readers.__class__ is not list:
        return []  # unreadable ACL data: master only
    return None if "*" in readers else readers  # type: ignore[no-any-return]


def _after_strip(visible_fields: VisibleFields) -> VisibleFields:
    def visible(principal: Principal, class_name: str, doc: Document) -> Document:
        return visible_fields(principal, class_name, strip_hidden(principal, class_name, doc))

    return visible


def _everyone(principal: Principal, class_name: str, doc: Document) -> Hashable:
    return 0  # strip_hidden shows every subscriber the same fields
