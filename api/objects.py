"""The write path: create, update and delete one object, with permissions, schema, and a change event."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from api import permissions
from api.settings import Settings
from auth.principal import Principal
from auth.tokens import new_object_id
from livequery.bus import Bus, ChangeEvent
from storage import required
from storage.adapter import Document, FindOptions, StorageAdapter
from storage.changes import Changes, SetValue, parse_changes
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field, MATCH_ALL, Node, conjoin
from storage.schema import ClassSchema, validate_class_name
from storage.schema_cache import SchemaCache
from storage.values import now_iso

_SERVER_FIELDS = ("createdAt", "updatedAt")
MASTER_ONLY_CLASSES = frozenset({"_Idempotency", "_PushStatus", "_JobStatus", "_JobSchedule", "_Hooks",
                                 "_GlobalConfig", "_Audience"})

ALWAYS_PUBLISHED = frozenset({"_Session", "_Role", "_User", "_Hooks"})

WriteHook = Callable[[str, str, Document, Document | None], Awaitable[None]]


class ObjectService:
    """Creates, updates and deletes objects for a principal; publishes every successful write to the bus."""

    def __init__(self, settings: Settings, store: StorageAdapter, schemas: SchemaCache, bus: Bus,
                 after_write: list[WriteHook] | None = None) -> None:
        self._settings = settings
        self._store = store
        self._schemas = schemas
        self._bus = bus
        self._after_write = after_write or []
        self._live = None if settings.live_classes is None else frozenset(settings.live_classes)

    # --- create -------------------------------------------------------------------------------------------
    async def create(self, principal: Principal, class_name: str, body: dict[str, Any],
                     *, internal: dict[str, Any] | None = None, object_id: str | None = None) -> Document:
        """Store a new object; `internal` adds server-set keys (e.g. `_hashed_password`). Returns the document."""
        validate_class_name(class_name)
        self.check_class_access(principal, class_name)
        body = dict(body)
        if "objectId" in body:
            raise ParseError(ErrorCode.INVALID_KEY_NAME, "objectId is an invalid field name.")
        for key in _SERVER_FIELDS:
            body.pop(key, None)
        acl_json = body.pop("ACL", None)
        changes = parse_changes(body, is_create=True)
        schema = await self._schemas.get(class_name)
        permissions.check_class_operation(schema, "create", principal)
        defaulted = required.with_defaults(schema, body)
        if defaulted is not None:
            body, changes = defaulted, parse_changes(defaulted, is_create=True)
        await self._ensure_schema(principal, class_name, schema, changes)
        now = now_iso()
        document: Document = {"objectId": object_id or new_object_id(), "createdAt": now, "updatedAt": now}
        for path, op in changes.ops.items():
            if isinstance(op, SetValue):
                document[path[0]] = op.value
        for name, change in changes.relations.items():
            document[name] = {"__type": "Relation", "className": change.target_class}
        if acl_json is not None:
            document.update(permissions.acl_fields(acl_json))
        if internal:
            document.update(internal)
        await self._store.insert(class_name, document, changes if changes.relations else None)
        await self._published(class_name, "create", document, None)
        return document

    # --- update -------------------------------------------------------------------------------------------
    async def update(self, principal: Principal, class_name: str, object_id: str, body: dict[str, Any],
                     *, internal: dict[str, Any] | None = None) -> tuple[Document, Document, Changes]:
        """Apply a client's changes atomically. Returns (before, after, changes); 101 if missing or not writable."""
        validate_class_name(class_name)
        self.check_class_access(principal, class_name)
        body = dict(body)
        for key in ("objectId", *_SERVER_FIELDS):
            body.pop(key, None)
        extra: dict[str, Any] = dict(internal or {})
        if "ACL" in body:
            acl_json = body.pop("ACL")
            extra.update(permissions.acl_fields(acl_json) if acl_json is not None
                         else {"ACL": None, "_rperm": None, "_wperm": None})
        changes = parse_changes(body, is_create=False)
        schema = await self._schemas.get(class_name)
        if schema is None:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        pointer_rule = permissions.check_class_operation(schema, "update", principal)
        required.check_kept(schema, body)
        await self._ensure_schema(principal, class_name, schema, changes)
        where = self._write_scope(principal, pointer_rule)
        result = await self._store.update(class_name, object_id, changes, where, now_iso(), extra or None)
        if result is None:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        before, after = result
        await self._published(class_name, "update", after, before)
        return before, after, changes

    # --- delete -------------------------------------------------------------------------------------------
    async def delete(self, principal: Principal, class_name: str, object_id: str) -> Document:
        validate_class_name(class_name)
        self.check_class_access(principal, class_name)
        schema = await self._schemas.get(class_name)
        if schema is None:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        pointer_rule = permissions.check_class_operation(schema, "delete", principal)
        deleted = await self._store.delete(class_name, object_id, self._write_scope(principal, pointer_rule))
        if deleted is None:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        await self._published(class_name, "delete", deleted, None)
        return deleted

    # --- permission checks without writing (cloud code's before-triggers run only when these pass) ---------
    async def check_create(self, principal: Principal, class_name: str) -> None:
        """What `create` refuses before it writes anything: class name, master-only classes, CLP, a class the
        caller may not create."""
        validate_class_name(class_name)
        self.check_class_access(principal, class_name)
        schema = await self._schemas.get(class_name)
        permissions.check_class_operation(schema, "create", principal)
        if schema is None and not (principal.is_master or self._settings.allow_client_class_creation):
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                             f"This user is not allowed to access non-existent class: {class_name}")

    async def writable(self, principal: Principal, class_name: str, object_id: str,
                       operation: str) -> Document | None:
        """The stored object if `principal` may `operation` ("update" or "delete") it by CLP and ACL, else None."""
        validate_class_name(class_name)
        self.check_class_access(principal, class_name)
        schema = await self._schemas.get(class_name)
        if schema is None:
            return None
        pointer_rule = permissions.check_class_operation(schema, operation, principal)
        scope = conjoin(by_id(object_id), self._write_scope(principal, pointer_rule))
        found = await self._store.find(class_name, scope, FindOptions(limit=1))
        return found[0] if found else None

    # --- shared -------------------------------------------------------------------------------------------
    def check_class_access(self, principal: Principal, class_name: str) -> None:
        if class_name in MASTER_ONLY_CLASSES and not principal.is_master:
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                             f"Clients aren't allowed to perform the write operation on the {class_name} collection.")
        if principal.is_read_only_master:
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                             "read-only masterKey isn't allowed to perform the write operation.")

    def _write_scope(self, principal: Principal, pointer_rule: Node | None) -> Node:
        parts = [node for node in (permissions.write_filter(principal), pointer_rule) if node is not None]
        return conjoin(*parts) if parts else MATCH_ALL

    async def _ensure_schema(self, principal: Principal, class_name: str, schema: ClassSchema | None,
                             changes: Changes) -> ClassSchema:
        wanted = changes.implied_types()
        missing = self._schemas.missing_fields(schema, wanted)
        if schema is not None and not missing:
            return schema
        if schema is None and not (principal.is_master or self._settings.allow_client_class_creation):
            raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                             f"This user is not allowed to access non-existent class: {class_name}")
        if schema is not None and missing:
            permissions.check_class_operation(schema, "addField", principal)
        return await self._schemas.ensure(class_name, missing)

    async def _published(self, class_name: str, kind: str, document: Document, original: Document | None) -> None:
        for hook in self._after_write:
            await hook(class_name, kind, document, original)
        # auth classes and webhooks always travel: other processes drop stale sessions and roles, and reload
        # webhooks, when they see them
        if self._live is None or class_name in self._live or class_name in ALWAYS_PUBLISHED:
            await self._bus.publish(ChangeEvent(class_name, kind, document, original))  # type: ignore[arg-type]


def by_id(object_id: str) -> Node:
    return Field(("objectId",), (Compare("$eq", object_id),))
