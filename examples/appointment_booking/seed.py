"""Seed data: two providers with services and calendars, three customers, a few appointments (some today).

Everything goes through the REST API as the people themselves (providers publish services and availability,
customers book, a provider confirms), so the cloud rules apply to the seed as to any client. Dates are relative
to now, so the seed always books the future.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from examples.client import ParseClient, date, pointer

PASSWORD = "demo-password"
PROVIDERS = ("paula", "peter")
CUSTOMERS = ("ann", "ben", "cara")
SUMMARY = f"log in as paula or peter (providers; the dashboard), ann, ben or cara (customers); password {PASSWORD}"
WEEKDAYS = [{"kind": "weekly", "weekday": day, "from": "09:00", "to": "17:00"} for day in range(1, 6)]
EVERY_DAY = [{"kind": "weekly", "weekday": day, "from": "00:00", "to": "24:00"} for day in range(1, 8)]


def next_quarter(after: datetime, hours: int = 0) -> datetime:
    """The first quarter hour at least `hours` hours after `after`."""
    moment = after + timedelta(hours=hours, minutes=15)
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def within_its_day(start: datetime, minutes: int) -> datetime:
    """`start`, or 09:00 the next day when the appointment would run past midnight: a booking must lie inside one
    weekly window, and the last one of a day ends at 24:00 (between 22:00 and 23:00 UTC, an hour-long booking an
    hour from now would not)."""
    next_midnight = datetime.combine(start.date() + timedelta(days=1), time(), timezone.utc)
    if start + timedelta(minutes=minutes) <= next_midnight:
        return start
    return next_midnight + timedelta(hours=9)


def next_weekday_at(hour: int, days_ahead: int = 1) -> datetime:
    day = datetime.now(timezone.utc) + timedelta(days=days_ahead)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


async def seed(parse: ParseClient) -> None:
    sessions: dict[str, str] = {}
    for name in (*PROVIDERS, *CUSTOMERS):
        role = "provider" if name in PROVIDERS else "customer"
        signed_up = await parse.sign_up(name, PASSWORD, email=f"{name}@example.com", role=role)
        sessions[name] = signed_up["sessionToken"]

    services: dict[str, dict] = {}
    for provider, name, description, minutes in (
            ("paula", "Haircut", "Wash, cut and dry.", 30),
            ("paula", "Colouring", "Full colour with a consultation.", 90),
            ("peter", "Consultation", "An hour's advice on anything.", 60),
            ("peter", "Quick check", "A short follow-up.", 15)):
        services[name] = await parse.create("Service", {"name": name, "description": description,
                                                        "duration": minutes}, session=sessions[provider])
    holidays = next_weekday_at(0, days_ahead=14)
    await parse.create("Calendar", {"availability": [*WEEKDAYS, {
        "kind": "blocked", "from": holidays.isoformat(), "to": (holidays + timedelta(days=2)).isoformat()}]},
        session=sessions["paula"])
    await parse.create("Calendar", {"availability": EVERY_DAY}, session=sessions["peter"])

    now = datetime.now(timezone.utc)
    bookings = [("ann", "Haircut", next_weekday_at(10)), ("ben", "Colouring", next_weekday_at(13)),
                ("cara", "Consultation", within_its_day(next_quarter(now, 1), 60)),
                ("ann", "Quick check", within_its_day(next_quarter(now, 3), 15))]
    for customer, service, at in bookings:
        booked = await parse.create("Appointment", {
            "service": pointer("Service", services[service]["objectId"]), "appointmentDate": date(at)},
            session=sessions[customer])
        if customer == "cara":
            await parse.update("Appointment", booked["objectId"], {"status": "confirmed"}, session=sessions["peter"])
