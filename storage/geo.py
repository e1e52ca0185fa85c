"""Planar geometry every evaluator shares, so a point on a polygon's edge falls on the same side in the SQLite
store and in the LiveQuery matcher (MongoDB counts edges as inside too)."""
from __future__ import annotations

from collections.abc import Sequence


def ring_contains(latitude: float, longitude: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Point-in-polygon over `(lat, lng)` vertices (even-odd rule); a point on an edge or vertex is inside."""
    inside = False
    y1, x1 = ring[-1]
    for y2, x2 in ring:
        if _on_segment(latitude, longitude, y1, x1, y2, x2):
            return True
        if (y1 > latitude) != (y2 > latitude) and longitude < x1 + (latitude - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
        y1, x1 = y2, x2
    return inside


def _on_segment(y: float, x: float, y1: float, x1: float, y2: float, x2: float) -> bool:
    if abs((x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)) > 1e-12:
        return False
    return min(x1, x2) <= x <= max(x1, x2) and min(y1, y2) <= y <= max(y1, y2)
