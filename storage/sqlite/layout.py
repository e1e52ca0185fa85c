"""How classes live in SQLite: the `_schema` table, one table per class, relation join tables, and indexes.

A class table holds `objectId`, the whole object as JSON in `doc`, and a value column for each comparable
top-level field of its schema (String, Number, Boolean, Date, Pointer: translate.value_column), which every write
sets from the document in the same statement. Queries compare and sort on those columns and their indexes
instead of parsing each row's JSON; the document stays what reads return.

Index names: `<Class>$<field>` for a field's own index, `<Class>$unique$<field>` (`unique_ci`) for unique
ones, with the field's case-safe name (translate.case_safe: `dueAt` -> `due^at`, since SQLite's names ignore
case), and `<Class>#<name>` for indexes added through the schemas API.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema, validate_class_name
from storage.sqlite.translate import (
    case_safe,
    field_expr,
    has_value_column,
    join_table,
    json_path,
    quote,
    value_column,
    value_path,
)
from storage.values import FieldType

SCHEMA_TABLE = "_schema"
LAYOUT_VERSION = 1  # PRAGMA user_version: 1 since class tables have value columns (0: the document only)
_SCHEMA_DECODER = msgspec.json.Decoder(ClassSchema)
_DOC_ENCODER = msgspec.json.Encoder()


OPEN_LOCK_WAIT_MS = 600_000  # how long opening waits for another process's upgrade (or long write) to end


def create_store(conn: sqlite3.Connection) -> None:
    """The schema table, and a database written before value columns brought up to date: once, by the first
    process to open it, in one transaction. An up-to-date database is opened without taking the write lock."""
    if _check_version(conn.execute("PRAGMA user_version").fetchone()[0]) == LAYOUT_VERSION:
        return
    # Others opening it meanwhile wait for the upgrade, however long: a big database's takes longer than a
    # write's usual busy timeout, and a worker that gave up would only be started again, to wait again.
    busy_timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {max(busy_timeout, OPEN_LOCK_WAIT_MS)}")
    try:
        _create_or_upgrade(conn)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout}")


def _check_version(version: int) -> int:
    if version > LAYOUT_VERSION:
        raise ParseError(ErrorCode.INTERNAL_SERVER_ERROR,
                         f"this database has layout version {version}, written by a newer LiveQuery Server; "
                         f"this one knows versions up to {LAYOUT_VERSION}")
    return version


def _create_or_upgrade(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check_version(conn.execute("PRAGMA user_version").fetchone()[0])  # (another may have done it)
        if version < LAYOUT_VERSION:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (class_name TEXT PRIMARY KEY, body TEXT NOT NULL)")
            for schema in load_all(conn):
                _add_value_columns(conn, schema)
            conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_value_columns(conn: sqlite3.Connection, schema: ClassSchema) -> None:
    """A class table of layout 0 given its value columns, filled from its documents, and its indexes on
    document expressions rebuilt on them."""
    table = schema.class_name
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
        return
    indexes = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                 "AND tbl_name = ? AND sql IS NOT NULL", (table,))
               if name.startswith((f"{table}$", f"{table}#"))]  # ours (any other index is left as it is)
    for name in indexes:
        conn.execute(f"DROP INDEX {quote(name)}")
    add_field_storage(conn, schema, {name: kind for name, kind in schema.fields.items() if kind.type != "Relation"})
    for name in indexes:
        rest = name[len(table):]
        if rest.startswith(("$unique$", "$unique_ci$")):  # layout 0 named it with the field's own name
            field = rest.split("$", 2)[2]
            create_unique_index(conn, table, field, schema.field_type(field), rest.startswith("$unique_ci$"))
        elif rest.startswith("#") and rest[1:] in schema.indexes:
            create_named_index(conn, schema, rest[1:], schema.indexes[rest[1:]])


def field_index(class_name: str, field: str) -> str:
    return f"{class_name}${case_safe(field)}"


def unique_index(class_name: str, field: str, case_insensitive: bool) -> str:
    return f"{class_name}${'unique_ci' if case_insensitive else 'unique'}${case_safe(field)}"


def value_columns(schema: ClassSchema) -> list[tuple[str, str]]:
    """(column, JSON path in the document) for each value column of the class."""
    return [(value_column(name), value_path(name, kind)) for name, kind in schema.fields.items()
            if has_value_column(name, kind)]


def encode(value: Any) -> str:
    return _DOC_ENCODER.encode(value).decode()


def decode_schema(body: str) -> ClassSchema:
    return _SCHEMA_DECODER.decode(body)


class SchemaCache:
    """Decoded schemas keyed by their stored text: each read still sees the committed schema, decoding only
    when it changed. Shared by every connection's thread (dict operations are atomic)."""

    def __init__(self) -> None:
        self._decoded: dict[str, tuple[str, ClassSchema]] = {}

    def load(self, conn: sqlite3.Connection, class_name: str) -> ClassSchema | None:
        """The stored schema, possibly shared: callers must not mutate it."""
        row = conn.execute(f"SELECT body FROM {SCHEMA_TABLE} WHERE class_name = ?", (class_name,)).fetchone()
        if row is None:
            return None
        hit = self._decoded.get(class_name)
        if hit is not None and hit[0] == row[0]:
            return hit[1]
        schema = decode_schema(row[0])
        self._decoded[class_name] = (row[0], schema)
        return schema


