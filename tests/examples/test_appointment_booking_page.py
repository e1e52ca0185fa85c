"""The provider's dashboard in headless chromium: bookings and cancellations made through REST show up live."""
from __future__ import annotations

import asyncio

from tests.examples.appointment_booking_world import Booking, slot
from tests.examples.browser import Browser
from tests.examples.test_event_registration_page import log_in


async def latest_notification(booking: Booking, name: str, timeout: float = 5.0) -> str | None:
    """`name`'s newest notification, waiting up to `timeout` for one. The page's badge can turn on the live event,
    which Parse sends before the afterSave trigger that writes the notification has run (as Parse Server does)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (notes := await booking.notifications(name)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return notes[-1] if notes else None


def badge(appointment_id: str) -> str:
    return f"document.querySelector('li.appointment[data-id=\"{appointment_id}\"] .badge')?.dataset.status"


async def test_a_booking_and_a_cancellation_through_rest_show_on_the_dashboard_live(booking: Booking,
                                                                                   browser: Browser) -> None:
    at = slot(12, 10)
    page = await browser.context()
    await log_in(page, f"{booking.served.page_url}?day={at.date().isoformat()}", "peter")
    assert await page.wait_for("!document.querySelector('#no-appointments').hidden")
    appointment = await booking.book("ann", "Consultation", at)  # through REST, not on the page
    assert await page.wait_for(f"{badge(appointment['objectId'])} === 'pending'")
    row = f"document.querySelector('li.appointment[data-id=\"{appointment['objectId']}\"]').textContent"
    text = await page.evaluate(row)
    assert "Consultation" in text and "10:00–11:00 UTC" in text and "booked by ann" in text
    await booking.move("ann", appointment, "cancelled")
    assert await page.wait_for(f"{badge(appointment['objectId'])} === 'cancelled'")  # no reload
    notes_shown = "[...document.querySelectorAll('#notifications li')].map(li => li.textContent)"
    notes = await page.wait_for(f"{notes_shown}.length >= 2 && {notes_shown}")
    assert notes[0].startswith("Appointment cancelled: Consultation")  # newest first
    assert any(note.startswith("New booking: Consultation") for note in notes)
    assert not any(line.startswith("uncaught") for line in page.log), page.log


async def test_the_provider_confirms_on_the_page_and_the_customer_hears_of_it(booking: Booking,
                                                                             browser: Browser) -> None:
    at = slot(12, 14)
    appointment = await booking.book("ben", "Consultation", at)
    page = await browser.context()
    await log_in(page, f"{booking.served.page_url}?day={at.date().isoformat()}", "peter")
    await page.click(f"li.appointment[data-id='{appointment['objectId']}'] button.confirmed")
    assert await page.wait_for(f"{badge(appointment['objectId'])} === 'confirmed'")
    assert (await booking.appointment(appointment))["status"] == "confirmed"
    assert (await latest_notification(booking, "ben") or "").startswith("Appointment confirmed: Consultation")


async def test_another_providers_appointments_never_reach_the_page(booking: Booking, browser: Browser) -> None:
    at = slot(12, 16)
    ninas = await booking.new_provider("nina")
    page = await browser.context()
    await log_in(page, f"{booking.served.page_url}?day={at.date().isoformat()}", "peter")
    theirs = await booking.book("ann", ninas, at)
    mine = await booking.book("ben", "Consultation", at)  # after nina's: once it shows, nina's had its chance
    assert await page.wait_for(f"{badge(mine['objectId'])} === 'pending'")
    assert await page.evaluate(f"{badge(theirs['objectId'])} === undefined")
    assert await page.evaluate("document.querySelectorAll('li.appointment').length") == 1


async def test_the_calendar_feed_url_is_shown_on_request(booking: Booking, browser: Browser) -> None:
    page = await browser.context()
    await log_in(page, booking.served.page_url, "peter")
    await page.click("#feed-button")
    url = await page.wait_for("document.querySelector('#feed-url').textContent")
    assert url == (await booking.parse.run("calendarFeed", session=booking.sessions["peter"]))["url"]
    assert "/cloud/calendar/" in url and url.endswith(".ics")
    # the shared page.css (served under /apps/common/) styles the header in this page's own colour
    header = "getComputedStyle(document.querySelector('header')).backgroundColor"
    assert await page.evaluate(header) == "rgb(23, 61, 58)"  # --header: #173d3a
