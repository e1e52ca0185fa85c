"""Resuming LiveQuery subscriptions: a client that comes back gets what it missed, then live events, no gap.

A subscription is known by (installationId, requestId), what the unchanged Parse SDKs send again when they
reconnect. When one goes (its socket closed), `Resumes` remembers from which position it may have missed events:
the last one its client acknowledged (a websocket ping answered after event N proves the client read everything
up to N; see `acknowledge`), or the position it subscribed at. A later `subscribe` with the same installationId,
requestId, query and user within `keep_seconds` is a resume; so is one whose requestId is still held by another
socket (a half-open socket the server has not yet noticed is gone). The extension `resumeFrom: "<token>"` asks
for a resume from a position explicitly (any socket, any process of the app).

With Redis, subscriptions are shared by every process of the app (`SharedDepartures`, the bus's): a client
that reconnects to another process (no sticky sessions, a rolling deploy) is resumed there too. Each subscription
with an installationId has a record there from the moment it joins, renewed every `SHARE_SECONDS` while its
socket is open and rewritten when it goes, so even the clients of a process that died without closing them are
resumed (from up to `SHARE_SECONDS` back: a few changes may come again) or told 4100, never taken as new. A
record carries the principal the subscription had (roles included, never the session token), so what the client
could see before is judged as on the process that served it.

A resume replays the class's history after that position (livequery/history.py) for the new subscription,
checked against the subscriber's ACL, roles and CLP as of now, coalesced per object: one frame per object that
changed, its latest state, as the kind that takes the client from what it last knew to now (a create then
updates is one `create`; a leave or delete is never lost). When the history cannot cover it (past the window,
history lost in a Redis restart, another epoch), the client gets an `error` frame with code `HISTORY_LOST` and
`reconnect: false` for that requestId instead, and the subscription goes on live: the app should query again.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from auth.principal import Principal
from livequery.bus import ChangeEvent, Departure, SharedDepartures, earliest, match_of
from livequery.events import WITH_ORIGINAL, LiveEventKind, passes_watch
from livequery.history import History, parse_token
from livequery.protocol import LiveQueryErrorCode, error_frame, event_frame
from livequery.subscriptions import Subscription

if TYPE_CHECKING:
    from livequery.hub import ClientHandle, Hub

log = logging.getLogger(__name__)

Document = Mapping[str, Any]
Key = tuple[str, int]

DEFAULT_KEEP_SECONDS = 1200.0
DEFAULT_MAX_DEPARTED = 100_000
SHARE_SECONDS = 30.0  # how old the shared record of an open subscription may be when its process dies
ANY_SEEN = 2**63 - 1  # `seen_upto` of an open subscription's record: it may have seen any event
_SUBSCRIBED = b'{"op":"subscribed"'


class Departed(msgspec.Struct, frozen=True):
    """A subscription whose socket went: enough to recognise and resume it."""

    query_key: bytes
    user_id: str | None
    principal: Principal
    position: int
    seen_upto: int  # events after this were dispatched after the socket went: never seen
    at: float


class Joined(msgspec.Struct, frozen=True):
    """What a new subscription gets: the token its `subscribed` frame carries and the frames that follow it."""

    token: bytes | None  # None: the client did not ask for positions
    frames: list[bytes]


class Resumes:
    """The live and recently departed subscriptions by (installationId, requestId), and their replays."""

    def __init__(self, history: History, *, keep_seconds: float = DEFAULT_KEEP_SECONDS,
                 max_departed: int = DEFAULT_MAX_DEPARTED, clock: Callable[[], float] = time.monotonic,
                 shared: SharedDepartures | None = None) -> None:
        """`keep_seconds`/`max_departed`: how long and how many departed subscriptions are remembered (longer
        than the history's window, so that a client back too late is told so rather than taken as new).
        `shared`: where the other processes of the app find them (None: this process only)."""
        self.history = history
        self.shared = shared
        self._token = secrets.token_hex(6)
        self.keep_seconds = keep_seconds
        self.max_departed = max_departed
        self._clock = clock
        self._live: dict[Key, list[Subscription]] = {}
        self._departed: OrderedDict[Key, Departed] = OrderedDict()
        self.replayed = 0  # frames sent by resumes
        self.resets = 0  # resumes the history could not cover

    async def look_up(self, client: ClientHandle, subscription: Subscription,
                      resume_from: Any) -> list[Departure]:
        """The shared records of a subscription about to join, if it is an implicit resume (consumed: they
        resume one subscription). Called before the subscription is added to the index: events dispatched meanwhile
        are in the history, and replayed from the record's position. Taken even when this process has a record
        of its own: the earliest of them wins, and a record left in Redis would resume someone later."""
        key = _key(client, subscription)
        if self.shared is None or key is None or isinstance(resume_from, str):
            return []
        return await self.shared.take(key[0], key[1], match_of(subscription.query.key, subscription.principal.user_id))

    def give_back(self, client: ClientHandle, subscription: Subscription, shared: list[Departure]) -> None:
        """Records were looked up for a subscription whose socket went before it joined: keep them for the next."""
        key = _key(client, subscription)
        if self.shared is not None and key is not None:
            for departure in shared:
                self.shared.keep(key[0], key[1], departure, self.keep_seconds)

    def join(self, hub: Hub, client: ClientHandle, subscription: Subscription, resume_from: Any,
             shared: list[Departure] | None = None) -> Joined:
        """A subscription was just added to the index (so it gets every event dispatched from now on): what to
        send it before those. `resume_from`: the `resumeFrom` field (msgspec.UNSET when absent); `shared`: its
        record from `look_up`."""
        history = self.history
        position = max(hub.position, history.start)  # a process that read nothing yet starts where its bus did
        subscription.since = position
        subscription.positions = resume_from is not msgspec.UNSET
        token = msgspec.json.encode(history.token(position)) if subscription.positions else None
        key = _key(client, subscription)
        start: int | None = None
        before = subscription.principal
        seen_upto = position
        if isinstance(resume_from, str):
            parsed = parse_token(resume_from)
            start = seen_upto = parsed[1] if parsed is not None and parsed[0] == history.epoch else -1
        elif key is not None:
            found = self._previous(key, subscription, position, shared or [])
            if found is not None:
                start, before, seen_upto = found
        if key is not None:
            self._live.setdefault(key, []).append(subscription)
            self._forget_live(key)  # prune the closed ones
            if self.shared is not None:  # from now on, a crash of this process leaves this record behind
                self._share(key, subscription, position if start is None else min(max(start, 0), position))
        if start is None:
            return Joined(token, [])
        class_name = subscription.query.class_name
        events = history.since(class_name, start, position) if 0 <= start <= position else None
        if events is None or (events and hub.hooks is not None
                              and hub.hooks.has("after_live_query_event", class_name)):
            self.resets += 1  # an after_live_query_event hook decides what each frame is: never bypassed
            return Joined(token, [_lost_frame(subscription.request_id)])
        frames = replay(hub, subscription, before, events, seen_upto)
        self.replayed += len(frames)
        if frames:  # until the client acknowledges them, a resume must replay these again
            subscription.since = max(start, 0)
        return Joined(token, frames)

    def leave(self, client: ClientHandle, hub_position: int) -> None:
        """The client's socket went: remember where each of its subscriptions may have missed events. Several
        sockets may share a key (browser tabs share an installationId and count requestIds alike): one departed
        record per key keeps the earliest position, so no client of that key is resumed past what it read."""
        now = self._clock()
        for subscription in client.connection.subscriptions.values():
            key = _key(client, subscription)
            if key is None or subscription not in subscription.query.subscribers:
                continue  # no installationId, or its socket went while it was being looked up: never joined
            self._forget_live(key, subscription)
            point, seen_upto, earlier = resume_point(subscription), hub_position, self._departed.pop(key, None)
            if (earlier is not None and earlier.at >= now - self.keep_seconds
                    and earlier.query_key == subscription.query.key
                    and earlier.user_id == subscription.principal.user_id):
                point, seen_upto = min(point, earlier.position), max(seen_upto, earlier.seen_upto)
            if self.shared is not None:  # its own record (each socket of the key has one: the earliest wins)
                self._share(key, subscription, resume_point(subscription), hub_position)
            principal = subscription.principal
            self._departed[key] = Departed(subscription.query.key, principal.user_id, principal, point, seen_upto,
                                           now)
        departed, oldest = self._departed, now - self.keep_seconds
        while departed and (len(departed) > self.max_departed or next(iter(departed.values())).at < oldest):
            departed.popitem(last=False)

    def unsubscribed(self, client: ClientHandle, subscription: Subscription) -> None:
        """The client unsubscribed: nothing of it is to be resumed."""
        key = _key(client, subscription)
        if key is not None:
            self._forget_live(key, subscription)
            if self.shared is not None:
                self.shared.drop(key[0], key[1], self._owner(subscription))

    async def share_forever(self, seconds: float = SHARE_SECONDS, chunk: int = 500) -> None:
        """Every `seconds`, renew the shared record of every open subscription with where it is now: if this
        process dies without closing its sockets, its clients resume from there elsewhere. A few microseconds
        per subscription, `chunk` at a time between other work."""
        while True:
            await asyncio.sleep(seconds)
            for count, (key, held) in enumerate(list(self._live.items()), 1):
                for subscription in held:
                    if _is_open(subscription):
                        self._share(key, subscription, resume_point(subscription))
                if count % chunk == 0:
                    await asyncio.sleep(0)

    def _share(self, key: Key, subscription: Subscription, position: int, seen_upto: int = ANY_SEEN) -> None:
        """Tell every process where `subscription` may have missed events from (`seen_upto`: the default, for an
        open socket, says any event may have been seen: a removal is then never lost)."""
        principal = subscription.principal
        if principal.session_token is not None:  # never in Redis
            principal = msgspec.structs.replace(principal, session_token=None)
        departure = Departure(match_of(subscription.query.key, principal.user_id), self.history.epoch, position,
                              seen_upto, principal, self._owner(subscription))
        self.shared.keep(key[0], key[1], departure, self.keep_seconds)  # type: ignore[union-attr]

    def _owner(self, subscription: Subscription) -> str:
        # which subscription a shared record is of: this process's token and the object's id (an id reused
        # after the subscription is gone names a later subscription of this process, never another's)
        return f"{self._token}.{id(subscription)}"

    def subscribed_frame(self, frame: bytes, joined: Joined) -> bytes:
        """The `subscribed` frame with the position it starts from, for a client that asked (`resumeFrom`)."""
        if joined.token is None or not frame.startswith(_SUBSCRIBED) or not frame.endswith(b"}"):
            return frame
        return frame[:-1] + b',"position":' + joined.token + b"}"

    def _forget_live(self, key: Key, subscription: Subscription | None = None) -> None:
        held = self._live.get(key)
        if held is None:
            return
        held[:] = [other for other in held if other is not subscription and _is_open(other)]
        if not held:
            del self._live[key]

    def _previous(self, key: Key, subscription: Subscription, position: int,
                  shared: list[Departure]) -> tuple[int, Principal, int] | None:
        """Where the same client's earlier subscription left off, and who it was for, if it is a resume: the
        earliest of the departed records (this process's, and `shared`, the app's) and the subscriptions of the
        key still open (a socket the server has not yet noticed is gone looks like that, and so does another
        tab)."""
        query_key, user_id = subscription.query.key, subscription.principal.user_id
        held = [other for other in self._live.get(key, ()) if other is not subscription and _is_open(other)
                and other.query.key == query_key and other.principal.user_id == user_id]
        mine = {self._owner(other) for other in held} if shared else ()  # those are known better below
        record: Departure | None = None
        for departure in shared:
            if departure.owner not in mine:
                record = earliest(record, departure)
        departed = self._departed.pop(key, None)
        if (departed is not None and departed.at >= self._clock() - self.keep_seconds
                and departed.query_key == subscription.query.key
                and departed.user_id == subscription.principal.user_id):
            local = Departure("", self.history.epoch, departed.position, departed.seen_upto, departed.principal)
            record = earliest(local, record)
        found: tuple[int, Principal, int] | None = None
        if record is not None:
            # another epoch: the history it counts in is gone (-1: told so). A position this process has not
            # dispatched yet (it reads the stream behind the one that served the client): what follows is live.
            start = min(record.position, position) if record.epoch == self.history.epoch else -1
            found = start, record.before, record.seen_upto
        for other in held:
            point = resume_point(other)  # still open: it may have been shown anything up to now
            if found is None or point < found[0]:
                found = point, other.principal, position
            else:
                found = found[0], found[1], position
        return found


def resume_point(subscription: Subscription) -> int:
    """The position after which a subscription's client may have missed events."""
    owner = subscription.owner
    acked = getattr(owner, "acked", 0)
    return max(acked, subscription.since)


def replay(hub: Hub, subscription: Subscription, before: Principal, events: list[ChangeEvent],
           seen_upto: int) -> list[bytes]:
    """The frames that take `subscription`'s client from what it knew at the first event to now: one per object,
    in the order of each object's last change. `before`: who the client was when it last knew the objects.

    The client may have received the events up to `seen_upto` already (those after its last acknowledgement,
    written before its socket went): an object that left or was deleted is reported gone if the client may have
    seen any of its states, so a removal is never lost, at the price of a `leave`/`delete` of an object the
    client may not know."""
    changes: dict[Hashable, list[ChangeEvent]] = {}
    for event in events:
        object_id = event.object.get("objectId")
        if object_id is None or event.notice:
            continue
        group = changes.pop(object_id, None)  # re-inserted: ordered by each object's last change
        changes[object_id] = [event] if group is None else [*group, event]
    frames = []
    for group in changes.values():
        frame = _frame(hub, subscription, before, group, seen_upto)
        if frame is not None:
            frames.append(frame)
    return frames


def _frame(hub: Hub, subscription: Subscription, before: Principal, group: list[ChangeEvent],
           seen_upto: int) -> bytes | None:
    class_name, query, now = subscription.query.class_name, subscription.query, subscription.principal
    oldest, newest = group[0], group[-1]
    known = None if oldest.kind == "create" else (oldest.original if oldest.kind == "update" else oldest.object)
    was_known = known is not None and query.matches(known) and hub.can_read(before, class_name, known)
    last_seen = known if was_known else None  # the newest state the client may have been shown
    for event in group[:-1]:
        state = event.object
        if event.position > seen_upto:
            break
        if event.kind != "delete" and query.matches(state) and hub.can_read(before, class_name, state):
            last_seen = state
    current = newest.object
    visible_now = hub.can_read(now, class_name, current)
    matches_now = visible_now and query.matches(current)
    kind: LiveEventKind
    shown, original = current, known
    if newest.kind == "delete" or not matches_now:
        if last_seen is None:
            return None  # never theirs to know
        kind = "delete" if newest.kind == "delete" and matches_now else "leave"
        original = last_seen
        if not visible_now:
            shown = last_seen  # the last state they could see
    elif was_known:
        kind = "update"
    else:
        kind = "create" if oldest.kind == "create" else "enter"
        if known is not None and not hub.can_read(now, class_name, known):
            original = None  # the state before was not theirs to see
    if subscription.watch is not None and not passes_watch(kind, subscription.watch, current,
                                                           known if kind == "update" else None):
        return None
    object_bytes = hub.object_bytes(subscription, shown)
    if kind in WITH_ORIGINAL and original is not None:
        frame = event_frame(kind, subscription.ident, object_bytes, hub.object_bytes(subscription, original))
    else:
        frame = event_frame(kind, subscription.ident, object_bytes)
    if subscription.positions:
        frame = with_position(frame, hub.history_token(newest.position))
    return frame


def with_position(frame: bytes, token: bytes) -> bytes:
    """An event frame with its position (an extra field the SDKs ignore)."""
    return frame[:-1] + b',"position":' + token + b"}"


def _lost_frame(request_id: int) -> bytes:
    return error_frame(LiveQueryErrorCode.HISTORY_LOST,
                       "Events this subscription missed are no longer available: query again",
                       reconnect=False, request_id=request_id)


def _key(client: ClientHandle, subscription: Subscription) -> Key | None:
    installation_id = client.connection.installation_id
    return None if installation_id is None else (installation_id, subscription.request_id)


def _is_open(subscription: Subscription) -> bool:
    owner = subscription.owner
    if owner is None or owner.closed:
        return False
    held = getattr(getattr(owner, "connection", None), "subscriptions", {})
    return held.get(subscription.request_id) is subscription  # type: ignore[no-any-return]


class AckPings:
    """Has clients acknowledge what they read: every `interval` seconds, each client whose frames are all written
    and who has not acknowledged the latest position gets a websocket ping carrying it (`ping`, given by the
    endpoint); the pong, which a client sends only after reading everything before the ping, acknowledges it
    (`ClientHandle.acknowledge`). O(clients with a ping) per interval, nothing per event."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pings: dict[ClientHandle, Callable[[int], None]] = {}

    def add(self, client: ClientHandle, ping: Callable[[int], None]) -> None:
        self._pings[client] = ping

    def remove(self, client: ClientHandle) -> None:
        self._pings.pop(client, None)

    def ping_all(self) -> int:
        """Send the pings due now; returns how many."""
        sent = 0
        for client, ping in list(self._pings.items()):
            position = client.unacknowledged()
            if position is None:
                continue
            try:
                ping(position)
            except Exception as exc:  # the socket is going: its endpoint removes it
                log.debug("live query client %s: ack ping failed: %r", client.client_id, exc)
                continue
            sent += 1
        return sent

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.ping_all()


def ack_payload(position: int) -> bytes:
    return b"lq%d" % position


def acked_position(payload: bytes) -> int | None:
    """The position a pong's payload acknowledges, if it answers one of our pings."""
    if payload[:2] != b"lq" or not payload[2:].isdigit():
        return None
    return int(payload[2:])
