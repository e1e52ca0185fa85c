"""The SQL functions the translator's WHERE clauses call: regex search, deep equality and spherical geometry.

Registered as deterministic functions on every connection. They never raise: a value of the wrong shape
simply does not match (SQLite would otherwise abort the whole statement).
"""
from __future__ import annotations

import math
import sqlite3
from typing import Any

import msgspec

from storage.geo import ring_contains
from storage.errors import ParseError
from storage.regex import compile_regex

_CACHE_SIZE = 512


class SqlFunctions:
    """Per-store caches (decoded query values) behind the registered functions."""

    def __init__(self) -> None:
        self._decoded: dict[str, Any] = {}

    def register(self, conn: sqlite3.Connection) -> None:
        conn.create_function("pq_regexp", 3, self.regexp, deterministic=True)
        conn.create_function("pq_same", 2, self.same, deterministic=True)
        conn.create_function("pq_distance", 4, distance, deterministic=True)
        conn.create_function("pq_within_polygon", 3, self.within_polygon, deterministic=True)
        conn.create_function("pq_polygon_contains", 3, polygon_contains, deterministic=True)

    def regexp(self, pattern: str, options: str, value: Any) -> int:
        """RE2 (linear time, compiled once per pattern by storage.regex's cache): no row can stall a reader."""
        if not isinstance(value, str):
            return 0
        try:
            compiled = compile_regex(pattern, options)
        except ParseError:  # the parser refuses these first; a pattern that slipped through matches nothing
            return 0
        return 1 if compiled.search(value) is not None else 0

    def same(self, stored: Any, wanted: str) -> int:
        """1 if the stored JSON container equals the query value (JSON text), by Parse's equality."""
        if not isinstance(stored, str):
            return 0
        try:
            return 1 if is_same(msgspec.json.decode(stored), self._query_value(wanted)) else 0
        except msgspec.DecodeError:
            return 0

    def within_polygon(self, polygon: str, latitude: Any, longitude: Any) -> int:
        """1 if the point lies inside the polygon given as the JSON `[[lat, lng], ...]`."""
        if not (_is_number(latitude) and _is_number(longitude)):
            return 0
        return 1 if contains_point(self._query_value(polygon), latitude, longitude) else 0

    def _query_value(self, text: str) -> Any:
        try:
            return self._decoded[text]
        except KeyError:
            pass
        value = msgspec.json.decode(text)
        if len(self._decoded) >= _CACHE_SIZE:
            self._decoded.clear()
        self._decoded[text] = value
        return value


def is_same(stored: Any, wanted: Any) -> bool:
    """JSON equality where 1 == 1.0 but true != 1, and object key order does not matter."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return type(stored) is type(wanted) and stored == wanted
    if isinstance(stored, (int, float)) and isinstance(wanted, (int, float)):
        return stored == wanted
    if isinstance(stored, list):
        return (isinstance(wanted, list) and len(stored) == len(wanted)
                and all(is_same(a, b) for a, b in zip(stored, wanted)))
    if isinstance(stored, dict):
        return (isinstance(wanted, dict) and stored.keys() == wanted.keys()
                and all(is_same(stored[k], wanted[k]) for k in stored))
    return type(stored) is type(wanted) and stored == wanted


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def distance(lat1: Any, lng1: Any, lat2: Any, lng2: Any) -> float | None:
    """Great-circle distance in radians (haversine), as Parse's GeoPoint.radiansTo computes it."""
    if not all(_is_number(v) for v in (lat1, lng1, lat2, lng2)):
        return None
    to_rad = math.pi / 180.0
    phi1, phi2 = lat1 * to_rad, lat2 * to_rad
    half_dlat = math.sin((phi1 - phi2) / 2.0)
    half_dlng = math.sin((lng1 * to_rad - lng2 * to_rad) / 2.0)
    a = half_dlat * half_dlat + math.cos(phi1) * math.cos(phi2) * half_dlng * half_dlng
    return 2.0 * math.asin(math.sqrt(min(1.0, a)))


def contains_point(coordinates: Any, latitude: float, longitude: float) -> bool:
    """Planar point-in-polygon over `[[lat, lng], ...]`; a point on an edge or vertex is inside (as MongoDB and
    the LiveQuery matcher count it)."""
    if not isinstance(coordinates, list) or len(coordinates) < 3:
        return False
    try:
        ring = [(float(pair[0]), float(pair[1])) for pair in coordinates]
    except (TypeError, ValueError, IndexError, KeyError):
        return False
    return ring_contains(latitude, longitude, ring)


def polygon_contains(coordinates: Any, latitude: Any, longitude: Any) -> int:
    """1 if a stored Polygon's coordinates (JSON text) contain the point: `$geoIntersects`."""
    if not isinstance(coordinates, str) or not (_is_number(latitude) and _is_number(longitude)):
        return 0
    try:
        return 1 if contains_point(msgspec.json.decode(coordinates), latitude, longitude) else 0
    except msgspec.DecodeError:
        return 0
