"""The composition root: builds the store, bus, auth, query, write and LiveQuery services from Settings."""
from __future__ import annotations

import logging
from typing import Any

from api.authenticate import Authenticator
from api.objects import ObjectService
from api.queries import QueryService
from api.router import Router
from api.settings import Settings
from auth.principal import Principal
from livequery.bus import Bus, open_bus
from storage.adapter import StorageAdapter
from storage.schema_cache import SchemaCache

log = logging.getLogger(__name__)


def open_store(uri: str) -> StorageAdapter:
    """The store a `--database-uri` names: `sqlite:///path` (the embedded default) or `mongodb://...`."""
    if uri.startswith("sqlite://"):
        from storage.sqlite import SqliteAdapter

        return SqliteAdapter(uri[len("sqlite://"):].removeprefix("/") if uri.startswith("sqlite:////")
                             else uri[len("sqlite:///"):])
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from storage.mongo import MongoAdapter

        return MongoAdapter(uri)
    raise ValueError(f"unsupported database URI: {uri!r} (use sqlite:///path.db or mongodb://...)")


class Services:
    """Everything a request handler may use, built once per server process."""

    def __init__(self, settings: Settings, router: Router) -> None:
        self.settings = settings
        self.router = router
        self.store: StorageAdapter = open_store(settings.resolved_database_uri())
        self.schemas = SchemaCache(self.store)
        self.bus: Bus = open_bus(settings.redis_url, channel=f"{settings.app_id}:changes")
        self.queries = QueryService(settings, self.store, self.schemas)
        self.objects = ObjectService(settings, self.store, self.schemas, self.bus, after_write=[])
        self.authenticator = Authenticator(settings, self.resolve_session)

    async def resolve_session(self, token: str) -> Principal:
        from storage.errors import ErrorCode, ParseError

        raise ParseError(ErrorCode.INVALID_SESSION_TOKEN, "Invalid session token")

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()
        await self.store.close()

    def health_details(self) -> dict[str, Any]:
        return {"bus": self.bus.health()}
