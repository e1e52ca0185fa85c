"""Cloud code's LiveQuery hooks as the hub and its connections call them; the server (api.cloud.live)
implements this seam. Without hooks, or for a class without one, the fan-out does no extra work."""
from __future__ import annotations

from typing import Any, Protocol

import msgspec

from auth.principal import Principal
from livequery.bus import ChangeEvent
from livequery.cloud import CloudQuery

EventParts = tuple[str, dict[str, Any], "dict[str, Any] | None"]
"""(event kind, object, original) of one event as one subscriber will get it."""


class Who(msgspec.Struct, frozen=True):
    """Who a connection, subscription or event is for, as hooks see them."""

    principal: Principal
    session_token: str | None = None
    installation_id: str | None = None
    request_id: int | None = None


class LiveHooks(Protocol):
    def has(self, kind: str, class_name: str = "") -> bool:
        """Whether a hook of `kind` is registered (for `class_name`): asked before any other work, so cheap."""

    async def before_connect(self, who: Who) -> None:
        """Raise ParseError to refuse a `connect` (an error frame; the socket is not registered)."""

    async def before_subscribe(self, query: CloudQuery, who: Who) -> CloudQuery:
        """The subscription's query as the hook leaves it; raise ParseError to refuse it."""

    async def after_event(self, class_name: str, parts: EventParts, who: Who) -> EventParts | None:
        """One event for one subscriber: the parts to send, or None to drop it; ParseError → an error frame."""

    async def after_write(self, event: ChangeEvent) -> ChangeEvent | None:
        """Once per write, before the fan-out: the event to deliver, or None to drop it. Never raises."""
