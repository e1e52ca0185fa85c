"""The read path: find, get and count with Parse's query parameters, sub-queries resolved and pointers included."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import msgspec

from api import permissions
from api.output import file_fields_of, project, to_rest
from api.settings import Settings
from auth.principal import Principal
from storage.adapter import Document, FindOptions, SortKey, StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.query import (And, Compare, Field, In, InQuery, Node, Nor, Or, RelatedTo, Select, conjoin,
                           parse_where)
from storage.schema import ClassSchema, validate_class_name
from storage.schema_cache import SchemaCache
from storage.values import Pointer, decode

FIND_PARAMS = frozenset({"where", "order", "limit", "skip", "keys", "excludeKeys", "include", "includeAll",
                         "count", "readPreference", "includeReadPreference", "subqueryReadPreference", "hint",
                         "explain", "comment", "redirectClassNameForKey"})
GET_PARAMS = frozenset({"keys", "include", "excludeKeys", "readPreference", "includeReadPreference"})
PRESENT_CHUNK = 200
MAX_LIMIT_OR_SKIP = 2**31 - 1  # what every store takes as a row count
MAX_LIST_NAMES = 1000  # names in one keys/excludeKeys/include list, unless settings say fewer


class Shape(msgspec.Struct, frozen=True):
    keys: list[str] | None
    exclude: list[str] | None
    include: list[str]


class QueryService:
    def __init__(self, settings: Settings, store: StorageAdapter, schemas: SchemaCache) -> None:
        self._settings = settings
        self._store = store
        self._schemas = schemas
        self._files_url = settings.files_url
        # cloud code's before_find for `include`d classes (set by api.cloud.reads): an extra where, or None
        self.include_scope: Callable[[Principal, str], Awaitable[Node | None]] | None = None

    async def find(self, principal: Principal, class_name: str, params: dict[str, Any],
                   extra: Node | None = None) -> dict[str, Any]:
        """`GET /classes/C`: `{"results": [...]}` plus `"count"` when asked."""
        _check_params(params, FIND_PARAMS)
        validate_class_name(class_name)
        permissions.check_system_class(principal, class_name, "find")
        self.shape(params)  # every bound checked before any work
        limit = _int_param(params, "limit", self._settings.default_limit)
        if self._settings.max_limit is not None:
            limit = min(limit, self._settings.max_limit)
        skip = _int_param(params, "skip", 0)
        schema = await self._schemas.get(class_name)
        redirect = params.get("redirectClassNameForKey")
        where = parse_where(_json_param(params.get("where")), internal=principal.is_master)
        redirected = False
        if isinstance(redirect, str) and schema is not None:
            target = schema.fields.get(redirect)
            if target is not None and target.type == "Relation" and target.target_class:
                class_name, redirected = target.target_class, True
                schema = await self._schemas.get(class_name)
        if schema is None:
            if not (principal.is_master or self._settings.allow_client_class_creation):
                raise ParseError(ErrorCode.OPERATION_FORBIDDEN,
                                 f"This user is not allowed to access non-existent class: {class_name}")
            return {"results": [], "count": 0} if _truthy(params.get("count")) else {"results": []}
        counting = _truthy(params.get("count"))
        operation = "count" if counting and limit == 0 else "find"
        scope = await self.scoped_where(principal, schema, where, operation, extra)
        body: dict[str, Any] = {}
        results: list[Document] = []
        if limit > 0:
            order = self._order(principal, schema, params.get("order"))
            results = await self._store.find(class_name, scope, FindOptions(order, limit, skip))
        body["results"] = await self.present(principal, schema, results, params)
        if redirected:  # the SDKs build relation query results from this, as Parse Server sends it
            for item in body["results"]:
                item["className"] = class_name
        if counting:
            if operation == "find":
                permissions.check_class_operation(schema, "count", principal)
            body["count"] = await self._store.count(class_name, scope)
        return body

    async def get(self, principal: Principal, class_name: str, object_id: str,
                  params: dict[str, Any], extra: Node | None = None) -> dict[str, Any]:
        _check_params(params, GET_PARAMS)
        validate_class_name(class_name)
        permissions.check_system_class(principal, class_name, "get")
        self.shape(params)
        schema = await self._schemas.get(class_name)
        if schema is None:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        where: Node = Field(("objectId",), (Compare("$eq", object_id),))
        if extra is not None:  # a before_find trigger's rewrite of the get
            where = conjoin(where, extra)
        scope = await self.scoped_where(principal, schema, where, "get", None)
        found = await self._store.find(class_name, scope, FindOptions(limit=1))
        if not found:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Object not found.")
        return (await self.present(principal, schema, found, params))[0]

    async def fetch(self, principal: Principal, class_name: str, where: Node, *, limit: int | None = None,
                    operation: str = "find", order: Any = None) -> list[Document]:
        """Stored documents `principal` may read (sub-queries, includes, the auth routes, LiveQuery's reads);
        `order` as REST's parameter."""
        schema = await self._schemas.get(class_name)
        if schema is None:
            return []
        scope = await self.scoped_where(principal, schema, where, operation, None)
        return await self._store.find(class_name, scope,
                                      FindOptions(self._order(principal, schema, order), limit=limit))

    async def scoped_where(self, principal: Principal, schema: ClassSchema, where: Node, operation: str,
                           extra: Node | None) -> Node:
        """The query as the store runs it: CLP checked, sub-queries resolved, ACL read filter added."""
        pointer_rule = permissions.check_class_operation(schema, operation, principal)
        permissions.check_query_fields(schema, principal, where)
        resolved = await self._resolve(principal, where)
        parts = [resolved, permissions.read_filter(principal), pointer_rule, extra]
        return conjoin(*(p for p in parts if p is not None))

    def shape(self, params: dict[str, Any]) -> Shape:
        """The `keys`, `excludeKeys` and `include` of a query, within the server's bounds (else 102)."""
        settings = self._settings
        keys = list_param(params.get("keys"), settings.max_keys, "keys")
        exclude = list_param(params.get("excludeKeys"), settings.max_keys, "excludeKeys")
        include = list_param(params.get("include"), settings.include_count, "include", "paths (includeCount)") or []
        if _truthy(params.get("includeAll")):
            include.append("*")
        if keys:
            include.extend(k.rsplit(".", 1)[0] for k in keys if "." in k)
        if len(include) > settings.include_count:
            raise ParseError(ErrorCode.INVALID_QUERY,
                             f"include may name at most {settings.include_count} paths (includeCount)")
        for path in include:
            if path.count(".") >= settings.include_depth:
                raise ParseError(ErrorCode.INVALID_QUERY, f"Include path {path[:100]!r} is deeper than "
                                                          f"{settings.include_depth} levels (includeDepth)")
        return Shape(keys, exclude, include)

    async def present(self, principal: Principal, schema: ClassSchema, documents: list[Document],
                      params: dict[str, Any]) -> list[dict[str, Any]]:
        shape = self.shape(params)
        # What the principal may not see in any object of the class: when nothing, no object hides anything
        # (a document's own `userField:` groups only narrow the hidden set), so no per-object work
        hidden = permissions.hidden_fields(schema, principal, None)
        files = file_fields_of(schema)
        out: list[dict[str, Any]] = []
        for start in range(0, len(documents), PRESENT_CHUNK):
            if start:
                await asyncio.sleep(0)  # a large result must not hold the event loop: let others run between chunks
            out.extend(project(to_rest(doc, schema.class_name, principal,
                                       hidden if not hidden else permissions.hidden_fields(schema, principal, doc),
                                       self._files_url, files),
                               shape.keys, shape.exclude)
                       for doc in documents[start:start + PRESENT_CHUNK])
        if shape.include and out:
            await self._include(principal, schema, out, _include_tree(schema, shape.include))
        return out

    # --- internals ----------------------------------------------------------------------------------------
    def _order(self, principal: Principal, schema: ClassSchema, raw: Any) -> tuple[SortKey, ...]:
        if not raw:
            return ()
        names = raw if isinstance(raw, list) else str(raw).split(",", self._settings.max_keys + 1)
        if len(names) > self._settings.max_keys:
            raise ParseError(ErrorCode.INVALID_QUERY, f"order may name at most {self._settings.max_keys} fields")
        keys = []
        for name in names:
            name = name.strip()
            descending = name.startswith("-")
            name = name.lstrip("-")
            name = {"_created_at": "createdAt", "_updated_at": "updatedAt"}.get(name, name)
            if not name or name == "$score":
                continue
            path = tuple(name.split("."))
            if path[0] in schema.fields:  # Parse silently drops sort keys the schema does not know
                keys.append(SortKey(path, descending))
        permissions.check_readable_keys(schema, principal, (key.path[0] for key in keys))  # the order is an oracle
        return tuple(keys)

    async def _resolve(self, principal: Principal, node: Node) -> Node:
        """Replace `$inQuery`/`$select` by the values of their sub-query, run with the caller's permissions. The
        key a `$select` or `$relatedTo` reads is checked as a `where` on that key of its class would be."""
        if isinstance(node, (And, Or, Nor)):
            children = tuple([await self._resolve(principal, child) for child in node.children])
            return type(node)(children)
        if isinstance(node, RelatedTo):
            return await self._related_to(principal, node)
        if not isinstance(node, Field):
            return node
        if not any(isinstance(c, (InQuery, Select)) for c in node.constraints):
            return node
        constraints = []
        for constraint in node.constraints:
            if isinstance(constraint, InQuery):
                docs = await self.fetch(principal, validate_class_name(constraint.class_name), constraint.where)
                pointers = tuple(Pointer(constraint.class_name, d["objectId"]) for d in docs)
                constraints.append(In(pointers, negate=constraint.negate))
            elif isinstance(constraint, Select):
                permissions.check_readable_keys(await self._schemas.get(validate_class_name(constraint.class_name)),
                                                principal, (constraint.key.split(".")[0],))
                docs = await self.fetch(principal, constraint.class_name, constraint.where)
                values = tuple(decode(_dig(d, constraint.key)) for d in docs if _dig(d, constraint.key) is not None)
                constraints.append(In(values, negate=constraint.negate))
            else:
                constraints.append(constraint)
        return Field(node.path, tuple(constraints))

    async def _related_to(self, principal: Principal, node: RelatedTo) -> Node:
        """A relation is read through its owner: the owner must be readable and the relation key not hidden."""
        owner = node.owner
        permissions.check_readable_keys(await self._schemas.get(owner.class_name), principal, (node.key,))
        if principal.is_master:
            return node
        found = await self.fetch(principal, validate_class_name(owner.class_name),
                                 Field(("objectId",), (Compare("$eq", owner.object_id),)), limit=1, operation="get")
        return node if found else permissions.MATCH_NOTHING

    async def _include(self, principal: Principal, schema: ClassSchema, objects: list[dict[str, Any]],
                       tree: dict[str, dict]) -> None:
        for field, subtree in tree.items():
            wanted: dict[str, set[str]] = {}
            for obj in objects:
                for pointer in _pointers_in(obj.get(field)):
                    wanted.setdefault(pointer["className"], set()).add(pointer["objectId"])
            fetched: dict[tuple[str, str], dict[str, Any]] = {}
            for class_name, ids in wanted.items():
                target = await self._schemas.get(class_name)
                if target is None:
                    continue
                wanted_ids: Node = Field(("objectId",), (In(tuple(sorted(ids))),))
                if self.include_scope is not None:
                    extra = await self.include_scope(principal, class_name)
                    if extra is not None:
                        wanted_ids = conjoin(wanted_ids, extra)
                docs = await self.fetch(principal, class_name, wanted_ids)
                presented = [to_rest(d, class_name, principal, permissions.hidden_fields(target, principal, d),
                                     self._files_url)
                             for d in docs]
                if subtree:
                    await self._include(principal, target, presented, subtree)
                for item in presented:
                    fetched[(class_name, item["objectId"])] = {"__type": "Object", "className": class_name, **item}
            for obj in objects:
                if field in obj:  # a field hidden from the caller stays absent
                    obj[field] = _replace_pointers(obj[field], fetched)


def _check_params(params: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in params:
        if key not in allowed:
            raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid parameter for query: {key}")


def _json_param(raw: Any) -> Any:
    if isinstance(raw, str):
        raise ParseError(ErrorCode.INVALID_JSON, "where must be a JSON object")
    return raw


def _truthy(raw: Any) -> bool:
    return raw in (1, True, "1", "true", "True")


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or (isinstance(raw, str) and len(raw) > 40):
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid {name}: {str(raw)[:40]!r}")
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise ParseError(ErrorCode.INVALID_QUERY, f"Invalid {name}: {str(raw)[:40]!r}") from None
    if value > MAX_LIMIT_OR_SKIP:
        raise ParseError(ErrorCode.INVALID_QUERY, f"{name} must be at most {MAX_LIMIT_OR_SKIP}")
    return max(value, 0) if name == "skip" else (default if value < 0 else value)


def list_param(raw: Any, limit: int = MAX_LIST_NAMES, name: str = "keys", what: str = "fields") -> list[str] | None:
    """A list parameter (a JSON array or comma-separated names) of at most `limit` entries (else 102)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, list):
        names = [str(k) for k in raw[:limit + 1]]
    else:
        names = [k.strip() for k in str(raw).split(",", limit + 1)[:limit + 1] if k.strip()]
    if len(names) > limit:
        raise ParseError(ErrorCode.INVALID_QUERY, f"{name} may name at most {limit} {what}")
    return names


def _dig(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _include_tree(schema: ClassSchema, paths: list[str]) -> dict[str, dict]:
    tree: dict[str, dict] = {}
    for path in paths:
        if path == "*":
            for name, kind in schema.fields.items():
                if kind.type in ("Pointer", "Array"):
                    tree.setdefault(name, {})
            continue
        cursor = tree
        for part in path.split("."):
            cursor = cursor.setdefault(part, {})
    return tree


def _pointers_in(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and value.get("__type") == "Pointer":
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict) and v.get("__type") == "Pointer"]
    return []


def _replace_pointers(value: Any, fetched: dict[tuple[str, str], dict[str, Any]]) -> Any:
    if isinstance(value, dict) and value.get("__type") == "Pointer":
        return fetched.get((value["className"], value["objectId"]), value)
    if isinstance(value, list):
        return [_replace_pointers(v, fetched) for v in value]
    return value