def load_all(conn: sqlite3.Connection) -> list[ClassSchema]:
    rows = conn.execute(f"SELECT body FROM {SCHEMA_TABLE} ORDER BY class_name").fetchall()
    return [decode_schema(row[0]) for row in rows]


def save_schema(conn: sqlite3.Connection, schema: ClassSchema) -> ClassSchema:
    """Store the schema; returns a private copy for the caller."""
    body = encode(schema)
    conn.execute(f"INSERT INTO {SCHEMA_TABLE} (class_name, body) VALUES (?, ?) "
                 "ON CONFLICT (class_name) DO UPDATE SET body = excluded.body", (schema.class_name, body))
    return decode_schema(body)


def delete_schema(conn: sqlite3.Connection, class_name: str) -> None:
    conn.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE class_name = ?", (class_name,))


def check_new_class_name(conn: sqlite3.Connection, class_name: str) -> None:
    """SQLite names ignore letter case and reserve `sqlite_`: refuse a class they would confuse."""
    validate_class_name(class_name)
    if class_name.lower().startswith("sqlite_") or class_name.startswith("_Join:"):
        raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Invalid classname: {class_name}, this name is reserved")
    row = conn.execute(f"SELECT class_name FROM {SCHEMA_TABLE} WHERE class_name = ? COLLATE NOCASE",
                       (class_name,)).fetchone()
    if row is not None and row[0] != class_name:
        raise ParseError(ErrorCode.INVALID_CLASS_NAME,
                         f"Class {class_name} conflicts with class {row[0]}: names must differ in more than case.")


def create_class_table(conn: sqlite3.Connection, class_name: str) -> None:
    conn.execute(f"CREATE TABLE {quote(class_name)} (objectId TEXT PRIMARY KEY, doc TEXT NOT NULL)")  # +value columns


def drop_class_table(conn: sqlite3.Connection, class_name: str) -> None:
    for table in join_tables(conn, class_name):
        conn.execute(f"DROP TABLE {quote(table)}")
    conn.execute(f"DROP TABLE IF EXISTS {quote(class_name)}")


