"""An iCalendar feed (RFC 5545) of appointments, for calendar apps that subscribe to a URL.

Each appointment is one VEVENT whose UID is its CalendarSync `externalId`: the UID never changes, so a calendar
app that fetches the feed again updates the event (e.g. its STATUS) instead of adding a second one.
"""
from __future__ import annotations

from datetime import datetime, timezone

import msgspec

PRODUCT = "-//LiveQuery Server//Appointment booking example//EN"
STATUS = {"pending": "TENTATIVE", "confirmed": "CONFIRMED", "completed": "CONFIRMED", "cancelled": "CANCELLED"}


class FeedEvent(msgspec.Struct, frozen=True):
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    status: str  # the appointment's
    modified: datetime


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def text(value: str) -> str:
    """A TEXT value escaped as RFC 5545 3.3.11 asks."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after CRLF and a space (3.1), never inside a
    UTF-8 character."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:  # a continuation byte: cut before its start
            end -= 1
        parts.append(encoded[start:end].decode())
        start, limit = end, 74  # a continuation line begins with the space
    return "\r\n ".join(parts)


def render(name: str, events: list[FeedEvent], now: datetime) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODUCT}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{text(name)}"]
    for event in events:
        lines += ["BEGIN:VEVENT", f"UID:{text(event.uid)}", f"DTSTAMP:{stamp(now)}",
                  f"DTSTART:{stamp(event.start)}", f"DTEND:{stamp(event.end)}", f"SUMMARY:{text(event.summary)}",
                  f"DESCRIPTION:{text(event.description)}", f"STATUS:{STATUS.get(event.status, 'TENTATIVE')}",
                  f"LAST-MODIFIED:{stamp(event.modified)}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
