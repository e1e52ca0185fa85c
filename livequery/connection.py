"""One LiveQuery socket's protocol state, without the socket: messages in, actions out (python-websockets style).

`Connection.receive` takes a client frame and returns what to do: frames to send and subscriptions to add to or
remove from the index. The hub applies them; tests read them.
"""
from __future__ import annotations

import enum
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

import msgspec

from auth.principal import ANONYMOUS, MASTER, Principal
from livequery.cloud import CloudQuery
from livequery.hooks import LiveHooks, Who
from livequery.include import MAX_INCLUDE_LISTS_PER_SOCKET, parse_include
from livequery.protocol import (
    Connect,
    LiveQueryErrorCode,
    ProtocolError,
    QueryRequest,
    Subscribe,
    Unsubscribe,
    Update,
    connected_frame,
    decode_message,
    error_frame,
    event_ident,
    subscribed_frame,
    unsubscribed_frame,
)
from livequery.reads import Reading
from livequery.subscriptions import Query, Subscriber, Subscription
from storage.errors import ErrorCode, ParseError, brief_traceback

log = logging.getLogger(__name__)


class Access(enum.Enum):
    DENIED = "denied"
    CLIENT = "client"
    MASTER = "master"


KeyCheck = Callable[[Connect], Access]
"""Decides what a `connect` message's keys grant."""

SessionResolver = Callable[[str], Awaitable["Principal | None"]]
"""A session token's principal (the user with their roles), or None if the token is not valid."""

SubscribeCheck = Callable[[Principal, str, "Mapping[str, object] | None", "tuple[str, ...] | None"], None]
"""(subscriber, className, where, watch): raises ParseError when the subscription must be refused (auth's rules:
the class's `find` permission, a `where` or `watch` naming a field the subscriber may not see)."""

QueryPreparer = Callable[[str, "Mapping[str, object] | None"], Query]
"""(className, where) -> its compiled Query; raises ParseError for an invalid where (SubscriptionIndex.prepare)."""


class ConfiguredKeys:
    """The standard KeyCheck: the application id must match; if client keys (Parse's `keyPairs`) are configured,
    one of the connect keys must match one of them or the master key; the client is master only when a master key
    is configured and the connect `masterKey` equals it, and a `masterKey` that does not is refused."""

    _CLIENT_FIELDS = ("javascriptKey", "clientKey", "restAPIKey", "windowsKey")

    def __init__(self, application_id: str, *, master_key: str | None = None,
                 client_keys: Mapping[str, str] | None = None) -> None:
        self.application_id = application_id
        self.master_key = master_key
        self.client_keys = {k: v for k, v in (client_keys or {}).items() if v}

    def __call__(self, message: Connect) -> Access:
        if not _same(message.applicationId, self.application_id):
            return Access.DENIED
        if message.masterKey is not None:  # a wrong master key is refused, never taken as a client's connect
            return Access.MASTER if self.master_key and _same(message.masterKey, self.master_key) else Access.DENIED
        if not self.client_keys:
            return Access.CLIENT
        for name in self._CLIENT_FIELDS:
            sent = getattr(message, name)
            if sent is not None and name in self.client_keys and _same(sent, self.client_keys[name]):
                return Access.CLIENT
        return Access.DENIED


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class Send(NamedTuple):
    frame: bytes


class Add(NamedTuple):
    subscription: Subscription
    resume_from: object = msgspec.UNSET  # the subscribe's `resumeFrom` (livequery/resume.py)


class Remove(NamedTuple):
    subscription: Subscription


class Snapshot(NamedTuple):
    """Send the subscription its current objects before its next events (livequery/snapshot.py)."""

    subscription: Subscription


Action = Send | Add | Remove | Snapshot

DEFAULT_MAX_SUBSCRIPTIONS = 1000
_NOT_CONNECTED = "Can not find this client, make sure you connect to server before subscribing"


