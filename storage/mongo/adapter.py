"""MongoAdapter: the StorageAdapter on MongoDB, in Parse Server's own layout, so existing Parse databases work.

One AsyncMongoClient per adapter (pool and timeouts from the URI); the database is the URI's path ("parse" when
there is none). Objects live in one collection per class, relations in `_Join:<field>:<Class>`, schemas in
`_SCHEMA`. Every driver error leaves as a ParseError (storage.mongo.errors).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.collation import Collation
from pymongo.errors import DuplicateKeyError, ExecutionTimeout, OperationFailure
from pymongo.uri_parser import parse_uri

from storage.adapter import Document, FindOptions
from storage.changes import Changes, RelationChange
from storage.errors import ErrorCode, ParseError
from storage.mongo.aggregation import decode_row, translate_pipeline
from storage.mongo.errors import UPDATE_SHAPE_ERRORS, is_missing_geo_index, translated
from storage.mongo.filters import FilterBuilder, combine, split_near
from storage.mongo.schemas import (
    SCHEMA_COLLECTION,
    schema_document,
    schema_from_document,
    stored_clp,
    stored_options,
    type_string,
)
from storage.mongo.transform import (
    Fields,
    decode_document,
    decode_interior,
    decode_pointer,
    decode_top,
    encode_document,
    mongo_key,
    mongo_path,
)
from storage.mongo.updates import (
    after_update,
    needs_whole_document,
    as_pipeline,
    at_least_stamped,
    replacement,
    unchanged_guard,
    update_document,
)
from storage.query import Node
from storage.schema import ClassSchema, FieldOptions, default_fields, merge_fields, new_schema, updated_options
from storage.task_local import TaskLocal
from storage.values import FieldType, type_of

T = TypeVar("T")

DEFAULT_DATABASE = "parse"
# Applied unless the URI sets them: a dead or silent server fails an operation, it never hangs it.
DEFAULT_OPTIONS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 30000,
                   "appname": "livequery-server"}
# Every query carries a server-side time limit: a query MongoDB cannot finish in time (a pathological regex,
# a scan of a huge class) ends with TIMEOUT 124 instead of holding a connection and a server thread.
DEFAULT_QUERY_TIME_MS = 15_000
_GEO_TYPES = ("GeoPoint", "Polygon")
_CAS_ATTEMPTS = 16
_EVERYTHING = FindOptions()
# Every BSON type but null: unique indexes leave null and missing values unchecked.
_NON_NULL_TYPES = ["string", "number", "bool", "date", "object", "array", "binData", "objectId"]


def join_collection(class_name: str, field: str) -> str:
    return f"_Join:{field}:{class_name}"


class MongoAdapter:
    """Async persistence on MongoDB (or a wire-compatible server) in Parse Server's layout."""

    def __init__(self, uri: str, *, query_time_ms: int = DEFAULT_QUERY_TIME_MS) -> None:
        """`uri` is a MongoDB connection string; its path names the database (`mongodb://host/parse`).
        `query_time_ms` is the `maxTimeMS` every find, count, aggregate and distinct is sent with."""
        self._max_time_ms = query_time_ms
        with translated("reading the MongoDB URI"):
            parsed = parse_uri(uri)
            given = {key.lower() for key in parsed["options"]}
            options: dict[str, Any] = {k: v for k, v in DEFAULT_OPTIONS.items() if k.lower() not in given}
            self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                uri, tz_aware=True, connect=False, **options)
        self._db = self._client[parsed["database"] or DEFAULT_DATABASE]
        self._transactions = False
        self._indexed_joins: set[str] = set()
        # the session of the current task's `transaction()` block, per adapter
        self._session: TaskLocal[AsyncClientSession] = TaskLocal(f"mongo-session-{id(self)}")

    @property
    def database_name(self) -> str:
        return self._db.name

    @property
    def database(self) -> AsyncDatabase[dict[str, Any]]:
        """The database, for neighbours that share this client (GridFS files)."""
        return self._db

    async def open(self) -> None:
        with translated("connecting"):
            hello = await self._db.command("hello")
        # Multi-document transactions need a replica set or mongos; a standalone server gets ordered writes.
        self._transactions = bool(hello.get("logicalSessionTimeoutMinutes") is not None
                                  and (hello.get("setName") or hello.get("msg") == "isdbgrid"))

    async def close(self) -> None:
        await self._client.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One MongoDB transaction for the block's writes, where the deployment has them (a replica set or
        mongos); a standalone server is COMMAND_UNAVAILABLE before anything is written."""
        if self._session.get() is not None:
            yield
            return
        if not self._transactions:
            raise ParseError(ErrorCode.COMMAND_UNAVAILABLE,
                             "Transactions need MongoDB as a replica set or a sharded cluster; this server is "
                             "standalone")
        with translated("running a transaction"):
            async with self._client.start_session() as session:
                await session.start_transaction()
                try:
                    with self._session.bound(session):
                        yield
                except BaseException:
                    await session.abort_transaction()
                    raise
                await session.commit_transaction()

    # --- schemas -------------------------------------------------------------------------------------------
    @property
    def _schemas(self) -> AsyncCollection[dict[str, Any]]:
        return self._db[SCHEMA_COLLECTION]

    async def get_all_schemas(self) -> list[ClassSchema]:
        with translated("reading schemas"):
            documents = await self._schemas.find({}).to_list(None)
        schemas = [schema_from_document(d) for d in documents if isinstance(d.get("_id"), str)]
        return sorted(schemas, key=lambda schema: schema.class_name)

    async def get_schema(self, class_name: str) -> ClassSchema | None:
        with translated("reading a schema"):
            document = await self._schemas.find_one({"_id": class_name})
        return None if document is None else schema_from_document(document)

    async def _fields(self, class_name: str) -> Fields:
        schema = await self.get_schema(class_name)
        return schema.fields if schema is not None else {}

    async def ensure_fields(self, class_name: str, fields: Mapping[str, FieldType]) -> ClassSchema:
        with translated("adding fields"):
            current = await self.get_schema(class_name)
            if current is None:
                fresh = new_schema(class_name)
                added = merge_fields(fresh, fields)
                schema = ClassSchema(class_name, {**fresh.fields, **added}, fresh.clp)
                try:
                    await self._schemas.insert_one(schema_document(schema))
                    await self._create_geo_indexes(class_name, added)
                    return schema
                except DuplicateKeyError:  # created meanwhile by another caller
                    current = await self.get_schema(class_name)
                    if current is None:
                        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, f"schema of {class_name} vanished") from None
            for _ in range(_CAS_ATTEMPTS):
                missing = merge_fields(current, fields)  # INCORRECT_TYPE if a field has another type
                if not missing:
                    return current
                stored = {_schema_key(class_name, name): type_string(kind) for name, kind in missing.items()}
                # all or nothing: only while none of them exists (a concurrent caller may be adding them)
                result = await self._schemas.update_one(
                    {"_id": class_name, **{key: {"$exists": False} for key in stored}}, {"$set": stored})
                reread = await self.get_schema(class_name)
                if reread is None:
                    raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
                current = reread
                if result.matched_count:
                    await self._create_geo_indexes(class_name, missing)
                    return current
            raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, f"the schema of {class_name} kept changing")

    async def create_class(self, schema: ClassSchema) -> ClassSchema:
        with translated("creating a class"):
            try:
                await self._schemas.insert_one(schema_document(schema))
            except DuplicateKeyError:
                raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {schema.class_name} already exists.") from None
            await self._create_geo_indexes(schema.class_name, schema.fields)
            for name, spec in schema.indexes.items():
                await self._create_index(schema.class_name, schema.fields, name, spec)
        created = await self.get_schema(schema.class_name)
        return created if created is not None else schema

    async def update_class(self, class_name: str, *, add_fields: Mapping[str, FieldType] | None = None,
                           delete_fields: tuple[str, ...] = (), clp: dict[str, Any] | None = None,
                           add_indexes: Mapping[str, dict[str, Any]] | None = None,
                           drop_indexes: tuple[str, ...] = (),
                           field_options: Mapping[str, FieldOptions] | None = None) -> ClassSchema:
        with translated("updating a class"):
            current = await self.get_schema(class_name)
            if current is None:
                raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
            sets: dict[str, Any] = {}
            unsets: dict[str, str] = {}
            indexes = dict(current.indexes)
            for name in delete_fields:
                if name not in current.fields:
                    raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} does not exist, cannot update.")
            for name in add_fields or {}:
                if name in current.fields and name not in delete_fields:
                    raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} exists, cannot update.")
            for name in drop_indexes:
                if name not in indexes:
                    raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} does not exist, cannot delete.")
            for name in add_indexes or {}:
                if name in indexes or name == "_id_":
                    raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} exists, cannot update.")
            remaining = {k: v for k, v in current.fields.items() if k not in delete_fields}
            added = merge_fields(ClassSchema(class_name, remaining), add_fields or {})
            sets.update({_schema_key(class_name, name): type_string(kind) for name, kind in added.items()})
            fields = {**remaining, **added}
            options = updated_options(ClassSchema(class_name, fields, options=current.options), delete_fields,
                                      field_options)
            gone = set(delete_fields)
            stale = [name for name, spec in indexes.items() if isinstance(spec, Mapping) and gone & set(spec)]
            for name in (*stale, *drop_indexes):
                await self._drop_index(class_name, name)
                unsets[f"_metadata.indexes.{name}"] = ""
            for name, spec in (add_indexes or {}).items():
                await self._create_index(class_name, fields, name, spec)
                sets[f"_metadata.indexes.{name}"] = spec
            if clp is not None:
                sets["_metadata.class_permissions"] = stored_clp(clp)
            if options != current.options:
                sets["_metadata.fields_options"] = stored_options(options)
            object_unsets: dict[str, str] = {}
            for name in delete_fields:
                kind = current.fields.get(name)
                unsets.setdefault(_schema_key(class_name, name), "")
                if kind is not None and kind.type == "Relation":
                    await self._db.drop_collection(join_collection(class_name, name))
                else:
                    object_unsets[mongo_key(name, current.fields)] = ""
            update: dict[str, Any] = {}
            if sets:
                update["$set"] = sets
            if unsets:
                update["$unset"] = unsets
            for key in list(unsets):
                if key in sets:  # a field deleted and added again in one call
                    del unsets[key]
            if update:
                await self._schemas.update_one({"_id": class_name}, update)
            if object_unsets:
                await self._db[class_name].update_many({}, {"$unset": object_unsets})
            await self._create_geo_indexes(class_name, added)
        updated = await self.get_schema(class_name)
        if updated is None:
            raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
        return updated

    async def delete_class(self, class_name: str) -> None:
        with translated("deleting a class"):
            schema = await self.get_schema(class_name)
            if schema is None:
                raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
            fields = schema.fields
            count = await self._db[class_name].count_documents({})
            if count:
                raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION,
                                 f"Class {class_name} is not empty, contains {count} objects, cannot drop schema.")
            await self._db.drop_collection(class_name)
            for name in _relation_fields(fields):
                await self._db.drop_collection(join_collection(class_name, name))
            await self._schemas.delete_one({"_id": class_name})

    async def ensure_unique(self, class_name: str, field: str, *, case_insensitive: bool = False) -> None:
        with translated("creating a unique index"):
            if field == "objectId":
                return  # `_id` is unique already
            fields = await self._fields(class_name) or (await self.ensure_fields(class_name, {})).fields
            key = mongo_key(field, fields)
            collection = self._db[class_name]
            for info in (await collection.index_information()).values():
                if info.get("key") == [(key, 1)] and info.get("unique") and \
                        _is_case_insensitive(info) == case_insensitive:
                    return  # e.g. parse-server's own `username_1` (unique, sparse)
            options: dict[str, Any] = {
                "unique": True, "name": f"unique_ci_{field}" if case_insensitive else f"unique_{field}",
                "partialFilterExpression": {key: {"$type": _NON_NULL_TYPES}}}
            if case_insensitive:
                options["collation"] = Collation(locale="en", strength=2)
            try:
                await collection.create_index([(key, ASCENDING)], **options)
            except DuplicateKeyError:
                raise ParseError(ErrorCode.DUPLICATE_VALUE,
                                 "Tried to ensure field uniqueness for a class that already has duplicates.") from None

    # --- objects ------------------------------------------------------------------------------------------
    async def insert(self, class_name: str, document: Document, changes: Changes | None = None) -> None:
        with translated("creating an object"):
            schema = await self.get_schema(class_name)
            if schema is None:  # Parse creates a class on its first object
                schema = await self.ensure_fields(class_name, implied_fields(class_name, document))
            fields = schema.fields
            stored = encode_document(class_name, document, fields)
            relations = changes.relations if changes is not None else {}
            object_id = str(document["objectId"])
            await self._prepare_joins(class_name, relations)

            async def work(session: AsyncClientSession | None) -> None:
                await self._db[class_name].insert_one(stored, session=session)
                try:
                    await self._write_relations(class_name, object_id, relations, session)
                except BaseException:
                    if session is None:  # no transaction to roll back: take the object out again
                        await self._db[class_name].delete_one({"_id": object_id})
                    raise

            await self._atomically(work)

    async def update(self, class_name: str, object_id: str, changes: Changes, where: Node,
                     updated_at: str, extra: Mapping[str, Any] | None = None) -> tuple[Document, Document] | None:
        with translated("updating an object"):
            fields = await self._fields(class_name)
            selector = combine([{"_id": object_id}, await self._builder(class_name, fields).build(where)])
            await self._prepare_joins(class_name, changes.relations)
            if needs_whole_document(class_name, changes):
                return await self._update_by_replacement(class_name, selector, changes, fields, updated_at, extra)
            operators = update_document(class_name, changes, fields, updated_at, extra)
            # stamped in the update itself, so `updatedAt` grows in commit order (storage.changes.commit_stamp)
            pipeline = as_pipeline(operators, updated_at) if changes.ops else None
            try:
                stored = await self._atomically(self._operator_write(
                    class_name, object_id, selector, pipeline if pipeline is not None else at_least_stamped(operators),
                    changes))
            except OperationFailure as exc:
                if exc.code not in UPDATE_SHAPE_ERRORS:
                    raise
                # The ops do not fit the stored values (e.g. Increment on a string): apply them here, then
                # compare-and-set, which raises INVALID_JSON where they really cannot apply.
                return await self._update_by_replacement(class_name, selector, changes, fields, updated_at, extra)
            if stored is None:
                return None
            before = decode_document(class_name, stored, fields)
            after = after_update(class_name, before, changes, fields, updated_at, extra)
            if pipeline is None:  # `$max`: the stored stamp, which may equal the one before
                after["updatedAt"] = max(updated_at, before.get("updatedAt") or updated_at)
            return before, after

    def _operator_write(self, class_name: str, object_id: str, selector: dict[str, Any],
                        update: dict[str, Any] | list[dict[str, Any]], changes: Changes
                        ) -> Callable[[AsyncClientSession | None], Awaitable[dict[str, Any] | None]]:
        """One atomic update (operators or a pipeline): the stored document before it, or None when `selector`
        matched none."""
        async def work(session: AsyncClientSession | None) -> dict[str, Any] | None:
            stored = await self._db[class_name].find_one_and_update(
                selector, update, return_document=ReturnDocument.BEFORE, session=session)
            if stored is not None:
                await self._write_relations(class_name, object_id, changes.relations, session)
            return stored

        return work

    async def _update_by_replacement(self, class_name: str, selector: dict[str, Any], changes: Changes,
                                     fields: Fields, updated_at: str,
                                     extra: Mapping[str, Any] | None) -> tuple[Document, Document] | None:
        for _ in range(_CAS_ATTEMPTS):
            stored = await self._db[class_name].find_one(selector)
            if stored is None:
                return None
            before = decode_document(class_name, stored, fields)
            after = after_update(class_name, before, changes, fields, updated_at, extra)
            wanted = encode_document(class_name, after, fields)
            wanted["_id"] = stored["_id"]
            update = replacement(stored, wanted)
            touched = set(update.get("$set", {})) | set(update.get("$unset", {}))
            guarded = combine([selector, unchanged_guard(stored, touched)])
            if await self._atomically(self._guarded_write(class_name, str(stored["_id"]), guarded, update, changes)):
                return before, after
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR, "the object kept changing during the update; try again")

    def _guarded_write(self, class_name: str, object_id: str, guarded: dict[str, Any], update: dict[str, Any],
                       changes: Changes) -> Callable[[AsyncClientSession | None], Awaitable[bool]]:
        """The write of a compare-and-set: False (nothing written) when the object changed meanwhile."""
        async def work(session: AsyncClientSession | None) -> bool:
            if update:
                result = await self._db[class_name].update_one(guarded, update, session=session)
                if result.matched_count == 0:
                    return False
            await self._write_relations(class_name, object_id, changes.relations, session)
            return True

        return work

    async def delete(self, class_name: str, object_id: str, where: Node) -> Document | None:
        with translated("deleting an object"):
            fields = await self._fields(class_name)
            selector = combine([{"_id": object_id}, await self._builder(class_name, fields).build(where)])

            async def work(session: AsyncClientSession | None) -> dict[str, Any] | None:
                stored = await self._db[class_name].find_one_and_delete(selector, session=session)
                if stored is not None:
                    for name in _relation_fields(fields):
                        await self._db[join_collection(class_name, name)].delete_many(
                            {"owningId": object_id}, session=session)
                return stored

            stored = await self._atomically(work)
        return None if stored is None else decode_document(class_name, stored, fields)

    async def find(self, class_name: str, where: Node, options: FindOptions = _EVERYTHING) -> list[Document]:
        if options.limit is not None and options.limit <= 0:
            return []
        with translated("finding objects"):
            fields = await self._fields(class_name)
            builder = self._builder(class_name, fields)
            near, rest = split_near(where) if not options.order else (None, where)
            collection = self._db[class_name]
            if near is None:
                cursor = collection.find(await builder.build(where), skip=options.skip,
                                         limit=options.limit or 0, sort=builder.sort(options.order) or None,
                                         max_time_ms=self._max_time_ms)
                stored = await cursor.to_list(None)
            else:
                key = mongo_path(class_name, near.path, fields)
                pipeline: list[dict[str, Any]] = [near.stage(key, await builder.build(rest))]
                if options.skip:
                    pipeline.append({"$skip": options.skip})
                if options.limit is not None:
                    pipeline.append({"$limit": options.limit})
                pipeline.append({"$project": {"__distance": 0}})
                stored = await self._aggregate_near(collection, key, pipeline)
        return [decode_document(class_name, document, fields) for document in stored]

    async def _aggregate_near(self, collection: AsyncCollection[dict[str, Any]], key: str,
                              pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return await (await collection.aggregate(pipeline, maxTimeMS=self._max_time_ms)).to_list(None)
        except OperationFailure as exc:
            if not is_missing_geo_index(exc):
                raise
        await collection.create_index([(key, "2dsphere")])  # a database parse-server made without one
        return await (await collection.aggregate(pipeline, maxTimeMS=self._max_time_ms)).to_list(None)

    async def count(self, class_name: str, where: Node) -> int:
        with translated("counting objects"):
            fields = await self._fields(class_name)
            return await self._db[class_name].count_documents(await self._builder(class_name, fields).build(where),
                                                              maxTimeMS=self._max_time_ms)

    async def purge(self, class_name: str) -> None:
        with translated("purging a class"):
            fields = await self._fields(class_name)
            await self._db[class_name].delete_many({})
            for name in _relation_fields(fields):
                await self._db[join_collection(class_name, name)].delete_many({})

    # --- aggregation (beyond the StorageAdapter protocol: `/aggregate` checks for these) --------------------
    async def aggregate(self, class_name: str, pipeline: list[dict[str, Any]]) -> list[Document]:
        """Run a pipeline of one-key stages written with REST field names (storage.mongo.aggregation) over the
        class; rows in REST form. A pipeline MongoDB refuses is INVALID_QUERY, as in parse-server."""
        with translated("aggregating"):
            fields = await self._fields(class_name)
            stages, grouped_by_pointer = translate_pipeline(class_name, pipeline, fields)
            try:
                rows = await (await self._db[class_name].aggregate(stages, maxTimeMS=self._max_time_ms)).to_list(None)
            except ExecutionTimeout:
                raise
            except OperationFailure as exc:
                raise ParseError(ErrorCode.INVALID_QUERY, f"aggregate failed: {exc}") from None
        return [decode_row(class_name, row, fields, grouped_by_pointer) for row in rows]

    async def distinct(self, class_name: str, field: str, where: Node) -> list[Any]:
        """The distinct non-null values of `field` (a dotted path may reach into Objects) among the objects
        matching `where`; an array field gives its elements, as MongoDB's `distinct` does."""
        path = tuple(field.split("."))
        with translated("reading distinct values"):
            fields = await self._fields(class_name)
            key = mongo_path(class_name, path, fields)
            selector = await self._builder(class_name, fields).build(where)
            try:
                values = await self._db[class_name].distinct(key, selector, maxTimeMS=self._max_time_ms)
            except ExecutionTimeout:
                raise
            except OperationFailure as exc:
                raise ParseError(ErrorCode.INVALID_QUERY, f"distinct failed: {exc}") from None
        if len(path) > 1:
            return [decode_interior(value) for value in values if value is not None]
        if key.startswith("_p_"):
            return [decode_pointer(value) for value in values if value is not None]
        kind = fields.get(field)
        return [decode_top(value, kind) for value in values if value is not None]

    # --- relations ----------------------------------------------------------------------------------------
    async def relation_target(self, class_name: str, field: str) -> str | None:
        kind = (await self._fields(class_name)).get(field)
        return kind.target_class if kind is not None and kind.type == "Relation" else None

    async def related_ids(self, class_name: str, field: str, owning_ids: tuple[str, ...]) -> list[str]:
        with translated("reading a relation"):
            rows = await self._db[join_collection(class_name, field)].find(
                {"owningId": {"$in": list(owning_ids)}}, {"relatedId": 1, "_id": 0}).to_list(None)
        return sorted({str(row["relatedId"]) for row in rows if "relatedId" in row})

    async def owning_ids(self, class_name: str, field: str, related_ids: tuple[str, ...]) -> list[str]:
        with translated("reading a relation"):
            rows = await self._db[join_collection(class_name, field)].find(
                {"relatedId": {"$in": list(related_ids)}}, {"owningId": 1, "_id": 0}).to_list(None)
        return sorted({str(row["owningId"]) for row in rows if "owningId" in row})

    async def _prepare_joins(self, class_name: str, relations: Mapping[str, RelationChange]) -> None:
        """Indexes (and so the collections) of the join tables a write touches; never inside a transaction."""
        for field in relations:
            name = join_collection(class_name, field)
            if name not in self._indexed_joins:
                await self._db[name].create_index([("owningId", ASCENDING), ("relatedId", ASCENDING)])
                await self._db[name].create_index([("relatedId", ASCENDING)])
                self._indexed_joins.add(name)

    async def _write_relations(self, class_name: str, object_id: str, relations: Mapping[str, RelationChange],
                               session: AsyncClientSession | None) -> None:
        for field, change in relations.items():
            collection = self._db[join_collection(class_name, field)]
            if change.add:
                await collection.bulk_write(
                    [UpdateOne({"owningId": object_id, "relatedId": related},
                               {"$set": {"owningId": object_id, "relatedId": related}}, upsert=True)
                     for related in dict.fromkeys(change.add)], session=session)
            if change.remove:
                await collection.delete_many({"owningId": object_id, "relatedId": {"$in": list(change.remove)}},
                                             session=session)

    # --- helpers ------------------------------------------------------------------------------------------
    def _builder(self, class_name: str, fields: Fields) -> FilterBuilder:
        return FilterBuilder(class_name, fields, self)

    async def _atomically(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run `work` in a transaction where the server has them (replica set, mongos), else plainly; inside a
        `transaction()` block, as part of its transaction."""
        session = self._session.get()
        if session is not None:
            return await work(session)
        if not self._transactions:
            return await work(None)
        async with self._client.start_session() as session:
            return await session.with_transaction(work)

    async def _create_geo_indexes(self, class_name: str, fields: Mapping[str, FieldType]) -> None:
        for name, kind in fields.items():
            if kind.type in _GEO_TYPES:
                await self._db[class_name].create_index([(name, "2dsphere")])

    async def _drop_index(self, class_name: str, name: str) -> None:
        try:
            await self._db[class_name].drop_index(name)
        except OperationFailure as exc:
            if exc.code not in (26, 27):  # no such collection / index
                raise

    async def _create_index(self, class_name: str, fields: Fields, name: str, spec: Mapping[str, Any]) -> None:
        keys = []
        for field, direction in spec.items():
            plain = field.removeprefix("_p_")
            if plain not in fields and field not in ("_id", "$**"):
                raise ParseError(ErrorCode.INVALID_QUERY, f"Field {plain} does not exist, cannot add index.")
            keys.append((field if field.startswith("_p_") else mongo_path(class_name, (field,), fields), direction))
        try:
            await self._db[class_name].create_index(keys, name=name)
        except OperationFailure as exc:
            raise ParseError(ErrorCode.INVALID_QUERY, f"cannot create index {name}: {exc}") from None


def implied_fields(class_name: str, document: Document) -> dict[str, FieldType]:
    """The fields a first object implies for its new class (its internal and default keys aside)."""
    defaults = default_fields(class_name)
    fields: dict[str, FieldType] = {}
    for key, value in document.items():
        if not key.startswith("_") and key not in defaults:
            kind = type_of(value)
            if kind is not None:
                fields[key] = kind
    return fields


def _schema_key(class_name: str, name: str) -> str:
    return "_hashed_password" if class_name == "_User" and name == "password" else name


def _relation_fields(fields: Fields) -> list[str]:
    return [name for name, kind in fields.items() if kind.type == "Relation"]


def _is_case_insensitive(index: Mapping[str, Any]) -> bool:
    collation = index.get("collation")
    return isinstance(collation, dict) and collation.get("strength", 3) <= 2
