"""A parsed write (storage.changes) as one MongoDB update document of atomic operators, in Parse's layout.

`$set`/`$unset`/`$inc`/`$push $each`/`$addToSet $each`/`$pullAll` on dotted paths, so the adapter can apply it
with a single find_one_and_update. `after_update` is the REST document that results (the reference semantics
of `apply_changes`), read back through the stored form so it equals what a later find returns.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.changes import (
    AddItems,
    Changes,
    Increment,
    RemoveItems,
    SetValue,
    Unset,
    unique_items,
    updated_document,
)
from storage.mongo.transform import (
    PERMISSION_KEYS,
    Fields,
    decode_document,
    encode_document,
    encode_field,
    encode_interior,
    legacy_acl,
    mongo_path,
    permissions_of,
)
from storage.values import parse_date


def needs_whole_document(class_name: str, changes: Changes) -> bool:
    """`_User.authData` is spread over `_auth_data_<provider>` keys: replacing it needs the stored keys."""
    return class_name == "_User" and any(path[0] == "authData" for path in changes.ops)


def update_document(class_name: str, changes: Changes, fields: Fields, updated_at: str,
                    extra: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    sets: dict[str, Any] = {}
    unsets: dict[str, str] = {}
    others: dict[str, dict[str, Any]] = {"$inc": {}, "$push": {}, "$addToSet": {}, "$pullAll": {}}
    for path, op in changes.ops.items():
        if path == ("ACL",):
            if isinstance(op, SetValue) and isinstance(op.value, dict):
                sets.update(permissions_of(op.value))
            else:
                unsets.update({"_rperm": "", "_wperm": "", "_acl": ""})
            continue
        if len(path) == 1 and isinstance(op, (SetValue, Unset)):
            encoded = encode_field(path[0], op.value if isinstance(op, SetValue) else None, fields)
            if encoded is None:
                continue
            if isinstance(op, SetValue):
                sets[encoded[0]] = encoded[1]
            else:
                unsets[encoded[0]] = ""
            continue
        key = mongo_path(class_name, path, fields)
        if isinstance(op, SetValue):
            sets[key] = encode_interior(op.value)
        elif isinstance(op, Unset):
            unsets[key] = ""
        elif isinstance(op, Increment):
            others["$inc"][key] = op.amount
        elif isinstance(op, AddItems):
            items = [encode_interior(item) for item in op.items]
            others["$addToSet" if op.unique else "$push"][key] = {"$each": items}
        elif isinstance(op, RemoveItems):
            others["$pullAll"][key] = [encode_interior(item) for item in op.items]
    for name, value in {"updatedAt": updated_at, **(extra or {})}.items():
        if name in PERMISSION_KEYS:
            if value is None:  # as in every store: an `extra` None removes the key
                unsets[name] = ""
            else:
                sets[name] = list(value)
            continue
        encoded = encode_field(name, value, fields)
        if encoded is not None:
            if value is None:
                unsets[encoded[0]] = ""
            else:
                sets[encoded[0]] = encoded[1]
    if any(key in sets for key in PERMISSION_KEYS):
        sets["_acl"] = legacy_acl(sets.get("_rperm"), sets.get("_wperm"))
        unsets.pop("_acl", None)
    elif all(key in unsets for key in PERMISSION_KEYS):
        unsets["_acl"] = ""
    for key in sets:
        unsets.pop(key, None)
    update: dict[str, dict[str, Any]] = {"$set": sets}
    if unsets:
        update["$unset"] = unsets
    update.update({operator: spec for operator, spec in others.items() if spec})
    return update


def as_pipeline(update: Mapping[str, Mapping[str, Any]], updated_at: str) -> list[dict[str, Any]] | None:
    """`update` (from `update_document`) as an update pipeline that takes `_updated_at` in the update itself:
    `updated_at`, or one millisecond after the stored stamp when that is as late (`commit_stamp`), so an object's
    `updatedAt` grows strictly in the order its writes commit however concurrent they are. The expressions keep
    the reference semantics of `apply_op` (null or missing counts as 0 or an empty array); a value they do not
    fit fails the update, as the operators do. None when a path is dotted: a pipeline `$set` through an array
    sets the key in each element, where the operators and the reference differ."""
    if any("." in key for spec in update.values() for key in spec):
        return None
    sets: dict[str, Any] = {key: {"$literal": value} for key, value in update.get("$set", {}).items()}
    for key, amount in update.get("$inc", {}).items():
        sets[key] = {"$add": [{"$ifNull": ["$" + key, 0]}, amount]}
    for key, spec in update.get("$push", {}).items():
        sets[key] = {"$concatArrays": [{"$ifNull": ["$" + key, []]}, {"$literal": spec["$each"]}]}
    for key, spec in update.get("$addToSet", {}).items():
        current = {"$ifNull": ["$" + key, []]}
        sets[key] = {"$concatArrays": [current, {"$filter": {
            "input": {"$literal": unique_items(spec["$each"])}, "cond": {"$not": [{"$in": ["$$this", current]}]}}}]}
    for key, items in update.get("$pullAll", {}).items():
        sets[key] = {"$filter": {"input": {"$ifNull": ["$" + key, []]},
                                 "cond": {"$not": [{"$in": ["$$this", {"$literal": items}]}]}}}
    sets["_updated_at"] = {"$max": [parse_date(updated_at), {"$add": ["$_updated_at", 1]}]}
    stages: list[dict[str, Any]] = [{"$set": sets}]
    unsets = [key for key in update.get("$unset", {}) if key not in sets]
    if unsets:
        stages.append({"$unset": unsets})
    return stages


def at_least_stamped(update: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """An operator update whose `_updated_at` never goes below the stored one (`$max`): with dotted paths, where
    no pipeline is used, two writes committed in the same millisecond may share a stamp."""
    stamp = update["$set"].pop("_updated_at", None)
    if stamp is not None:
        update["$max"] = {"_updated_at": stamp}
    return update


def after_update(class_name: str, before: dict[str, Any], changes: Changes, fields: Fields, updated_at: str,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The REST document after the update, exactly as a later read will return it."""
    after = updated_document(before, changes, updated_at, extra)
    acl_op = changes.ops.get(("ACL",))
    if acl_op is not None and not any(key in (extra or {}) for key in PERMISSION_KEYS):
        if isinstance(acl_op, SetValue) and isinstance(acl_op.value, dict):
            after.update(permissions_of(acl_op.value))
        else:
            for key in PERMISSION_KEYS:
                after.pop(key, None)
    return decode_document(class_name, encode_document(class_name, after, fields), fields)


def replacement(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The `$set`/`$unset` that turns `stored` into `wanted` (top-level keys; `_id` never changes)."""
    sets = {key: value for key, value in wanted.items() if key != "_id" and (key not in stored or stored[key] != value)}
    unsets = {key: "" for key in stored if key not in wanted and key != "_id"}
    update: dict[str, dict[str, Any]] = {}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    return update


def unchanged_guard(stored: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    """A filter that still matches only while these keys hold what `stored` read (compare-and-set)."""
    guard: dict[str, Any] = {}
    for key in keys:
        if key not in stored:
            guard[key] = {"$exists": False}
        elif stored[key] is None:
            guard[key] = {"$type": "null"}
        else:
            guard[key] = {"$eq": stored[key]}
    return guard