class Connection:
    """The protocol state of one socket: connected or not, its keys and session, its subscriptions by requestId.

    `owner` is what subscriptions deliver to (the hub's ClientHandle). Not safe for concurrent `receive` calls:
    feed it one message at a time, as a socket delivers them.
    """

    def __init__(self, *, check_keys: KeyCheck, resolve_session: SessionResolver, prepare: QueryPreparer,
                 owner: Subscriber | None = None, authorize: SubscribeCheck | None = None,
                 hooks: LiveHooks | None = None, max_subscriptions: int = DEFAULT_MAX_SUBSCRIPTIONS) -> None:
        self._check_keys = check_keys
        self._authorize = authorize
        self._hooks = hooks
        self._max_subscriptions = max_subscriptions
        self._resolve_session = resolve_session
        self._prepare = prepare
        self.owner = owner
        self.client_id: str | None = None
        self.installation_id: str | None = None
        self.session_token: str | None = None
        self.is_master = False
        self.subscriptions: dict[int, Subscription] = {}

    @property
    def is_connected(self) -> bool:
        return self.client_id is not None

    async def receive(self, data: str | bytes) -> list[Action]:
        """Handle one client frame. Never raises: problems become `error` frames."""
        try:
            message = decode_message(data)
            if isinstance(message, Connect):
                return await self._connect(message)
            if self.client_id is None:
                return [Send(error_frame(LiveQueryErrorCode.NOT_CONNECTED, _NOT_CONNECTED, reconnect=True))]
            if isinstance(message, Unsubscribe):
                return self._unsubscribe(self.client_id, message.requestId)
            if isinstance(message, QueryRequest):
                return self._query(self.client_id, message.requestId)
            return await self._subscribe(self.client_id, message)
        except ProtocolError as exc:
            return [Send(error_frame(exc.code, exc.message, reconnect=True))]
        except Exception as error:  # logged bounded: a client's frame must not flood the log
            log.error("live query client %s: failed to handle a message\n%s", self.client_id,
                      brief_traceback(error))
            return [Send(error_frame(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error", reconnect=True))]

    def close(self) -> list[Action]:
        """The socket is gone: every subscription goes."""
        removed: list[Action] = [Remove(s) for s in self.subscriptions.values()]
        self.subscriptions.clear()
        return removed

    async def refresh(self, user_id: str | None = None) -> None:
        """Resolve the sessions of this connection's subscriptions again (after a logout or a role change), for
        every subscription or only those of `user_id`."""
        for subscription in list(self.subscriptions.values()):
            if user_id is not None and subscription.principal.user_id != user_id:
                continue
            user = await self._user(subscription.session_token)
            subscription.use_principal(self._effective(user))

    async def _connect(self, message: Connect) -> list[Action]:
        access = self._check_keys(message)
        if access is Access.DENIED:
            return [Send(error_frame(LiveQueryErrorCode.INVALID_KEYS, "Key in request is not valid", reconnect=True))]
        if self._hooks is not None and self._hooks.has("before_connect"):
            user = await self._user(message.sessionToken)
            principal = user or ANONYMOUS
            if access is Access.MASTER:
                principal = msgspec.structs.replace(principal, is_master=True)
            try:
                await self._hooks.before_connect(Who(principal, message.sessionToken, message.installationId))
            except ParseError as refused:  # as Parse: not registered, the socket stays open
                return [Send(error_frame(refused.code, refused.message, reconnect=False))]
        actions: list[Action] = list(self.close())  # a second connect starts over, as a new client
        self.client_id = str(uuid.uuid4())
        self.installation_id = message.installationId
        self.session_token = message.sessionToken
        self.is_master = access is Access.MASTER
        actions.append(Send(connected_frame(self.client_id, self.installation_id)))
        return actions

    def _unsubscribe(self, client_id: str, request_id: int) -> list[Action]:
        subscription = self.subscriptions.pop(request_id, None)
        if subscription is None:
            return [Send(error_frame(
                LiveQueryErrorCode.NOT_CONNECTED,
                f"Cannot find subscription with clientId {client_id} subscriptionId {request_id}. "
                "Make sure you subscribe to live query server before unsubscribing.", reconnect=True))]
        return [Remove(subscription),
                Send(unsubscribed_frame(client_id, self.installation_id, request_id))]

    def _query(self, client_id: str, request_id: int) -> list[Action]:
        subscription = self.subscriptions.get(request_id)
        if subscription is None:
            return [Send(error_frame(
                LiveQueryErrorCode.NOT_CONNECTED,
                f"Cannot find subscription with clientId {client_id} subscriptionId {request_id}. "
                "Make sure you subscribe to live query server before querying.", reconnect=False,
                request_id=request_id))]
        return [Snapshot(subscription)]

    def _check_include_lists(self, paths: tuple[str, ...], request_id: int) -> None:
        """Refuse (102) a subscription whose include list would be this socket's one too many (include.py says
        why): every event of the class is one store read per different list."""
        lists = {subscription.include.paths for rid, subscription in self.subscriptions.items()
                 if rid != request_id and subscription.include is not None}
        if paths not in lists and len(lists) >= MAX_INCLUDE_LISTS_PER_SOCKET:
            raise ParseError(ErrorCode.INVALID_QUERY,
                             f"A socket may use at most {MAX_INCLUDE_LISTS_PER_SOCKET} different include lists")

    async def _subscribe(self, client_id: str, message: Subscribe | Update) -> list[Action]:
        request_id, spec = message.requestId, message.query
        if request_id not in self.subscriptions and len(self.subscriptions) >= self._max_subscriptions:
            return [Send(error_frame(LiveQueryErrorCode.INVALID_MESSAGE,
                                     f"A socket may hold at most {self._max_subscriptions} subscriptions",
                                     reconnect=False, request_id=request_id))]
        where, keys, watch = spec.where, spec.selected_keys(), spec.watched()
        if self._hooks is not None and self._hooks.has("before_subscribe", spec.className):
            asked = CloudQuery(spec.className, dict(spec.where or {}), keys=None if keys is None else list(keys),
                               watch=None if watch is None else list(watch))
            who = Who(self._effective(await self._user(message.sessionToken)),
                      message.sessionToken or self.session_token, self.installation_id, request_id)
            try:
                hooked = await self._hooks.before_subscribe(asked, who)
            except ParseError as exc:
                return [Send(error_frame(exc.code, exc.message, reconnect=False, request_id=request_id))]
            where = hooked.where
            keys = None if hooked.keys is None else tuple(hooked.keys)
            watch = None if hooked.watch is None else tuple(hooked.watch)
        try:
            query = self._prepare(spec.className, where)
            include = parse_include(spec.include)
            if include is not None:
                self._check_include_lists(include.paths, request_id)
        except ParseError as exc:
            return [Send(error_frame(exc.code, exc.message, reconnect=False, request_id=request_id))]
        if message.sessionToken:
            user = await self._principal(message.sessionToken)
            if user is None:  # as Parse: a subscription's own token must be valid, never silently anonymous
                return [Send(error_frame(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token",
                                         reconnect=False, request_id=request_id))]
        else:
            user = await self._user(None)
        if spec.className == "_Session" and user is None:
            return [Send(error_frame(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token", reconnect=False,
                                     request_id=request_id))]
        principal = self._effective(user)
        if self._authorize is not None and not principal.is_master:
            try:
                self._authorize(principal, spec.className, spec.where, spec.watched())
            except ParseError as exc:
                return [Send(error_frame(exc.code, exc.message, reconnect=False, request_id=request_id))]
        subscription = Subscription(
            self.owner, request_id, query, principal, keys=keys, watch=watch,
            ident=event_ident(client_id, self.installation_id, request_id),
            session_token=message.sessionToken, include=include,
            reading=Reading(where, spec.limit, spec.order))
        actions: list[Action] = []
        previous = self.subscriptions.pop(request_id, None)  # `update`, or a subscribe reusing a requestId
        if previous is not None:
            actions.append(Remove(previous))
        self.subscriptions[request_id] = subscription
        actions.append(Add(subscription, message.resumeFrom))
        actions.append(Send(subscribed_frame(client_id, self.installation_id, request_id)))
        if message.snapshot:
            actions.append(Snapshot(subscription))
        return actions

    async def _user(self, subscription_token: str | None) -> Principal | None:
        """The subscription's session, else the connection's. An invalid token is no user here (`_subscribe`
        refuses a subscription whose own token is invalid; `refresh` finds a logged-out one)."""
        for token in (subscription_token, self.session_token):
            if not token:
                continue
            principal = await self._principal(token)
            if principal is not None:
                return principal
        return None

    async def _principal(self, token: str) -> Principal | None:
        try:
            return await self._resolve_session(token)
        except ParseError:
            return None

    def _effective(self, user: Principal | None) -> Principal:
        if self.is_master:
            return msgspec.structs.replace(user, is_master=True) if user is not None else MASTER
        return user if user is not None else ANONYMOUS
