"""Schema operations on one connection: each runs inside the caller's transaction (the writer's, for changes)."""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema, FieldOptions, default_fields, merge_fields, new_schema, updated_options
from storage.sqlite import layout
from storage.sqlite.translate import quote
from storage.values import FieldType


class ClassStore:
    def __init__(self, schemas: layout.SchemaCache) -> None:
        self.schemas = schemas

    def get(self, conn: sqlite3.Connection, class_name: str) -> ClassSchema | None:
        row = conn.execute(f"SELECT body FROM {layout.SCHEMA_TABLE} WHERE class_name = ?", (class_name,)).fetchone()
        return layout.decode_schema(row[0]) if row is not None else None

    def get_all(self, conn: sqlite3.Connection) -> list[ClassSchema]:
        return layout.load_all(conn)

    def ensure_fields(self, conn: sqlite3.Connection, class_name: str,
                      fields: Mapping[str, FieldType]) -> ClassSchema:
        schema = self.schemas.load(conn, class_name)
        if schema is None:
            return self._create(conn, new_schema(class_name), fields)
        missing = merge_fields(schema, fields)
        if not missing:
            return layout.decode_schema(layout.encode(schema))
        layout.add_field_storage(conn, schema, missing)
        return layout.save_schema(conn, msgspec.structs.replace(schema, fields={**schema.fields, **missing}))

    def create(self, conn: sqlite3.Connection, schema: ClassSchema) -> ClassSchema:
        if self.schemas.load(conn, schema.class_name) is not None:
            raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {schema.class_name} already exists.")
        base = msgspec.structs.replace(schema, fields=default_fields(schema.class_name), indexes={})
        created = self._create(conn, base, schema.fields)
        for name, spec in schema.indexes.items():
            if name != "_id_":
                layout.create_named_index(conn, created, name, spec)
        indexes = {name: spec for name, spec in schema.indexes.items() if name != "_id_"}
        return layout.save_schema(conn, msgspec.structs.replace(created, indexes=indexes))

    def _create(self, conn: sqlite3.Connection, base: ClassSchema, fields: Mapping[str, FieldType]) -> ClassSchema:
        layout.check_new_class_name(conn, base.class_name)
        layout.create_class_table(conn, base.class_name)
        missing = merge_fields(base, fields)
        schema = msgspec.structs.replace(base, fields={**base.fields, **missing})
        layout.add_field_storage(conn, base, schema.fields)
        return layout.save_schema(conn, schema)

    def update(self, conn: sqlite3.Connection, class_name: str, *,
               add_fields: Mapping[str, FieldType] | None = None, delete_fields: tuple[str, ...] = (),
               clp: dict[str, Any] | None = None, add_indexes: Mapping[str, dict[str, Any]] | None = None,
               drop_indexes: tuple[str, ...] = (),
               field_options: Mapping[str, FieldOptions] | None = None) -> ClassSchema:
        schema = self._existing(conn, class_name)
        fields, indexes = dict(schema.fields), dict(schema.indexes)
        for name in delete_fields:
            if name not in fields:
                raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} does not exist, cannot update.")
        for index in layout.indexes_using(schema, delete_fields):  # first: SQLite keeps a column an index uses
            layout.drop_named_index(conn, class_name, index)
            indexes.pop(index, None)
        for name in dict.fromkeys(delete_fields):
            layout.remove_field_storage(conn, class_name, name, fields.pop(name))
        schema = msgspec.structs.replace(schema, fields=fields, indexes=indexes)
        for name in add_fields or {}:
            if name in fields:
                raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION, f"Field {name} exists, cannot update.")
        added = merge_fields(schema, add_fields or {})
        layout.add_field_storage(conn, schema, added)
        schema = msgspec.structs.replace(schema, fields={**fields, **added})
        for name in drop_indexes:
            if name not in indexes:
                raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} does not exist, cannot delete.")
            layout.drop_named_index(conn, class_name, name)
            del indexes[name]
        for name, spec in (add_indexes or {}).items():
            if name in indexes or name == "_id_":
                raise ParseError(ErrorCode.INVALID_QUERY, f"Index {name} exists, cannot update.")
            layout.create_named_index(conn, schema, name, spec)
            indexes[name] = dict(spec)
        options = updated_options(schema, delete_fields, field_options)
        schema = msgspec.structs.replace(schema, indexes=indexes, clp=schema.clp if clp is None else clp,
                                         options=options)
        return layout.save_schema(conn, schema)

    def delete(self, conn: sqlite3.Connection, class_name: str) -> None:
        self._existing(conn, class_name)
        count = conn.execute(f"SELECT count(*) FROM {quote(class_name)}").fetchone()[0]
        if count:
            raise ParseError(ErrorCode.INVALID_SCHEMA_OPERATION,
                             f"Class {class_name} is not empty, contains {count} objects, cannot drop schema.")
        layout.drop_class_table(conn, class_name)
        layout.delete_schema(conn, class_name)

    def ensure_unique(self, conn: sqlite3.Connection, class_name: str, field: str, case_insensitive: bool) -> None:
        schema = self.schemas.load(conn, class_name)
        if schema is None:
            schema = self._create(conn, new_schema(class_name), {})
        if field != "objectId":
            layout.create_unique_index(conn, class_name, field, schema.field_type(field), case_insensitive)

    def _existing(self, conn: sqlite3.Connection, class_name: str) -> ClassSchema:
        schema = self.schemas.load(conn, class_name)
        if schema is None:
            raise ParseError(ErrorCode.INVALID_CLASS_NAME, f"Class {class_name} does not exist.")
        return schema
