"""Parse Server's MongoDB layout: how a REST-form document (storage.adapter) is stored, and read back.

Follows parse-server's MongoTransform.js so that databases written by either server work with the other:
`_id`, `_created_at`/`_updated_at` BSON dates, pointers as `_p_<field>` strings "Class$id", ACLs as
`_rperm`/`_wperm` (+ the legacy `_acl` map), `_session_token`, `_auth_data_<provider>` on `_User`, GeoPoints as
[lng, lat], Polygons as GeoJSON, Files as their name, Bytes as BSON binary, Dates (nested ones too) as BSON dates.
"""
from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import Binary, Decimal128, Int64, ObjectId

from storage.values import FieldType, date_json, format_date, parse_date

Fields = Mapping[str, FieldType]

# REST name -> stored key, for every class (parse-server's transformKey is class-independent).
RENAMED = {"objectId": "_id", "createdAt": "_created_at", "updatedAt": "_updated_at",
           "sessionToken": "_session_token", "lastUsed": "_last_used", "timesUsed": "times_used"}
# Stored key -> REST name; both spellings parse-server reads (`_expiresAt` is the Parse.com one).
_UNRENAMED = {"_id": "objectId", "_created_at": "createdAt", "createdAt": "createdAt",
              "_updated_at": "updatedAt", "updatedAt": "updatedAt", "_session_token": "sessionToken",
              "_last_used": "lastUsed", "lastUsed": "lastUsed", "times_used": "timesUsed",
              "_expiresAt": "expiresAt", "expiresAt": "expiresAt"}
# Fields whose REST form is a plain ISO string but whose stored form is a BSON date.
ISO_FIELDS = frozenset({"createdAt", "updatedAt", "lastUsed"})
AUTH_DATA_PREFIX = "_auth_data_"
POINTER_PREFIX = "_p_"
PERMISSION_KEYS = ("_rperm", "_wperm")


# --- names -----------------------------------------------------------------------------------------------

def mongo_key(name: str, fields: Fields) -> str:
    """The stored key of a top-level REST field."""
    if name in RENAMED:
        return RENAMED[name]
    kind = fields.get(name)
    if kind is not None and kind.type == "Pointer":
        return POINTER_PREFIX + name
    return name


def mongo_path(class_name: str, path: tuple[str, ...], fields: Fields, *, pointer: bool = False) -> str:
    """The dotted stored path of a REST path; `pointer` forces `_p_` for a field the schema does not know."""
    if class_name == "_User" and path[0] == "authData" and len(path) > 1:
        return ".".join((AUTH_DATA_PREFIX + path[1], *path[2:]))
    head = mongo_key(path[0], fields)
    if pointer and len(path) == 1 and head == path[0] and path[0] not in fields:
        head = POINTER_PREFIX + path[0]
    return ".".join((head, *path[1:]))


def is_pointer_field(name: str, fields: Fields) -> bool:
    kind = fields.get(name)
    return kind is not None and kind.type == "Pointer"


# --- values, REST -> stored ------------------------------------------------------------------------------

def pointer_string(value: Mapping[str, Any]) -> str:
    return f"{value['className']}${value['objectId']}"


def encode_interior(value: Any) -> Any:
    """A value inside an Object or Array: Dates and Bytes change form; Pointers, GeoPoints, Files stay dicts."""
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "Date":
            return parse_date(value.get("iso"))
        if kind == "Bytes":
            return Binary(base64.b64decode(value.get("base64", "")))
        if kind is not None:
            return dict(value)
        return {key: encode_interior(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encode_interior(item) for item in value]
    return value


def encode_top(value: Any) -> Any:
    """A top-level field value (the field is not a Pointer: those are `pointer_string`s under `_p_`)."""
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "GeoPoint":
            return [value["longitude"], value["latitude"]]
        if kind == "Polygon":
            return {"type": "Polygon", "coordinates": [[[lng, lat] for lat, lng in value["coordinates"]]]}
        if kind == "File":
            return value["name"]
    return encode_interior(value)


def encode_field(name: str, value: Any, fields: Fields) -> tuple[str, Any] | None:
    """(stored key, stored value) of one top-level REST field; None for what is not stored (Relation markers)."""
    if isinstance(value, dict) and value.get("__type") == "Relation":
        return None
    if name in ISO_FIELDS and value is not None:
        return RENAMED[name], _as_date(value)
    if name == "expiresAt" and value is not None:
        return "expiresAt", _as_date(value)
    if is_pointer_field(name, fields) or (isinstance(value, dict) and value.get("__type") == "Pointer"):
        return POINTER_PREFIX + name, None if value is None else pointer_string(value)
    return mongo_key(name, fields), encode_top(value)


def _as_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, dict) and value.get("__type") == "Date":
        return parse_date(value.get("iso"))
    if isinstance(value, str):
        return parse_date(value)
    return value