def join_tables(conn: sqlite3.Connection, class_name: str) -> list[str]:
    """Every relation join table owned by the class (GLOB is case-sensitive; names hold no wildcards)."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?",
                        (f"_Join:*:{class_name}",)).fetchall()
    return [row[0] for row in rows]


def ensure_join_table(conn: sqlite3.Connection, class_name: str, field: str) -> str:
    table = join_table(class_name, field)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} (owningId TEXT NOT NULL, relatedId TEXT NOT NULL, "
                 "PRIMARY KEY (owningId, relatedId)) WITHOUT ROWID")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(table + '$related')} ON {quote(table)} (relatedId)")
    return table


def add_field_storage(conn: sqlite3.Connection, schema: ClassSchema, fields: Mapping[str, FieldType]) -> None:
    """What new fields need: for a comparable field a value column, filled from any documents that already hold
    the field (one pass over the table, as building its index is), and its index; a join table for a relation."""
    existing = {name.lower(): name for name, kind in schema.fields.items() if kind.type == "Relation"}
    table = quote(schema.class_name)
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, kind in fields.items():
        if kind.type == "Relation":
            clash = existing.get(name.lower())
            if clash is not None and clash != name:
                raise ParseError(ErrorCode.INCORRECT_TYPE,
                                 f"relation {name} conflicts with relation {clash}: "
                                 "names must differ in more than case")
            ensure_join_table(conn, schema.class_name, name)
        elif has_value_column(name, kind):
            column = value_column(name)
            if column[1:-1] not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                path = value_path(name, kind)
                conn.execute(f"UPDATE {table} SET {column} = json_extract(doc, '{path}') "
                             f"WHERE json_extract(doc, '{path}') IS NOT NULL")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(field_index(schema.class_name, name))} "
                         f"ON {table} ({column})")


def remove_field_storage(conn: sqlite3.Connection, class_name: str, name: str, kind: FieldType) -> None:
    """Forget a field: its values in every object, its indexes, its value column, its join table. Indexes of the
    schemas API that use the field must be dropped first (ClassStore.update does)."""
    table = quote(class_name)
    path = json_path((name,))
    conn.execute(f"UPDATE {table} SET doc = json_remove(doc, '{path}') WHERE json_type(doc, '{path}') IS NOT NULL")
    for index in (field_index(class_name, name), unique_index(class_name, name, False),
                  unique_index(class_name, name, True)):
        conn.execute(f"DROP INDEX IF EXISTS {quote(index)}")
    column = value_column(name)
    if column[1:-1] in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    if kind.type == "Relation":
        conn.execute(f"DROP TABLE IF EXISTS {quote(join_table(class_name, name))}")


def create_named_index(conn: sqlite3.Connection, schema: ClassSchema, name: str, spec: Mapping[str, Any]) -> None:
    """An index from the schemas API: `{"field": 1 | -1, ...}` over fields the class has."""
    if not isinstance(spec, Mapping) or not spec:
        raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} needs at least one field.")
    terms = []
    for field, direction in spec.items():
        kind = schema.fields.get(field)
        if kind is None:
            raise ParseError(ErrorCode.INVALID_QUERY, f"Field {field} does not exist, cannot add index.")
        if direction not in (1, -1) or isinstance(direction, bool):
            raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} on {field}: only 1 and -1 are supported.")
        terms.append(field_expr(field, kind) + (" DESC" if direction == -1 else ""))
    conn.execute(f"CREATE INDEX {quote(f'{schema.class_name}#{name}')} ON {quote(schema.class_name)} "
                 f"({', '.join(terms)})")


def drop_named_index(conn: sqlite3.Connection, class_name: str, name: str) -> None:
    conn.execute(f"DROP INDEX IF EXISTS {quote(f'{class_name}#{name}')}")


def create_unique_index(conn: sqlite3.Connection, class_name: str, field: str, kind: FieldType | None,
                        case_insensitive: bool) -> None:
    expr = field_expr(field, kind)
    name = unique_index(class_name, field, case_insensitive)
    conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(name)} ON {quote(class_name)} "
                 f"({f'lower({expr})' if case_insensitive else expr})")


def indexes_using(schema: ClassSchema, fields: Iterable[str]) -> list[str]:
    gone = set(fields)
    return [name for name, spec in schema.indexes.items() if isinstance(spec, Mapping) and gone & set(spec)]
