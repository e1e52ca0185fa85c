"""The seeded appointment booking app as the tests meet it: its people logged in, slots to book."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from examples.appointment_booking.seed import EVERY_DAY, PASSWORD, next_quarter
from examples.client import date, pointer
from tests.examples.event_registration_world import World


class Booking(World):
    """Log-ins and objects of the seed (paula and peter provide; ann, ben and cara book). Peter is open every day
    around the clock, so his slots are any future quarter hour; paula keeps weekday hours 09:00-17:00 UTC.
    `login`, `me` and `notifications` are the event registration world's (the same password and classes)."""

    async def new_user(self, name: str, role: str = "customer") -> str:
        user = await self.parse.sign_up(name, PASSWORD, email=f"{name}@example.com", role=role)
        self.sessions[name], self.ids[name] = user["sessionToken"], user["objectId"]
        return name

    async def new_provider(self, name: str, minutes: int = 60) -> dict[str, Any]:
        """A provider open around the clock with one service of `minutes`; the service."""
        await self.new_user(name, "provider")
        await self.parse.create("Calendar", {"availability": EVERY_DAY}, session=self.sessions[name])
        return await self.parse.create("Service", {"name": f"{name}'s service", "duration": minutes},
                                       session=self.sessions[name])

    async def service(self, name: str) -> dict[str, Any]:
        return (await self.parse.find("Service", {"name": name}))[0]

    async def book(self, customer: str, service: str | dict[str, Any], at: datetime, **auth: Any) -> dict[str, Any]:
        found = await self.service(service) if isinstance(service, str) else service
        auth = auth or {"session": self.sessions[customer]}
        return await self.parse.create("Appointment", {"service": pointer("Service", found["objectId"]),
                                                       "appointmentDate": date(at)}, **auth)

    async def move(self, who: str, appointment: dict[str, Any], status: str) -> dict[str, Any]:
        return await self.parse.update("Appointment", appointment["objectId"], {"status": status},
                                       session=self.sessions[who])

    async def appointment(self, appointment: dict[str, Any]) -> dict[str, Any]:
        return await self.parse.get("Appointment", appointment["objectId"], master=True)


def slot(days: int = 2, hour: int = 10, minute: int = 0) -> datetime:
    """A future quarter hour `days` ahead at hour:minute UTC."""
    day = datetime.now(timezone.utc) + timedelta(days=days)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def weekday_slot(weekday: int, hour: int, minute: int = 0) -> datetime:
    """The next `weekday` (1 = Monday) at least two days ahead, at hour:minute UTC."""
    day = slot(2, hour, minute)
    while day.isoweekday() != weekday:
        day += timedelta(days=1)
    return day


def soon(hours: int = 1) -> datetime:
    return next_quarter(datetime.now(timezone.utc), hours)