def legacy_acl(rperm: Iterable[str] | None, wperm: Iterable[str] | None) -> dict[str, dict[str, bool]]:
    """parse-server's `_acl` map, still written next to `_rperm`/`_wperm` (addLegacyACL)."""
    acl: dict[str, dict[str, bool]] = {}
    for entry in wperm or ():
        acl[entry] = {"w": True}
    for entry in rperm or ():
        acl.setdefault(entry, {})["r"] = True
    return acl


def permissions_of(acl: Mapping[str, Mapping[str, bool]]) -> dict[str, list[str]]:
    return {"_rperm": [key for key, entry in acl.items() if entry.get("read") is True],
            "_wperm": [key for key, entry in acl.items() if entry.get("write") is True]}


def encode_document(class_name: str, document: Mapping[str, Any], fields: Fields) -> dict[str, Any]:
    """The stored form of a whole REST document (a create, or the fallback path of an update)."""
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name == "ACL":
            continue
        if name in PERMISSION_KEYS:
            out[name] = None if value is None else list(value)
        elif class_name == "_User" and name == "authData" and isinstance(value, dict):
            for provider, data in value.items():
                if data is not None:
                    out[AUTH_DATA_PREFIX + provider] = encode_interior(data)
        else:
            encoded = encode_field(name, value, fields)
            if encoded is not None:
                out[encoded[0]] = encoded[1]
    acl = document.get("ACL")
    if isinstance(acl, dict) and not any(key in document for key in PERMISSION_KEYS):
        out.update(permissions_of(acl))
    if any(key in out for key in PERMISSION_KEYS):
        out["_acl"] = legacy_acl(out.get("_rperm"), out.get("_wperm"))
    return out


# --- values, stored -> REST ------------------------------------------------------------------------------

def decode_interior(value: Any) -> Any:
    if isinstance(value, datetime):
        return date_json(value)
    if isinstance(value, (bytes, Binary)):
        return {"__type": "Bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        if value.get("__type") == "Date" and isinstance(value.get("iso"), datetime):
            return date_json(value["iso"])
        return {key: decode_interior(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_interior(item) for item in value]
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, Decimal128):
        return float(value.to_decimal())
    if isinstance(value, ObjectId):
        return str(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def decode_top(value: Any, kind: FieldType | None) -> Any:
    if kind is not None:
        if kind.type == "GeoPoint" and isinstance(value, list) and len(value) == 2 and all(map(_is_number, value)):
            return {"__type": "GeoPoint", "latitude": float(value[1]), "longitude": float(value[0])}
        if kind.type == "Polygon" and isinstance(value, dict) and isinstance(value.get("coordinates"), list):
            ring = value["coordinates"][0] if value["coordinates"] else []
            return {"__type": "Polygon", "coordinates": [[float(lat), float(lng)] for lng, lat in ring]}
        if kind.type == "File" and isinstance(value, str):
            return {"__type": "File", "name": value}
    return decode_interior(value)


def decode_pointer(value: Any) -> Any:
    if isinstance(value, str) and "$" in value:
        class_name, object_id = value.split("$", 1)
        return {"__type": "Pointer", "className": class_name, "objectId": object_id}
    return decode_interior(value)


def decode_document(class_name: str, stored: Mapping[str, Any], fields: Fields) -> dict[str, Any]:
    """The REST form of a stored document: system keys renamed, ACL rebuilt, relation fields marked."""
    out: dict[str, Any] = {}
    for key, value in stored.items():
        name = _UNRENAMED.get(key)
        if name is not None:
            if name == "objectId":
                out[name] = str(value)
            elif name in ISO_FIELDS:
                out[name] = format_date(value) if isinstance(value, datetime) else decode_interior(value)
            else:
                out[name] = decode_interior(value)
        elif key == "_acl":
            continue
        elif key in PERMISSION_KEYS:
            out[key] = None if value is None else list(value)
        elif class_name == "_User" and key.startswith(AUTH_DATA_PREFIX):
            out.setdefault("authData", {})[key[len(AUTH_DATA_PREFIX):]] = decode_interior(value)
        elif key.startswith(POINTER_PREFIX):
            out[key[len(POINTER_PREFIX):]] = decode_pointer(value)
        elif key.startswith("_"):
            out[key] = decode_interior(value)  # internal (e.g. `_hashed_password`): as given
        else:
            out[key] = decode_top(value, fields.get(key))
    if any(isinstance(out.get(key), list) for key in PERMISSION_KEYS):
        out["ACL"] = acl_of(out.get("_rperm") or [], out.get("_wperm") or [])
    for name, kind in fields.items():
        if kind.type == "Relation":
            out[name] = {"__type": "Relation", "className": kind.target_class}
    return out


def acl_of(rperm: Iterable[str], wperm: Iterable[str]) -> dict[str, dict[str, bool]]:
    """Parse's ACL map from the stored lists (DatabaseController.untransformObjectACL)."""
    acl: dict[str, dict[str, bool]] = {}
    for entry in rperm:
        acl.setdefault(entry, {})["read"] = True
    for entry in wperm:
        acl.setdefault(entry, {})["write"] = True
    return acl
