"""The seam every store implements (SQLite now, MongoDB next), and the options a find takes.

Documents cross this seam in one form: Parse's REST encoding (dates normalised by `storage.values`), with
`objectId`, `createdAt`/`updatedAt` as ISO strings, `ACL` as Parse's map, and `_rperm`/`_wperm` arrays derived
from it (absent = public). Other `_`-prefixed keys are internal (e.g. `_hashed_password`) and are stored as given.

Queries reaching a store are already resolved: no `InQuery`, `Select` or `RelatedTo` nodes (the API layer turns
them into plain constraints with the caller's permissions). A store raises INVALID_QUERY if it sees one.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

import msgspec

from storage.changes import Changes
from storage.query import Node
from storage.schema import ClassSchema, FieldOptions
from storage.values import FieldType

Document = dict[str, Any]


class SortKey(msgspec.Struct, frozen=True):
    path: tuple[str, ...]
    descending: bool = False


class FindOptions(msgspec.Struct, frozen=True):
    order: tuple[SortKey, ...] = ()
    limit: int | None = None  # None = no limit
    skip: int = 0


class StorageAdapter(Protocol):
    """Async persistence of classes, objects and relations.

    Guarantees: every write method is atomic (it happens entirely or not at all) and isolated from concurrent
    writes to the same object, so two concurrent increments never lose one. Errors surface as ParseError
    (a duplicate unique value is DUPLICATE_VALUE 137); driver exceptions never escape.
    """

    async def open(self) -> None:
        """Connect and create what the store needs (tables, indexes). Idempotent."""

    async def close(self) -> None:
        """Release connections; pending operations finish first."""

    # --- schemas -------------------------------------------------------------------------------------------
    async def get_all_schemas(self) -> list[ClassSchema]:
        ...

    async def get_schema(self, class_name: str) -> ClassSchema | None:
        ...

    async def ensure_fields(self, class_name: str, fields: Mapping[str, FieldType]) -> ClassSchema:
        """Create the class if missing and add the missing fields, atomically against concurrent callers.

        Raises INCORRECT_TYPE if a field exists with another type. Returns the schema as now stored.
        """

    async def create_class(self, schema: ClassSchema) -> ClassSchema:
        """Create a class with fields, CLP and indexes (the schemas API). 103 if it exists."""

    async def update_class(self, class_name: str, *, add_fields: Mapping[str, FieldType] | None = None,
                           delete_fields: tuple[str, ...] = (), clp: dict[str, Any] | None = None,
                           add_indexes: Mapping[str, dict[str, Any]] | None = None,
                           drop_indexes: tuple[str, ...] = (),
                           field_options: Mapping[str, FieldOptions] | None = None) -> ClassSchema:
        """Change a class's schema; deleting a field also removes its values from every object (and its options).

        `field_options` sets the options of fields the class has after the change (an empty FieldOptions
        clears them); 255 for a field it does not have.
        """

    async def delete_class(self, class_name: str) -> None:
        """Drop an (empty) class, its schema and its relation tables."""

    async def ensure_unique(self, class_name: str, field: str, *, case_insensitive: bool = False) -> None:
        """A unique index on a top-level field (null/missing values are not unique-checked)."""

    # --- objects ------------------------------------------------------------------------------------------
    async def insert(self, class_name: str, document: Document, changes: Changes | None = None) -> None:
        """Store a new object. `changes` carries its relation ops (applied in the same transaction)."""

    async def update(self, class_name: str, object_id: str, changes: Changes, where: Node,
                     updated_at: str, extra: Mapping[str, Any] | None = None) -> tuple[Document, Document] | None:
        """Apply `changes` to the object if it also matches `where` (e.g. the caller's write ACL).

        `extra` sets stored keys outright (e.g. `_rperm`). Returns (before, after), or None if no such object.
        """

    async def delete(self, class_name: str, object_id: str, where: Node) -> Document | None:
        """Remove the object if it matches `where`; returns it, or None. Its relation rows go with it."""

    async def find(self, class_name: str, where: Node, options: FindOptions = FindOptions()) -> list[Document]:
        ...

    async def count(self, class_name: str, where: Node) -> int:
        ...

    async def purge(self, class_name: str) -> None:
        """Delete every object of the class, keeping its schema."""

    # --- relations ----------------------------------------------------------------------------------------
    async def related_ids(self, class_name: str, field: str, owning_ids: tuple[str, ...]) -> list[str]:
        """objectIds in the relation `field` of the given owners (of `class_name`)."""

    async def owning_ids(self, class_name: str, field: str, related_ids: tuple[str, ...]) -> list[str]:
        """objectIds of `class_name` objects whose relation `field` holds any of `related_ids`."""
