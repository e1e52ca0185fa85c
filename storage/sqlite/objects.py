"""Object reads and writes on one connection; writes run inside the writer's transaction, so each is atomic and
a read-modify-write (`apply_changes`) cannot race another write."""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import msgspec

from storage.adapter import Document, FindOptions
from storage.changes import Changes, updated_document
from storage.errors import ErrorCode, ParseError
from storage.query import Node
from storage.schema import ClassSchema, default_fields
from storage.sqlite import layout
from storage.sqlite.classes import ClassStore
from storage.sqlite.query_shapes import translate_by_shape
from storage.sqlite.translate import SchemaLookup, Translator, join_table, quote
from storage.values import FieldType, type_of

_decode = msgspec.json.Decoder(dict).decode


def is_missing_table(exc: sqlite3.OperationalError, table: str) -> bool:
    return str(exc) == f"no such table: {table}"


def select_sql(class_name: str, where: Node, options: FindOptions,
               schema_of: SchemaLookup) -> tuple[str, dict[str, Any]]:
    """The statement a find runs: documents matching `where`, in order, paged."""
    query = translate_by_shape(class_name, where, options.order, schema_of)
    sql = f"SELECT doc FROM {quote(class_name)} WHERE {query.where}"
    if query.order:
        sql += f" ORDER BY {query.order}"
    params = query.params
    if options.limit is not None or options.skip:
        sql += " LIMIT :limit OFFSET :skip"
        params = {**params, "limit": -1 if options.limit is None else max(options.limit, 0),
                  "skip": max(options.skip, 0)}
    return sql, params


class WriteStatements:
    """A class's INSERT and UPDATE: the document, and each value column set from it by SQLite's own
    `json_extract` in the same statement (exactly what a query on the document would have compared). Kept per
    class while its schema is the same object (layout.SchemaCache gives one object per stored schema)."""

    def __init__(self) -> None:
        self._by_class: dict[str, tuple[ClassSchema | None, str, str]] = {}

    def of(self, class_name: str, schema: ClassSchema | None) -> tuple[str, str]:
        kept = self._by_class.get(class_name)
        if kept is not None and kept[0] is schema:
            return kept[1], kept[2]
        columns = layout.value_columns(schema) if schema is not None else []
        table = quote(class_name)
        names = "".join(f", {column}" for column, _ in columns)
        values = "".join(f", json_extract(:doc, '{path}')" for _, path in columns)
        sets = "".join(f", {column} = json_extract(:doc, '{path}')" for column, path in columns)
        insert = f"INSERT INTO {table} (objectId, doc{names}) VALUES (:objectId, :doc{values})"
        update = f"UPDATE {table} SET doc = :doc{sets} WHERE objectId = :objectId"
        self._by_class[class_name] = (schema, insert, update)
        return insert, update


