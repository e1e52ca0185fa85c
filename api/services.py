"""The composition root: builds the store, bus, auth, query, write and LiveQuery services from Settings."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Coroutine

from api.authenticate import Authenticator
from api.files.policy import UploadRules, check_patterns
from api.files.service import FileService
from api.cloud.files import FileTriggers
from api.cloud.functions import CloudFunctions
from api.cloud.jobs import JobRunner
from api.cloud.live import LiveCloudHooks
from api.cloud.loader import load_cloud, watch
from api.cloud.reads import CloudReads
from api.cloud.runner import HookRunner
from api.cloud.webhooks import HOOKS_CLASS, Webhooks
from api.cloud.writes import CloudWrites
from api.held_events import HeldEvents
from api.live import RestReads, build_hub
from api.logs import RecentLogs, scrubber_for
from api.metrics import Metrics
from api.objects import ObjectService
from api.queries import QueryService
from api.router import Router
from api.schema_import import ImportReport, import_schema, load_schema_file
from api.settings import Settings
from api.timed_store import TimedStore
from auth import users as user_rules
from auth.passwords import Passwords
from auth.principal import Principal
from auth.providers import AuthProviders
from auth.roles import RoleResolver
from auth.sessions import SessionSettings, SessionStore
from livequery.bus import Bus, ChangeEvent, open_bus
from livequery.cloud import Cloud
from livequery.history import History
from livequery.resume import AckPings
from storage.adapter import Document, StorageAdapter
from storage.files import FilesAdapter
from storage.schema_cache import SchemaCache

log = logging.getLogger(__name__)

SCHEMA_REFRESH_SECONDS = 5.0
CLOSE_SECONDS = 2.0  # closing the bus or the store at shutdown never takes longer, whatever they are doing
AUTH_CLASSES = frozenset({"_Session", "_Role", "_User"})
SCHEMA_NOTICE = "_SCHEMA"


def open_store(uri: str) -> StorageAdapter:
    """The store a `--database-uri` names: `sqlite:///path` (the embedded default) or `mongodb://...`."""
    if uri.startswith("sqlite:///"):
        from storage.sqlite import SqliteAdapter

        return SqliteAdapter(uri[len("sqlite:///"):])
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from storage.mongo import MongoAdapter

        return MongoAdapter(uri)
    raise ValueError(f"unsupported database URI: {uri!r} (use sqlite:///path.db or mongodb://...)")


def open_files(settings: Settings, store: StorageAdapter) -> FilesAdapter:
    """Where uploaded files live: GridFS in the MongoDB database (as Parse Server), else `<data-dir>/files/`."""
    if settings.resolved_database_uri().startswith(("mongodb://", "mongodb+srv://")):
        from storage.files.gridfs_bucket import GridFSFiles
        from storage.mongo import MongoAdapter

        if isinstance(store, MongoAdapter):
            return GridFSFiles(store.database)
    from storage.files.local import LocalFiles

    return LocalFiles(Path(settings.data_dir) / "files")


def upload_rules(settings: Settings) -> UploadRules:
    check_patterns(settings.file_extensions)
    return UploadRules(enable_for_public=settings.file_upload_public,
                       enable_for_anonymous_user=settings.file_upload_anonymous,
                       enable_for_authenticated_user=settings.file_upload_authenticated,
                       file_extensions=settings.file_extensions, max_upload_bytes=settings.max_upload_size)
async def _bounded(closing: Coroutine[Any, Any, None], what: str) -> None:
    """Await a close for at most CLOSE_SECONDS: an unreachable MongoDB or Redis must not hold up the exit."""
    try:
        await asyncio.wait_for(closing, CLOSE_SECONDS)
    except TimeoutError:
        log.warning("%s took more than %.0fs: going on without it", what, CLOSE_SECONDS)
    except Exception:
        log.exception("%s failed", what)


class Services:
    """Everything a request handler may use, built once per server process."""

    def __init__(self, settings: Settings, router: Router, cloud: Cloud | None = None) -> None:
        """`cloud`: the app's hooks; None loads `settings.cloud` (CloudLoadError names the file and line)."""
        self.settings = settings
        self.router = router
        self.metrics = Metrics() if settings.metrics != "off" else None
        raw_store = open_store(settings.resolved_database_uri())
        self.store: StorageAdapter = raw_store
        if self.metrics is not None:
            self.store = TimedStore(raw_store, self.metrics.observe_store)  # type: ignore[assignment]
        self.schemas = SchemaCache(self.store)
        history = History("", seconds=settings.live_history_seconds, max_events=settings.live_history_events)
        self.bus: Bus = open_bus(settings.redis_url, channel=settings.app_id, history=history)
        self.passwords = Passwords()
        self.auth_providers = AuthProviders()
        self.roles = RoleResolver(self.store)
        self.sessions = SessionStore(self.store, self.roles,
                                     SessionSettings(session_length=settings.session_length_seconds))
        self.queries = QueryService(settings, self.store, self.schemas)
        self.events = HeldEvents(self.bus)  # a transaction's events go out when it commits (api/routes/batch.py)
        self.objects = ObjectService(settings, self.store, self.schemas, self.events,
                                     after_write=[self._after_write])
        self.authenticator = Authenticator(settings, self.resolve_session)
        if cloud is None and settings.cloud:
            cloud = load_cloud(settings.cloud)
        # cloud code: the paths every door (REST, batch, request.api, GraphQL) writes, reads and calls through
        self.hooks = HookRunner(self, cloud, settings.cloud_after_timeout)
        self.writes = CloudWrites(settings, self.objects, self.hooks)
        self.reads = CloudReads(self.queries, self.hooks)
        self.functions = CloudFunctions(self.hooks)
        self.jobs = JobRunner(self, self.hooks)
        self.file_triggers = FileTriggers(self.hooks)  # the files service's FileHooks
        self.webhooks = Webhooks(self)
        self.hub = build_hub(settings, self.schemas, self.sessions, LiveCloudHooks(self.hooks),
                             coalesce_ms=cloud.coalesce_ms if cloud is not None else None,
                             history=self.bus.history if settings.live_history_seconds > 0 else None,
                             reads=RestReads(settings, self.queries), departures=self.bus.departures)
        self.acks = AckPings(settings.live_ack_seconds)
        self.files = FileService(open_files(settings, raw_store), upload_rules(settings), self.store,
                                 settings.files_url)
        self.files.hooks = self.file_triggers
        self.logs = RecentLogs(scrubber_for(settings), settings.log_buffer_lines)
        if self.metrics is not None:
            self.metrics.follow(self.hub, self.bus)
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
                self.sessions.forget_user(user_id)  # a session kept is found valid again in the store
            await self.hub.refresh_sessions(user_id)
        elif class_name == "_User" and kind == "delete":
            self.sessions.forget_user(document["objectId"])
            await self.hub.refresh_sessions(document["objectId"])

    async def _follow_peers(self, event: ChangeEvent) -> None:
        """Auth and schema changes made by other server processes arrive on the bus: drop what they made stale
        here before the hub delivers the next event, so a log-out or a new CLP anywhere applies to every
        process's sockets from the next write on."""
        if event.class_name in AUTH_CLASSES:
            await self._forget_stale_auth(event.class_name, event.kind, event.object, event.original)
        elif event.class_name == SCHEMA_NOTICE and event.notice:
            class_name = event.object.get("className")
            if isinstance(class_name, str):  # the hub reads the cache only: renew it before it delivers
                schema = await self.store.get_schema(class_name)
                if schema is None:
                    self.schemas.forget(class_name)
                else:
                    self.schemas.remember(schema)
        elif event.class_name == HOOKS_CLASS:  # a webhook registered through another process
            await self.webhooks.load()

    async def schema_changed(self, class_name: str) -> None:
        """Tell the other processes that a class's schema (its CLP, say) changed."""
        await self.bus.publish(ChangeEvent(SCHEMA_NOTICE, "update", {"className": class_name}, notice=True))

    async def sessions_revoked(self, user_id: str) -> None:
        """Tell every process that sessions of a user were revoked. A notice: never delivered to LiveQuery
        subscribers, and it names no session token (the ones kept are found valid in the store again)."""
        marker = {"user": {"__type": "Pointer", "className": "_User", "objectId": user_id}}
        await self.bus.publish(ChangeEvent("_Session", "delete", marker, notice=True))

    async def start(self) -> None:
        self.logs.install()
        await self.store.open()
        await user_rules.ensure_user_indexes(self.store)
        await self.store.ensure_fields("_Role", {})
        await self.store.ensure_unique("_Role", "name")
        if self.settings.schema_file:
            await self.import_schema_file(self.settings.schema_file)
        await self.schemas.all()
        await self.files.adapter.open()
        await self.jobs.recover()
        await self.webhooks.load()
        await self.bus.start()
        if self.settings.dev and self.settings.cloud:
            self._tasks.append(asyncio.create_task(watch(self.settings.cloud, self.hooks.use), name="cloud-reload"))
        follow = self._follow_peers if self.settings.redis_url else None  # one process: the writer did it
        self._tasks.append(asyncio.create_task(self.hub.run(self.bus, first=follow), name="livequery-hub"))
        if self.metrics is not None:
            self.metrics.start()
            if self.metrics.multiprocess_dir is not None:
                self._tasks.append(asyncio.create_task(self.metrics.sample_forever(), name="metrics-sample"))
        if self.hub.resumes is not None:
            self._tasks.append(asyncio.create_task(self.acks.run(), name="livequery-acks"))
            if self.hub.resumes.shared is not None:  # with Redis: open subscriptions survive this process
                self._tasks.append(asyncio.create_task(self.hub.resumes.share_forever(), name="livequery-share"))
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
        if self.metrics is not None:
            self.metrics.stop()
        await self.jobs.stop()
        await self.webhooks.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _done, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_SECONDS)
            if stuck:
                log.warning("%d background task(s) did not stop within %.0fs", len(stuck), CLOSE_SECONDS)
        self._tasks.clear()
        await _bounded(self.bus.stop(), "stopping the event bus")
        await _bounded(self.files.adapter.close(), "closing the files store")
        await _bounded(self.store.close(), "closing the store")
        self.logs.uninstall()

    def health_details(self) -> dict[str, Any]:
        resumes = self.hub.resumes
        return {"bus": self.bus.health(), "liveQueryClients": self.hub.client_count,
                "liveQueryResumes": None if resumes is None else {"replayed": resumes.replayed,
                                                                  "resets": resumes.resets},
                "liveQueryCoalescing": self.hub.coalesce_stats.as_json()}
