"""Cloud code's LiveQuery hooks, for the hub (livequery.hooks.LiveHooks): before_connect, before_subscribe,
after_live_query_event (per subscriber) and after_live_query_write (once per write)."""
from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from api.cloud.runner import Caller, HookRunner, hook_name
from api.output import to_rest
from auth.principal import MASTER
from livequery.bus import ChangeEvent
from livequery.cloud import CloudQuery
from livequery.hooks import EventParts, Who
from storage.errors import ErrorCode, ParseError

log = logging.getLogger("livequery.cloud")


USER_SECONDS = 2.0  # how long a subscriber's `request.user` is reused across events
USER_ENTRIES = 10_000


class LiveCloudHooks:
    def __init__(self, hooks: HookRunner) -> None:
        self._hooks = hooks
        # after_live_query_event runs per subscriber per event: read each subscriber's user once in a while,
        # not once per event
        self._users: dict[tuple[str, str | None], tuple[float, dict[str, Any] | None]] = {}

    async def _user(self, who: Who) -> dict[str, Any] | None:
        principal = who.principal
        if principal.user_id is None:
            return None
        key = (principal.user_id, principal.session_token)
        now = time.monotonic()
        cached = self._users.get(key)
        if cached is not None and now - cached[0] < USER_SECONDS:
            return None if cached[1] is None else dict(cached[1])  # a copy: hooks may change theirs
        if len(self._users) >= USER_ENTRIES:
            self._users.clear()
        user = await self._hooks.user_json(principal)
        self._users[key] = (now, user)
        return None if user is None else dict(user)

    def has(self, kind: str, class_name: str = "") -> bool:
        return self._hooks.find(kind, class_name) is not None

    async def before_connect(self, who: Who) -> None:
        hook = self._hooks.find("before_connect")
        if hook is None:
            return
        request = await self._hooks.request_for(hook, _caller(who), event="connect", trigger_name="beforeConnect")
        await self._hooks.run(hook, request, who.principal)

    async def before_subscribe(self, query: CloudQuery, who: Who) -> CloudQuery:
        hook = self._hooks.find("before_subscribe", query.class_name)
        if hook is None:
            return query
        request = await self._hooks.request_for(hook, _caller(who), query=query, event="subscribe",
                                                request_id=who.request_id)
        returned = await self._hooks.run(hook, request, who.principal)
        chosen = returned if isinstance(returned, CloudQuery) else request.query
        if not isinstance(chosen, CloudQuery) or chosen.class_name != query.class_name:
            raise ParseError(ErrorCode.SCRIPT_FAILED,
                             "before_subscribe must leave request.query a query of the same class")
        return chosen

    async def after_event(self, class_name: str, parts: EventParts, who: Who) -> EventParts | None:
        hook = self._hooks.find("after_live_query_event", class_name)
        if hook is None:
            return parts
        kind, obj, original = parts
        request = await self._hooks.request_for(hook, _caller(who), event=kind, object=obj, original=original,
                                                request_id=who.request_id, send_event=True,
                                                user=await self._user(who))
        await self._hooks.run(hook, request, who.principal)
        if not request.send_event or not isinstance(request.object, dict):
            return None
        return str(request.event), request.object, request.original

    async def after_write(self, event: ChangeEvent) -> ChangeEvent | None:
        hook = self._hooks.find("after_live_query_write", event.class_name)
        if hook is None:
            return event
        visible = to_rest(event.object, event.class_name, MASTER)
        original = to_rest(event.original, event.class_name, MASTER) if event.original is not None else None
        try:
            request = await self._hooks.request_for(hook, Caller(MASTER), event=event.kind, object=visible,
                                                    original=original, send_event=True)
            await self._hooks.run(hook, request, MASTER)
        except ParseError as error:
            log.warning("cloud code %s failed (%d: %s); the event goes out unchanged", hook_name(hook),
                        error.code, error.message)
            return event
        if not request.send_event:
            return None
        if not isinstance(request.object, dict):
            return event
        # the hook saw and changed the public fields; internal ones (ACL's _rperm, ...) still decide who reads it
        internal: dict[str, Any] = {k: v for k, v in event.object.items() if k.startswith("_")}
        return msgspec.structs.replace(event, object={**request.object, **internal})


def _caller(who: Who) -> Caller:
    return Caller(who.principal, who.installation_id)