class ObjectStore:
    def __init__(self, classes: ClassStore) -> None:
        self.classes = classes
        self.schemas = classes.schemas
        self.statements = WriteStatements()

    def _translator(self, conn: sqlite3.Connection, class_name: str, schema: ClassSchema | None = None) -> Translator:
        """A translator reading schemas on `conn`; `schema`, when given, is the class's own, already read."""
        if schema is None:
            return Translator(class_name, lambda name: self.schemas.load(conn, name))
        return Translator(class_name, lambda name: schema if name == class_name else self.schemas.load(conn, name))

    # --- reads ----------------------------------------------------------------------------------------------
    def find(self, conn: sqlite3.Connection, class_name: str, where: Node, options: FindOptions) -> list[Document]:
        sql, params = select_sql(class_name, where, options, lambda name: self.schemas.load(conn, name))
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if is_missing_table(exc, class_name):
                return []
            raise
        return [_decode(row[0]) for row in rows]

    def count(self, conn: sqlite3.Connection, class_name: str, where: Node) -> int:
        translator = self._translator(conn, class_name)
        sql = f"SELECT count(*) FROM {quote(class_name)} WHERE {translator.where(where)}"
        try:
            return int(conn.execute(sql, translator.params).fetchone()[0])
        except sqlite3.OperationalError as exc:
            if is_missing_table(exc, class_name):
                return 0
            raise

    def related_ids(self, conn: sqlite3.Connection, class_name: str, field: str,
                    owning_ids: tuple[str, ...]) -> list[str]:
        return self._join_lookup(conn, class_name, field, "relatedId", "owningId", owning_ids)

    def owning_ids(self, conn: sqlite3.Connection, class_name: str, field: str,
                   related_ids: tuple[str, ...]) -> list[str]:
        return self._join_lookup(conn, class_name, field, "owningId", "relatedId", related_ids)

    def _join_lookup(self, conn: sqlite3.Connection, class_name: str, field: str, wanted: str, given: str,
                     ids: tuple[str, ...]) -> list[str]:
        table = join_table(class_name, field)
        sql = (f"SELECT DISTINCT {wanted} FROM {quote(table)} "
               f"WHERE {given} IN (SELECT value FROM json_each(?)) ORDER BY {wanted}")
        try:
            return [row[0] for row in conn.execute(sql, (layout.encode(list(ids)),))]
        except sqlite3.OperationalError as exc:
            if is_missing_table(exc, table):
                return []
            raise

    # --- writes ---------------------------------------------------------------------------------------------
    def insert(self, conn: sqlite3.Connection, class_name: str, document: Document, changes: Changes | None) -> None:
        object_id = document.get("objectId")
        if not isinstance(object_id, str) or not object_id:
            raise ParseError(ErrorCode.MISSING_OBJECT_ID, "objectId is required")
        row = {"objectId": object_id, "doc": layout.encode(document)}
        try:
            conn.execute(self.statements.of(class_name, self.schemas.load(conn, class_name))[0], row)
        except sqlite3.OperationalError as exc:
            if not is_missing_table(exc, class_name):
                raise
            # Parse creates a class on its first object
            self.classes.ensure_fields(conn, class_name, _implied_fields(class_name, document))
            conn.execute(self.statements.of(class_name, self.schemas.load(conn, class_name))[0], row)
        if changes is not None and changes.relations:
            self._apply_relations(conn, class_name, object_id, changes)

    def update(self, conn: sqlite3.Connection, class_name: str, object_id: str, changes: Changes, where: Node,
               updated_at: str, extra: Mapping[str, Any] | None) -> tuple[Document, Document] | None:
        schema = self.schemas.load(conn, class_name)
        before = self._select_one(conn, class_name, object_id, where, schema)
        if before is None:
            return None
        after = updated_document(before, changes, updated_at, extra)
        conn.execute(self.statements.of(class_name, schema)[1], {"objectId": object_id, "doc": layout.encode(after)})
        if changes.relations:
            self._apply_relations(conn, class_name, object_id, changes)
        return before, after

    def delete(self, conn: sqlite3.Connection, class_name: str, object_id: str, where: Node) -> Document | None:
        document = self._select_one(conn, class_name, object_id, where)
        if document is None:
            return None
        conn.execute(f"DELETE FROM {quote(class_name)} WHERE objectId = ?", (object_id,))
        for table in layout.join_tables(conn, class_name):
            conn.execute(f"DELETE FROM {quote(table)} WHERE owningId = ?", (object_id,))
        return document

    def purge(self, conn: sqlite3.Connection, class_name: str) -> None:
        try:
            conn.execute(f"DELETE FROM {quote(class_name)}")
        except sqlite3.OperationalError as exc:
            if is_missing_table(exc, class_name):
                return
            raise
        for table in layout.join_tables(conn, class_name):
            conn.execute(f"DELETE FROM {quote(table)}")

    def _select_one(self, conn: sqlite3.Connection, class_name: str, object_id: str, where: Node,
                    schema: ClassSchema | None = None) -> Document | None:
        translator = self._translator(conn, class_name, schema)
        sql = f"SELECT doc FROM {quote(class_name)} WHERE objectId = :objectId AND ({translator.where(where)})"
        try:
            row = conn.execute(sql, {**translator.params, "objectId": object_id}).fetchone()
        except sqlite3.OperationalError as exc:
            if is_missing_table(exc, class_name):
                return None
            raise
        return _decode(row[0]) if row is not None else None

    def _apply_relations(self, conn: sqlite3.Connection, class_name: str, object_id: str, changes: Changes) -> None:
        for field, change in changes.relations.items():
            table = quote(layout.ensure_join_table(conn, class_name, field))
            if change.add:
                conn.executemany(f"INSERT OR IGNORE INTO {table} (owningId, relatedId) VALUES (?, ?)",
                                 [(object_id, related) for related in change.add])
            if change.remove:
                conn.executemany(f"DELETE FROM {table} WHERE owningId = ? AND relatedId = ?",
                                 [(object_id, related) for related in change.remove])


def _implied_fields(class_name: str, document: Document) -> dict[str, FieldType]:
    defaults = default_fields(class_name)
    fields: dict[str, FieldType] = {}
    for key, value in document.items():
        if key.startswith("_") or key in defaults:
            continue
        kind = type_of(value)
        if kind is not None:
            fields[key] = kind
    return fields
