"""A parsed write: field values and `__op` operations, applied atomically by a store.

`parse_changes` validates a client body once; `apply_changes` is the pure reference semantics (the SQLite store
runs it inside its write transaction; the MongoDB store translates the same ops to update operators).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Union

import msgspec

from storage.errors import ErrorCode, ParseError
from storage.schema import validate_field_name
from storage.values import FieldType, Pointer, format_date, normalize, parse_date, type_of

Path = tuple[str, ...]


class SetValue(msgspec.Struct, frozen=True):
    value: Any  # normalized stored form


class Unset(msgspec.Struct, frozen=True):
    pass


class Increment(msgspec.Struct, frozen=True):
    amount: int | float


class AddItems(msgspec.Struct, frozen=True):
    items: tuple[Any, ...]
    unique: bool = False


class RemoveItems(msgspec.Struct, frozen=True):
    items: tuple[Any, ...]


FieldOp = Union[SetValue, Unset, Increment, AddItems, RemoveItems]


class RelationChange(msgspec.Struct, frozen=True):
    target_class: str
    add: tuple[str, ...] = ()  # related objectIds
    remove: tuple[str, ...] = ()


class Changes(msgspec.Struct, frozen=True):
    """What a create or update does. `ops` keys are paths (`("stats", "wins")` for a dotted key)."""

    ops: dict[Path, FieldOp]
    relations: dict[str, RelationChange] = msgspec.field(default_factory=dict)

    def implied_types(self) -> dict[str, FieldType]:
        """The schema types this write needs; a dotted path implies an Object at its top."""
        types: dict[str, FieldType] = {}
        for path, op in self.ops.items():
            if len(path) > 1:
                types[path[0]] = FieldType("Object")
            elif isinstance(op, SetValue):
                kind = type_of(op.value)
                if kind is not None:
                    types[path[0]] = kind
            elif isinstance(op, Increment):
                types[path[0]] = FieldType("Number")
            elif isinstance(op, (AddItems, RemoveItems)):
                types[path[0]] = FieldType("Array")
        for name, change in self.relations.items():
            types[name] = FieldType("Relation", change.target_class)
        return types

    def echoed_fields(self) -> tuple[Path, ...]:
        """Paths whose new value an update response carries (Parse echoes Increment/Add/AddUnique/Remove)."""
        return tuple(p for p, op in self.ops.items() if isinstance(op, (Increment, AddItems, RemoveItems)))


def parse_changes(body: dict[str, Any], *, is_create: bool) -> Changes:
    """Validate a write body (reserved keys already removed). Raises ParseError for bad names, values or ops."""
    ops: dict[Path, FieldOp] = {}
    relations: dict[str, RelationChange] = {}
    for key, raw in body.items():
        path = tuple(key.split("."))
        for part in path[:1]:
            validate_field_name(part)
        if len(path) > 1 and any(not p or p.startswith("$") for p in path[1:]):
            raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid field name: {key}.")
        if isinstance(raw, dict) and "__op" in raw:
            parsed = _parse_op(key, raw)
            if isinstance(parsed, RelationChange):
                if len(path) > 1:
                    raise ParseError(ErrorCode.INVALID_KEY_NAME, f"Invalid field name: {key}.")
                relations[key] = parsed
                continue
            op = parsed
        else:
            op = SetValue(normalize(raw))
        if is_create:
            op = _flatten_for_create(op)
        if is_create and len(path) > 1:
            # a dotted key in a create builds the nested object, never a field named "a.b"
            _nest(ops, path, op)
        else:
            ops[path] = op
    return Changes(ops, relations)


def _nest(ops: dict[Path, FieldOp], path: Path, op: FieldOp) -> None:
    top = ops.get(path[:1])
    container = copy.deepcopy(top.value) if isinstance(top, SetValue) and isinstance(top.value, dict) else {}
    cursor = container
    for part in path[1:-1]:
        cursor = cursor.setdefault(part, {})
    if isinstance(op, SetValue):
        cursor[path[-1]] = op.value
    ops[path[:1]] = SetValue(container)


def _flatten_for_create(op: FieldOp) -> FieldOp:
    if isinstance(op, Increment):
        return SetValue(op.amount)
    if isinstance(op, AddItems):
        return SetValue(unique_items(list(op.items)) if op.unique else list(op.items))
    if isinstance(op, RemoveItems):
        return SetValue([])
    return op


def _items(key: str, raw: dict[str, Any]) -> tuple[Any, ...]:
    objects = raw.get("objects")
    if not isinstance(objects, list):
        raise ParseError(ErrorCode.INVALID_JSON, f"objects to {raw['__op']} must be an array")
    return tuple(normalize(item, top_level=False) for item in objects)


def _relation_ids(raw: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    objects = raw.get("objects")
    if not isinstance(objects, list) or not objects:
        raise ParseError(ErrorCode.INVALID_JSON, f"objects to {raw.get('__op')} must be a non-empty array")
    classes, ids = set(), []
    for item in objects:
        pointer = normalize(item) if isinstance(item, dict) else None
        if not isinstance(pointer, dict) or pointer.get("__type") != "Pointer":
            raise ParseError(ErrorCode.INVALID_POINTER, "relation objects must be Pointers")
        classes.add(pointer["className"])
        ids.append(pointer["objectId"])
    if len(classes) != 1:
        raise ParseError(ErrorCode.INVALID_POINTER, "all relation objects must be of one class")
    return classes.pop(), tuple(ids)


def _parse_op(key: str, raw: dict[str, Any]) -> FieldOp | RelationChange:
    name = raw["__op"]
    if name == "Delete":
        return Unset()
    if name == "Increment":
        amount = raw.get("amount", 1)
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            raise ParseError(ErrorCode.INVALID_JSON, "Increment amount must be a number")
        return Increment(amount)
    if name in ("Add", "AddUnique"):
        return AddItems(_items(key, raw), unique=name == "AddUnique")
    if name == "Remove":
        return RemoveItems(_items(key, raw))
    if name in ("AddRelation", "RemoveRelation"):
        target, ids = _relation_ids(raw)
        return RelationChange(target, add=ids) if name == "AddRelation" else RelationChange(target, remove=ids)
    if name == "Batch":
        ops = raw.get("ops")
        if not isinstance(ops, list) or not ops:
            raise ParseError(ErrorCode.INVALID_JSON, "Batch ops must be a non-empty array")
        merged: RelationChange | None = None
        for sub in ops:
            part = _parse_op(key, sub) if isinstance(sub, dict) and "__op" in sub else None
            if not isinstance(part, RelationChange):
                raise ParseError(ErrorCode.INVALID_JSON, "Batch only combines AddRelation and RemoveRelation")
            if merged is not None and merged.target_class != part.target_class:
                raise ParseError(ErrorCode.INVALID_POINTER, "all relation objects must be of one class")
            merged = part if merged is None else RelationChange(
                part.target_class, merged.add + part.add, merged.remove + part.remove)
        assert merged is not None
        return merged
    raise ParseError(ErrorCode.COMMAND_UNAVAILABLE, f"The {name} operator is not supported yet.")


def unique_items(items: list[Any]) -> list[Any]:
    """`items` without repeats, in first-seen order (AddUnique's; items may be unhashable JSON values)."""
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def apply_op(current: Any, op: FieldOp, present: bool) -> tuple[bool, Any]:
    """(present, value) of a field after `op`. Raises INVALID_JSON when the op does not fit the stored value."""
    if isinstance(op, SetValue):
        return True, op.value
    if isinstance(op, Unset):
        return False, None
    if isinstance(op, Increment):
        base = current if present and current is not None else 0
        if not isinstance(base, (int, float)) or isinstance(base, bool):
            raise ParseError(ErrorCode.INVALID_JSON, "Cannot increment a field that is not a number")
        return True, base + op.amount
    base = current if present and current is not None else []
    if not isinstance(base, list):
        raise ParseError(ErrorCode.INVALID_JSON, "Cannot apply an array operation to a field that is not an array")
    if isinstance(op, AddItems):
        if op.unique:
            return True, base + [item for item in unique_items(list(op.items)) if item not in base]
        return True, base + list(op.items)
    return True, [item for item in base if item not in op.items]


def apply_changes(document: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """A new document with `changes` applied to `document` (which is left untouched)."""
    result = dict(document)
    for path, op in changes.ops.items():
        if len(path) == 1:
            present, value = apply_op(result.get(path[0]), op, path[0] in result)
            if present:
                result[path[0]] = value
            else:
                result.pop(path[0], None)
            continue
        top = result.get(path[0])
        container = copy.deepcopy(top) if isinstance(top, dict) else {}
        cursor = container
        for part in path[1:-1]:
            nxt = cursor.get(part)
            cursor[part] = nxt if isinstance(nxt, dict) else {}
            cursor = cursor[part]
        present, value = apply_op(cursor.get(path[-1]), op, path[-1] in cursor)
        if present:
            cursor[path[-1]] = value
        else:
            cursor.pop(path[-1], None)
        result[path[0]] = container
    for name, change in changes.relations.items():
        result[name] = {"__type": "Relation", "className": change.target_class}
    return result


def commit_stamp(wanted: str, before: Any) -> str:
    """The `updatedAt` of a write that replaces a state stamped `before`: `wanted` (the request's clock), unless
    `before` is as late or later (a clock behind, or a concurrent write that was stamped later but committed
    first), then one millisecond after it. So an object's `updatedAt` grows strictly in the order its writes
    commit, which is what the LiveQuery bus orders an object's events by (livequery/bus/order.py)."""
    if before.__class__ is not str or before < wanted:
        return wanted
    return format_date(parse_date(before) + timedelta(milliseconds=1))


def updated_document(before: dict[str, Any], changes: Changes, updated_at: str,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What every store stores for an update (StorageAdapter.update): `changes` applied, `updatedAt` stamped (later
    than `before`'s: `commit_stamp`), and `extra` keys set outright (None removes the key). A write of `extra`
    alone (no field a client sent: a password rehash) is stamped `updated_at` as given, which may be `before`'s."""
    after = apply_changes(before, changes)
    after["updatedAt"] = commit_stamp(updated_at, before.get("updatedAt")) if changes.ops else updated_at
    for key, value in (extra or {}).items():
        if value is None:
            after.pop(key, None)
        else:
            after[key] = value
    return after


def pointer_ids(pointers: list[Pointer]) -> tuple[str, ...]:
    return tuple(p.object_id for p in pointers)
