"""LiveQuery over websockets: the hub built from settings and auth's rules, and the endpoint feeding it."""
from __future__ import annotations

import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from api.settings import Settings
from auth import clp as clp_rules
from auth.principal import Principal
from auth.sessions import SessionStore
from livequery.connection import ConfiguredKeys
from livequery.hooks import LiveHooks
from livequery.hub import Hub
from storage.errors import ParseError
from storage.schema_cache import SchemaCache

log = logging.getLogger(__name__)


def build_hub(settings: Settings, schemas: SchemaCache, sessions: SessionStore,
              hooks: LiveHooks | None = None, coalesce_ms: dict[str, float] | None = None) -> Hub:
    async def resolve_session(token: str) -> Principal | None:
        try:
            return await sessions.resolve(token)
        except ParseError:
            return None  # as Parse: a bad token is not refused, it just grants nothing

    def can_see(principal: Principal, class_name: str, document: dict[str, Any]) -> bool:
        """The class's `find` permission, pointer permissions included (the ACL is checked by the hub)."""
        schema = schemas.cached(class_name)
        if schema is None:
            return True
        try:
            rule = clp_rules.check_operation(schema.clp, class_name, "find", principal)
        except ParseError:
            return False
        if rule is None:
            return True
        return rule.user_id is not None and any(
            clp_rules.points_to_user(document.get(name), rule.user_id) for name in rule.fields)

    def visible_fields(principal: Principal, class_name: str, document: dict[str, Any]) -> dict[str, Any]:
        schema = schemas.cached(class_name)
        if schema is None:
            return document
        hidden = clp_rules.protected_fields(schema.clp, class_name, principal, document)
        return {k: v for k, v in document.items() if k not in hidden} if hidden else document

    keys = ConfiguredKeys(settings.app_id, master_key=settings.master_key, client_keys={
        "javascriptKey": settings.javascript_key or "", "restAPIKey": settings.rest_api_key or "",
        "clientKey": settings.client_key or ""})
    live = None if settings.live_classes is None else frozenset(settings.live_classes)
    return Hub(check_keys=keys, resolve_session=resolve_session, live_classes=live, can_see=can_see,
               visible_fields=visible_fields, outbox_size=settings.client_queue_frames, hooks=hooks,
               coalesce_ms=coalesce_ms)


async def live_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.services.hub
    await websocket.accept()

    async def send(frame: bytes) -> None:
        await websocket.send_text(frame.decode())  # the SDKs read text frames only

    handle = hub.connect(send)
    try:
        close = await handle.serve(websocket.iter_text())
    except WebSocketDisconnect:
        return
    finally:
        handle.close()
    try:
        await websocket.close(close.code, close.reason)
    except (RuntimeError, WebSocketDisconnect):
        pass  # the peer is already gone
