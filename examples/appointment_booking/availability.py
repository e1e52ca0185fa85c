"""A provider's availability (`Calendar.availability`) and the slots an appointment takes: plain values, no I/O.

The shape, an Array of entries (times in UTC):

    {"kind": "weekly", "weekday": 1, "from": "09:00", "to": "17:00"}     opening hours; weekday 1 = Monday .. 7
    {"kind": "blocked", "from": "2026-12-24T00:00:00Z", "to": "2026-12-27T00:00:00Z"}   a period off

A booking must lie wholly inside one weekly window of its day and touch no blocked period. Appointments start on a
quarter hour and last a whole number of quarter hours, so an appointment is a set of 15-minute slots, and two
appointments of one provider overlap exactly when they share a slot (the overlap guard in cloud.py).
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from typing import Any

SLOT = timedelta(minutes=15)
LONGEST = timedelta(hours=8)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class AvailabilityError(ValueError):
    """What is wrong, in words a client can show."""


def clock(value: Any, where: str) -> timedelta:
    """'HH:MM' (or '24:00') as the time since midnight."""
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise AvailabilityError(f"{where} must be a time 'HH:MM' (00:00 to 24:00, UTC).")
    hours, minutes = value.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def instant(value: Any, where: str) -> datetime:
    """An ISO 8601 date-time with its zone (or a Parse Date) as an aware datetime."""
    if isinstance(value, dict) and value.get("__type") == "Date":
        value = value.get("iso")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise AvailabilityError(f"{where} must be an ISO 8601 date-time with its zone, e.g. 2026-12-24T00:00:00Z.")
    return moment.astimezone(timezone.utc)


def check_availability(entries: Any) -> None:
    """Raises AvailabilityError naming the first entry that does not have the documented shape."""
    if not isinstance(entries, list):
        raise AvailabilityError("availability must be an Array of weekly and blocked entries.")
    for index, entry in enumerate(entries):
        where = f"availability[{index}]"
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if kind == "weekly":
            weekday = entry.get("weekday")
            if not isinstance(weekday, int) or isinstance(weekday, bool) or not 1 <= weekday <= 7:
                raise AvailabilityError(f"{where}.weekday must be 1 (Monday) to 7 (Sunday).")
            if clock(entry.get("from"), f"{where}.from") >= clock(entry.get("to"), f"{where}.to"):
                raise AvailabilityError(f"{where}: from must be before to.")
        elif kind == "blocked":
            if instant(entry.get("from"), f"{where}.from") >= instant(entry.get("to"), f"{where}.to"):
                raise AvailabilityError(f"{where}: from must be before to.")
        else:
            raise AvailabilityError(f"{where}.kind must be 'weekly' or 'blocked'.")


def check_timing(start: datetime, minutes: Any) -> timedelta:
    """The appointment's length; refuses a start off the quarter hour or a length not in whole quarter hours."""
    if start.second or start.microsecond or start.minute % 15:
        raise AvailabilityError("Appointments start on a quarter hour (:00, :15, :30 or :45).")
    return duration_of(minutes)


def duration_of(minutes: Any) -> timedelta:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0 or minutes % 15:
        raise AvailabilityError("duration must be a whole number of minutes, a multiple of 15.")
    if timedelta(minutes=minutes) > LONGEST:
        raise AvailabilityError("duration must be at most 480 minutes.")
    return timedelta(minutes=minutes)


def refusal(entries: list[dict[str, Any]], start: datetime, length: timedelta) -> str | None:
    """Why [start, start + length) is outside the availability, or None when it is inside."""
    end = start + length
    midnight = datetime.combine(start.date(), time(), timezone.utc)
    opened = any(entry.get("kind") == "weekly" and entry["weekday"] == start.isoweekday()
                 and midnight + clock(entry["from"], "from") <= start and end <= midnight + clock(entry["to"], "to")
                 for entry in entries)
    if not opened:
        return "The provider is not available then: pick a time inside their weekly hours."
    for entry in entries:
        if entry.get("kind") == "blocked" and instant(entry["from"], "from") < end \
                and start < instant(entry["to"], "to"):
            return "The provider is not available then: that time is blocked in their calendar."
    return None


def slot_keys(provider_id: str, start: datetime, length: timedelta) -> list[str]:
    """One key per 15-minute slot of the appointment, in time order (so two bookings meet at their first
    common slot: of two identical requests, the one that takes the first slot wins)."""
    count = length // SLOT
    return [f"{provider_id}:{(start + SLOT * n).strftime('%Y-%m-%dT%H:%MZ')}" for n in range(count)]
