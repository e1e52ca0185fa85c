"""Function and job params in and results out, as Parse decodes and encodes them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.values import date_json, parse_date


def decode_params(value: Any) -> Any:
    """`{"__type":"Date"}` becomes a timezone-aware datetime (through lists and dicts); every other typed value
    (Pointer, GeoPoint, File, ...) stays its REST JSON dict, as Parse leaves it plain JSON."""
    if isinstance(value, dict):
        if value.get("__type") == "Date" and "iso" in value:
            return parse_date(value["iso"])
        return {key: decode_params(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_params(item) for item in value]
    return value


def encode_result(value: Any) -> Any:
    """The reverse of `decode_params` for a hook's result: datetimes become `{"__type":"Date","iso"}`, tuples
    and sets lists; the rest must already be JSON."""
    if isinstance(value, datetime):
        return date_json(value)
    if isinstance(value, dict):
        return {str(key): encode_result(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode_result(item) for item in value]
    return value
