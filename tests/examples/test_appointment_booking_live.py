"""What LiveQuery subscribers of the appointment booking example receive, and what they never receive."""
from __future__ import annotations

from tests.examples.appointment_booking_world import Booking, slot


async def test_a_booking_notifies_the_provider_live_and_nobody_else(booking: Booking) -> None:
    inboxes = {}
    for name in ("peter", "ann", "ben"):
        inboxes[name] = await booking.parse.live(booking.sessions[name])
        await inboxes[name].subscribe("Notification", {"user": booking.me(name)})
    snoop = await booking.parse.live(booking.sessions["ben"])  # ben asks for peter's notifications
    await snoop.subscribe("Notification", {"user": booking.me("peter")})
    await booking.book("ann", "Consultation", slot(10, 9))
    received = await inboxes["peter"].events()
    assert [frame["op"] for frame in received] == ["create"]
    assert received[0]["object"]["message"].startswith("New booking: Consultation on ")
    assert received[0]["object"]["read"] is False
    for quiet in (inboxes["ann"], inboxes["ben"], snoop):
        assert await quiet.events() == []
    for subscriber in (*inboxes.values(), snoop):
        await subscriber.close()


async def test_a_status_change_reaches_the_customer_live(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(10, 11))
    inbox = await booking.parse.live(booking.sessions["ann"])
    await inbox.subscribe("Notification", {"user": booking.me("ann")})
    mine = await booking.parse.live(booking.sessions["ann"])
    await mine.subscribe("Appointment", {"customer": booking.me("ann")})
    await booking.move("peter", appointment, "confirmed")
    notes = await inbox.events()
    assert [frame["object"]["message"] for frame in notes] == [
        f"Appointment confirmed: Consultation on {slot(10, 11).strftime('%a %d %b %H:%M UTC')}."]
    updates = [frame for frame in await mine.events() if frame["op"] == "update"]
    assert updates and updates[-1]["object"]["status"] == "confirmed"
    for subscriber in (inbox, mine):
        await subscriber.close()


async def test_the_provider_watches_their_appointments_live_others_see_none(booking: Booking) -> None:
    peter = await booking.parse.live(booking.sessions["peter"])
    await peter.subscribe("Appointment", {"provider": booking.me("peter")})
    paula = await booking.parse.live(booking.sessions["paula"])
    await paula.subscribe("Appointment", {"provider": booking.me("peter")})
    ben = await booking.parse.live(booking.sessions["ben"])
    await ben.subscribe("Appointment", {})
    appointment = await booking.book("ann", "Consultation", slot(10, 14))
    await booking.move("ann", appointment, "cancelled")
    seen = [(frame["op"], frame["object"]["status"]) for frame in await peter.events()]
    assert seen[0] == ("create", "pending") and seen[-1] == ("update", "cancelled")
    assert await paula.events() == [] and await ben.events() == []
    for subscriber in (peter, paula, ben):
        await subscriber.close()
