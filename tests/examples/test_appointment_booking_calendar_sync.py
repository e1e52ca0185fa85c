"""Calendar sync: each user's private iCalendar feed (RFC 5545, parsed with the `icalendar` package) and the
CalendarSync rows whose externalId is the event's UID."""
from __future__ import annotations

import httpx
import icalendar

from examples.client import pointer
from tests.examples.appointment_booking_world import Booking, slot
from tests.examples.event_registration_world import refusal


async def feed_of(booking: Booking, name: str) -> str:
    return (await booking.parse.run("calendarFeed", session=booking.sessions[name]))["url"]


async def read_feed(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url)


def events(reply: httpx.Response) -> dict[str, icalendar.Event]:
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(reply.text)  # raises on what RFC 5545 does not allow
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    assert reply.content.count(b"\r\n") == reply.content.count(b"\n")  # every line ends CRLF
    assert all(len(line) <= 75 for line in reply.content.split(b"\r\n"))  # long lines are folded
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


async def test_the_feed_lists_the_users_appointments_as_valid_icalendar(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(11, 10))
    cancelled = await booking.book("ann", "Consultation", slot(11, 12))
    await booking.move("ann", cancelled, "cancelled")
    sync = (await booking.parse.find("CalendarSync", {"appointment": pointer("Appointment",
                                                                              appointment["objectId"])},
                                     session=booking.sessions["ann"]))[0]
    for name in ("ann", "peter"):
        found = events(await read_feed(await feed_of(booking, name)))
        event = found[sync["externalId"]]
        assert event.decoded("DTSTART") == slot(11, 10) and event.decoded("DTEND") == slot(11, 11)
        assert str(event["SUMMARY"]) == "Consultation" and str(event["STATUS"]) == "TENTATIVE"
        assert str(event["DESCRIPTION"]) == "An hour's advice on anything."
        cancelled_sync = await booking.parse.find("CalendarSync", {"appointment": pointer(
            "Appointment", cancelled["objectId"])}, master=True)
        assert cancelled_sync[0]["externalId"] not in found
    assert sync["externalId"] not in events(await read_feed(await feed_of(booking, "ben")))


async def test_the_uid_stays_the_same_when_the_appointment_changes(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(11, 15))
    url = await feed_of(booking, "ann")
    before = {uid for uid in events(await read_feed(url))}
    await booking.move("peter", appointment, "confirmed")
    after = events(await read_feed(url))
    assert set(after) == before
    sync = await booking.parse.find("CalendarSync", {"appointment": pointer("Appointment", appointment["objectId"])},
                                    master=True)
    assert len(sync) == 1 and str(after[sync[0]["externalId"]]["STATUS"]) == "CONFIRMED"


async def test_each_appointment_has_one_calendar_sync_row_seen_by_its_parties_only(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(11, 17))
    where = {"appointment": pointer("Appointment", appointment["objectId"])}
    for name, count in (("ann", 1), ("peter", 1), ("ben", 0), ("paula", 0)):
        assert len(await booking.parse.find("CalendarSync", where, session=booking.sessions[name])) == count
    failure = await refusal(booking.parse.create("CalendarSync", {**where, "externalId": "x"},
                                                 session=booking.sessions["ann"]))
    assert failure.code == 119


async def test_the_feed_url_is_the_same_until_revoked_then_the_old_one_is_gone(booking: Booking) -> None:
    url = await feed_of(booking, "ann")
    assert await feed_of(booking, "ann") == url
    assert url != await feed_of(booking, "ben")
    renewed = (await booking.parse.run("revokeCalendarFeed", session=booking.sessions["ann"]))["url"]
    assert renewed != url and await feed_of(booking, "ann") == renewed
    gone = await read_feed(url)
    assert gone.status_code == 404 and gone.json()["code"] == 101
    assert events(await read_feed(renewed)) is not None


async def test_a_made_up_token_gets_no_feed_and_anonymous_callers_get_no_url(booking: Booking) -> None:
    gone = await read_feed(f"{booking.served.base_url}/cloud/calendar/guessed-token.ics")
    assert gone.status_code == 404
    failure = await refusal(booking.parse.run("calendarFeed"))
    assert failure.code in (141, 142, 209)
