"""Importing a schema file into a store, and exporting one (`livequery schema`, `livequery serve --schema`).

`import_schema(data, store)` checks the whole file first (its format, the class-level permissions, and the
classes already stored: a field stored with another type is an error), then creates missing classes and adds
missing fields, options, permissions and indexes. Nothing is written when any check fails; a second run changes
nothing. Fields the file does not list are left as they are: importing never deletes. A running server that
did not make the import itself sees new classes at once, and changed options of classes it had cached after a
restart.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec

from api import permissions
from storage.adapter import StorageAdapter
from storage.errors import ErrorCode, ParseError
from storage.schema import ClassSchema, FieldOptions, merge_fields, new_schema
from storage.schema_file import ClassSpec, SchemaFileError, read_schema_file, write_schema_file
from storage.values import FieldType

_RETRIED = (ErrorCode.INVALID_CLASS_NAME, ErrorCode.INVALID_SCHEMA_OPERATION)  # another importer got there first
_EMBEDDED = re.compile(r'\{\s*"classes"\s*:')


def load_schema_file(path: str | Path) -> Any:
    """A schema file's JSON. A text page holding a `{"classes": ...}` block (like the template pages) is read
    too: the block is taken from it. SchemaFileError when there is none."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SchemaFileError([f"{path}: cannot read it ({error.strerror})"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        block = _EMBEDDED.search(text)
        if block is None:
            raise SchemaFileError([f"{path}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"]) \
                from None
    try:
        return json.JSONDecoder().raw_decode(text, block.start())[0]
    except json.JSONDecodeError as error:
        raise SchemaFileError([f"{path}: the schema block is not JSON ({error.msg} at line {error.lineno}, "
                               f"column {error.colno})"]) from None


class ClassChange(msgspec.Struct, frozen=True):
    """What an import does to one class."""

    class_name: str
    created: bool = False
    added: dict[str, FieldType] = msgspec.field(default_factory=dict)
    options: dict[str, FieldOptions] = msgspec.field(default_factory=dict)  # fields whose options change
    clp: dict[str, Any] | None = None
    indexes: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.created or self.added or self.options or self.clp is not None or self.indexes)

    def summary(self) -> str:
        def field(name: str, kind: FieldType) -> str:
            options = self.options.get(name)
            return f"{name} ({kind.describe()}{', ' + describe(options) if options else ''})"

        if self.created:
            listed = ", ".join(field(name, kind) for name, kind in self.added.items())
            return f"{self.class_name}: created with {listed or 'no fields'}"
        parts = [f"added {field(name, kind)}" for name, kind in self.added.items()]
        parts += [f"{name} now {describe(value)}" for name, value in self.options.items() if name not in self.added]
        if self.clp is not None:
            parts.append("class-level permissions set")
        parts += [f"index {name} added" for name in self.indexes]
        return f"{self.class_name}: {'; '.join(parts) if parts else 'unchanged'}"


class ImportReport(msgspec.Struct, frozen=True):
    classes: tuple[ClassChange, ...]
    skipped: tuple[str, ...] = ()  # built-in fields the file listed, e.g. "_User.password"
    applied: bool = True  # False for a dry run

    @property
    def changed(self) -> bool:
        return any(not change.is_empty() for change in self.classes)

    def lines(self) -> list[str]:
        lines = [change.summary() for change in self.classes]
        if self.skipped:
            names = sorted({name.split(".", 1)[1] for name in self.skipped})
            lines.append(f"skipped the fields Parse manages itself: {', '.join(names)}")
        if not self.changed:
            lines.append("nothing to change: the database already has this schema")
        elif not self.applied:
            lines.append("dry run: nothing was written")
        return lines


def describe(options: FieldOptions) -> str:
    parts = ["required" if options.required else "optional"]
    if options.default_value is not None:
        parts.append(f"default {json.dumps(options.default_value)}")
    return ", ".join(parts)


