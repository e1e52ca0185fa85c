"""Parse's typed JSON values (`{"__type": ...}`): validating them on write, decoding them for comparison.

Stored documents keep Parse's REST encoding, with dates normalised to one ISO form
(`2024-01-02T03:04:05.678Z`) so that text order is time order in every store.
"""
from __future__ import annotations

import base64
import binascii
import math
from datetime import datetime, timezone
from typing import Any

import msgspec

from storage.errors import ErrorCode, ParseError


class Pointer(msgspec.Struct, frozen=True):
    class_name: str
    object_id: str

    def to_json(self) -> dict[str, str]:
        return {"__type": "Pointer", "className": self.class_name, "objectId": self.object_id}


class GeoPoint(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float

    def to_json(self) -> dict[str, Any]:
        return {"__type": "GeoPoint", "latitude": self.latitude, "longitude": self.longitude}


class FieldType(msgspec.Struct, frozen=True):
    """A schema column type: `String`, `Pointer` with `target_class`, ..."""

    type: str
    target_class: str | None = None

    def describe(self) -> str:
        return f"{self.type}<{self.target_class}>" if self.target_class else self.type

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.target_class:
            out["targetClass"] = self.target_class
        return out


FIELD_TYPES = frozenset(
    {"String", "Number", "Boolean", "Date", "Object", "Array", "GeoPoint", "File", "Bytes",
     "Polygon", "Pointer", "Relation", "ACL"}
)


def format_date(moment: datetime) -> str:
    """The one ISO form Parse clients read: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_date(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ParseError(ErrorCode.INCORRECT_TYPE, f"invalid date: {text!r}")
    candidate = text.strip()
    if candidate.endswith("Z") or candidate.endswith("z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise ParseError(ErrorCode.INCORRECT_TYPE, f"invalid date: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def date_json(moment: datetime) -> dict[str, str]:
    return {"__type": "Date", "iso": format_date(moment)}


def now_iso() -> str:
    """`format_date` of now; isoformat is several times faster than strftime (and now is never before year 1000,
    where the two differ)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def decode(value: Any) -> Any:
    """Parse JSON to comparable Python values: Date -> datetime, Pointer/Object -> Pointer, GeoPoint.

    A File becomes its name-only dict (as a File field is stored). Other typed values (Bytes, Polygon,
    Relation) and plain objects stay dicts.
    """
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "Date":
            return parse_date(value.get("iso"))
        if kind in ("Pointer", "Object") and "objectId" in value and "className" in value:
            return Pointer(value["className"], value["objectId"])
        if kind == "GeoPoint":
            return GeoPoint(float(value["latitude"]), float(value["longitude"]))
        if kind == "File" and "url" in value:  # Files are equal by name, whatever URL a client sends along
            return {"__type": "File", "name": value.get("name")}
        if kind is None:
            return {k: decode(v) for k, v in value.items()}
        return value
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _require_str(value: Any, what: str, code: ErrorCode = ErrorCode.INVALID_JSON) -> str:
    if not isinstance(value, str) or not value:
        raise ParseError(code, f"invalid {what}: {value!r}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize_geopoint(value: dict[str, Any]) -> dict[str, Any]:
    lat, lng = value.get("latitude"), value.get("longitude")
    if not (_number(lat) and _number(lng)) or math.isnan(lat) or math.isnan(lng):
        raise ParseError(ErrorCode.INVALID_JSON, "GeoPoint needs numeric latitude and longitude")
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lng <= 180.0:
        raise ParseError(ErrorCode.INVALID_JSON, "GeoPoint latitude must be in [-90, 90] and longitude in [-180, 180]")
    return {"__type": "GeoPoint", "latitude": float(lat), "longitude": float(lng)}


def normalize_polygon(value: dict[str, Any]) -> dict[str, Any]:
    coords = value.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 3:
        raise ParseError(ErrorCode.INVALID_JSON, "Polygon must have at least 3 values")
    points: list[list[float]] = []
    for pair in coords:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_number(c) for c in pair)):
            raise ParseError(ErrorCode.INVALID_JSON, f"bad Polygon coordinate: {pair!r}")
        normalize_geopoint({"latitude": pair[0], "longitude": pair[1]})
        points.append([float(pair[0]), float(pair[1])])
    if points[0] != points[-1]:
        points.append(list(points[0]))
    if len({tuple(p) for p in points}) < 3:
        raise ParseError(ErrorCode.INVALID_JSON, "Polygon must have at least 3 distinct points")
    return {"__type": "Polygon", "coordinates": points}


def normalize(value: Any, *, top_level: bool = True) -> Any:
    """Validate a value a client writes and return its stored form. Raises ParseError on bad input."""
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind is None:
            for key in value:
                if key.startswith("$") or "." in key:
                    raise ParseError(ErrorCode.INVALID_NESTED_KEY,
                                     "Nested keys should not contain the '$' or '.' characters")
            return {k: normalize(v, top_level=False) for k, v in value.items()}
        if kind == "Date":
            return date_json(parse_date(value.get("iso")))
        if kind in ("Pointer", "Object"):
            class_name, object_id = value.get("className"), value.get("objectId")
            if not isinstance(class_name, str) or not isinstance(object_id, str) or not object_id:
                raise ParseError(ErrorCode.INVALID_POINTER, "Pointer needs className and objectId strings")
            return {"__type": "Pointer", "className": class_name, "objectId": object_id}
        if kind == "GeoPoint":
            return normalize_geopoint(value)
        if kind == "Polygon":
            return normalize_polygon(value)
        if kind == "File":
            name = _require_str(value.get("name"), "File name", ErrorCode.INVALID_FILE_NAME)
            out = {"__type": "File", "name": name}
            # as Parse stores a File field: by name; its URL is the server's, computed on every read
            if not top_level and isinstance(value.get("url"), str):
                out["url"] = value["url"]
            return out
        if kind == "Bytes":
            raw = value.get("base64")
            b64 = "" if raw == "" else _require_str(raw, "Bytes", ErrorCode.INVALID_JSON)
            try:
                base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise ParseError(ErrorCode.INVALID_JSON, "Bytes must hold base64 text") from None
            return {"__type": "Bytes", "base64": b64}
        if kind == "Relation":
            _require_str(value.get("className"), "Relation className")
            return {"__type": "Relation", "className": value["className"]}
        raise ParseError(ErrorCode.INVALID_JSON, f"invalid type: {kind!r}")
    if isinstance(value, list):
        return [normalize(v, top_level=False) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ParseError(ErrorCode.INVALID_JSON, "numbers must be finite")
    return value


def type_of(value: Any) -> FieldType | None:
    """The schema type a stored value implies; None for null (which fits any type)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return FieldType("Boolean")
    if isinstance(value, (int, float)):
        return FieldType("Number")
    if isinstance(value, str):
        return FieldType("String")
    if isinstance(value, list):
        return FieldType("Array")
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "Pointer":
            return FieldType("Pointer", value["className"])
        if kind == "Relation":
            return FieldType("Relation", value["className"])
        if kind in ("Date", "GeoPoint", "Polygon", "File", "Bytes"):
            return FieldType(kind)
        return FieldType("Object")
    raise ParseError(ErrorCode.INCORRECT_TYPE, f"unsupported value: {value!r}")
