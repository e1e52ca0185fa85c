"""The composition root: builds the store, bus, auth, query, write and LiveQuery services from Settings."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from api.authenticate import Authenticator
from api.cloud.files import FileTriggers
from api.cloud.functions import CloudFunctions
from api.cloud.jobs import JobRunner
from api.cloud.live import LiveCloudHooks
from api.cloud.loader import load_cloud, watch
from api.cloud.reads import CloudReads
from api.cloud.runner import HookRunner
from api.cloud.webhooks import Webhooks
from api.cloud.writes import CloudWrites
from api.live import build_hub
from api.objects import ObjectService
from api.queries import QueryService
from api.router import Router
from api.schema_import import ImportReport, import_schema, load_schema_file
from api.settings import Settings
from auth import users as user_rules
from auth.passwords import Passwords
from auth.principal import Principal
from auth.roles import RoleResolver
from auth.sessions import SessionSettings, SessionStore
from livequery.bus import Bus, ChangeEvent, open_bus
from livequery.cloud import Cloud
from storage.adapter import Document, StorageAdapter
from storage.schema_cache import SchemaCache

log = logging.getLogger(__name__)

SCHEMA_REFRESH_SECONDS = 5.0
AUTH_CLASSES = frozenset({"_Session", "_Role", "_User"})


def open_store(uri: str) -> StorageAdapter:
    """The store a `--database-uri` names: `sqlite:///path` (the embedded default) or `mongodb://...`."""
    if uri.startswith("sqlite:///"):
        from storage.sqlite import SqliteAdapter

        return SqliteAdapter(uri[len("sqlite:///"):])
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from storage.mongo import MongoAdapter

        return MongoAdapter(uri)
    raise ValueError(f"unsupported database URI: {uri!r} (use sqlite:///path.db or mongodb://...)")


class Services:
    """Everything a request handler may use, built once per server process."""

    def __init__(self, settings: Settings, router: Router, cloud: Cloud | None = None) -> None:
        """`cloud`: the app's hooks; None loads `settings.cloud` (CloudLoadError names the file and line)."""
        self.settings = settings
        self.router = router
        self.store: StorageAdapter = open_store(settings.resolved_database_uri())
        self.schemas = SchemaCache(self.store)
        self.bus: Bus = open_bus(settings.redis_url, channel=settings.app_id)
        self.passwords = Passwords()
        self.roles = RoleResolver(self.store)
        self.sessions = SessionStore(self.store, self.roles,
                                     SessionSettings(session_length=settings.session_length_seconds))
        self.queries = QueryService(settings, self.store, self.schemas)
        self.objects = ObjectService(settings, self.store, self.schemas, self.bus, after_write=[self._after_write])
        self.authenticator = Authenticator(settings, self.resolve_session)
        if cloud is None and settings.cloud:
            cloud = load_cloud(settings.cloud)
        # cloud code: the paths every door (REST, batch, request.api, GraphQL) writes, reads and calls through
        self.hooks = HookRunner(self, cloud, settings.cloud_after_timeout)
        self.writes = CloudWrites(settings, self.objects, self.hooks)
        self.reads = CloudReads(self.queries, self.hooks)
        self.functions = CloudFunctions(self.hooks)
        self.jobs = JobRunner(self, self.hooks)
        self.file_triggers = FileTriggers(self.hooks)  # for the files endpoint (issue 11) to call
        self.webhooks = Webhooks(self)
        self.hub = build_hub(settings, self.schemas, self.sessions, LiveCloudHooks(self.hooks),
                             coalesce_ms=cloud.coalesce_ms if cloud is not None else None)
        self._tasks: list[asyncio.Task[None]] = []

    async def resolve_session(self, token: str) -> Principal:
        return await self.sessions.resolve(token)

    async def _after_write(self, class_name: str, kind: str, document: Document, original: Document | None) -> None:
        """Keep this process's auth caches true to what was just written (other processes: `_follow_auth`)."""
        await self._forget_stale_auth(class_name, kind, document, original)

    async def _forget_stale_auth(self, class_name: str, kind: str, document: Document,
                                 original: Document | None) -> None:
        if class_name == "_Role":
            self.roles.invalidate_all()
            await self.hub.refresh_sessions()
        elif class_name == "_Session" and kind != "create":
            session = original or document
            user = session.get("user")
            user_id = user.get("objectId") if isinstance(user, dict) else None
            token = session.get("sessionToken")
            if isinstance(token, str):
                self.sessions.forget(token)
            elif user_id:  # "every session of this user" (password change, user deleted)
                self.sessions.forget_user(user_id, keep_token=session.get("keepToken"))
            await self.hub.refresh_sessions(user_id)
        elif class_name == "_User" and kind == "delete":
            self.sessions.forget_user(document["objectId"])
            await self.hub.refresh_sessions(document["objectId"])

    async def _follow_auth(self) -> None:
        """Auth changes made by other server processes arrive on the bus: drop what they made stale here, so a
        log-out anywhere ends private events on every process's open sockets."""
        async with self.bus.subscribe() as events:
            async for event in events:
                if event.class_name in AUTH_CLASSES:
                    try:
                        await self._forget_stale_auth(event.class_name, event.kind, event.object, event.original)
                    except Exception:  # one bad event must not end the follower
                        log.exception("applying an auth change from the bus failed")

    async def sessions_revoked(self, user_id: str, keep_token: str | None = None) -> None:
        """Tell every process that a user's sessions (but `keep_token`) were revoked."""
        marker = {"user": {"__type": "Pointer", "className": "_User", "objectId": user_id}}
        if keep_token:
            marker["keepToken"] = keep_token
        await self.bus.publish(ChangeEvent("_Session", "delete", marker))

    async def start(self) -> None:
        await self.store.open()
        await user_rules.ensure_user_indexes(self.store)
        await self.store.ensure_fields("_Role", {})
        await self.store.ensure_unique("_Role", "name")
        if self.settings.schema_file:
            await self.import_schema_file(self.settings.schema_file)
        await self.schemas.all()
        await self.jobs.recover()
        await self.webhooks.load()
        await self.bus.start()
        if self.settings.dev and self.settings.cloud:
            self._tasks.append(asyncio.create_task(watch(self.settings.cloud, self.hooks.use), name="cloud-reload"))
        self._tasks.append(asyncio.create_task(self.hub.run(self.bus), name="livequery-hub"))
        if self.settings.redis_url:
            self._tasks.append(asyncio.create_task(self._follow_auth(), name="auth-follower"))
        if self.settings.redis_url:  # other processes may change class permissions: re-read them regularly
            self._tasks.append(asyncio.create_task(self.schemas.refresh_forever(SCHEMA_REFRESH_SECONDS),
                                                   name="schema-refresh"))

    async def import_schema_file(self, path: str) -> ImportReport:
        """`--schema FILE`: create or update the file's classes (idempotent); logs what changed."""
        return await self.import_schema(load_schema_file(path), source=path)

    async def import_schema(self, data: Any, *, source: str = "schema") -> ImportReport:
        """Create or update the classes of a parsed schema file (see api.schema_import) and let this process
        see them at once; logs what changed. SchemaFileError, with nothing written, for a file in error."""
        report = await import_schema(data, self.store)
        for line in report.lines():
            log.info("%s: %s", source, line)
        await self.schemas.all()
        return report

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.webhooks.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.bus.stop()
        await self.store.close()

    def health_details(self) -> dict[str, Any]:
        return {"bus": self.bus.health(), "liveQueryClients": self.hub.client_count,
                "liveQueryCoalescing": self.hub.coalesce_stats.as_json()}