async def import_schema(data: Any, store: StorageAdapter, *, dry_run: bool = False) -> ImportReport:
    """Apply a parsed schema file (the seed pages' format or Parse's `/schemas` answer) to `store`.

    Raises SchemaFileError (a ParseError, code 107) naming every class and field at fault; nothing is written
    then. Returns what changed (or, with `dry_run`, what would change).
    """
    specs = read_schema_file(data)
    problems: list[str] = []
    for spec in specs:
        if spec.clp is not None:
            try:
                permissions.validated_clp(spec.clp)
            except ParseError as error:
                problems.append(f"class {spec.class_name}: classLevelPermissions: {error.message}")
    stored = {schema.class_name: schema for schema in await store.get_all_schemas()}
    planned = [plan_class(spec, stored.get(spec.class_name), problems) for spec in specs]
    if problems:
        raise SchemaFileError(problems)
    skipped = tuple(f"{spec.class_name}.{name}" for spec in specs for name in spec.skipped)
    if dry_run:
        return ImportReport(tuple(planned), skipped, applied=False)
    applied = [await _apply(spec, store) for spec in specs]
    return ImportReport(tuple(applied), skipped)


def plan_class(spec: ClassSpec, current: ClassSchema | None, problems: list[str]) -> ClassChange:
    """What importing `spec` changes in `current` (None: the class is new). Conflicts go to `problems`."""
    wanted = {name: value for name, value in spec.options.items() if not value.is_empty()}
    if current is None:
        return ClassChange(spec.class_name, created=True, added=dict(spec.fields), options=wanted, clp=spec.clp,
                           indexes=dict(spec.indexes))
    added: dict[str, FieldType] = {}
    for name, kind in spec.fields.items():
        have = current.fields.get(name)
        if have is None:
            added[name] = kind
        elif have != kind:
            problems.append(f"class {spec.class_name}, field {name}: the database has it as {have.describe()}, "
                            f"the file says {kind.describe()} (change it by hand: this would lose data)")
    try:
        merge_fields(current, added)
    except ParseError as error:
        problems.append(f"class {spec.class_name}: {error.message}")
    options = {name: value for name, value in spec.options.items()
               if value != current.options.get(name, FieldOptions()) and not (name in added and value.is_empty())}
    indexes: dict[str, dict[str, Any]] = {}
    for name, index in spec.indexes.items():
        if name not in current.indexes:
            indexes[name] = index
        elif current.indexes[name] != index:
            problems.append(f"class {spec.class_name}, index {name}: the database has {current.indexes[name]}, "
                            f"the file says {index}")
    clp = spec.clp if spec.clp is not None and spec.clp != current.clp else None
    return ClassChange(spec.class_name, added=added, options=options, clp=clp, indexes=indexes)


async def _apply(spec: ClassSpec, store: StorageAdapter) -> ClassChange:
    """Plan against the class as stored now and apply; once more if another importer changed it meanwhile."""
    try:
        return await _plan_and_write(spec, store)
    except ParseError as error:
        if error.code not in _RETRIED:
            raise
    return await _plan_and_write(spec, store)


async def _plan_and_write(spec: ClassSpec, store: StorageAdapter) -> ClassChange:
    problems: list[str] = []
    change = plan_class(spec, await store.get_schema(spec.class_name), problems)
    if problems:
        raise SchemaFileError(problems)
    await _write(change, store)
    return change


async def _write(change: ClassChange, store: StorageAdapter) -> None:
    if change.created:
        schema = new_schema(change.class_name, change.added)
        schema = msgspec.structs.replace(schema, options=change.options, indexes=change.indexes,
                                         clp=change.clp if change.clp is not None else schema.clp)
        await store.create_class(schema)
    elif not change.is_empty():
        await store.update_class(change.class_name, add_fields=change.added, clp=change.clp,
                                 add_indexes=change.indexes, field_options=change.options)


async def export_schema(store: StorageAdapter, *, parse_format: bool = False) -> dict[str, Any]:
    """Every class in the seed pages' format, or (`parse_format`) as Parse's `GET /schemas` answers."""
    schemas = await store.get_all_schemas()
    if parse_format:
        return {"results": [schema.to_json() for schema in schemas]}
    return write_schema_file(schemas)
