"""The event registration page in headless chromium: two people in two browser contexts, changes arriving live."""
from __future__ import annotations

import json


from examples.client import date, days_from_now, pointer
from tests.examples.browser import Browser, Page
from tests.examples.event_registration_world import World



async def log_in(page: Page, url: str, name: str) -> None:
    await page.goto(url)
    await page.wait_for("document.body.dataset.ready === 'anonymous'")
    await page.fill("#username", name)
    await page.fill("#password", "demo-password")
    await page.click("#login-button")
    await page.wait_for(f"document.body.dataset.ready === {json.dumps(name)}")


def seats_left(event_id: str) -> str:
    return f"document.querySelector('li.event[data-id=\"{event_id}\"] .seats')?.dataset.seatsLeft"


async def test_a_registration_in_one_browser_changes_the_seats_left_in_the_other(world: World,
                                                                                 browser: Browser) -> None:
    ann, ben = await browser.context(), await browser.context()
    await log_in(ann, world.served.page_url, "ann")
    await log_in(ben, world.served.page_url, "ben")
    event = await world.new_event(capacity=2, title="Browser Night")  # appears live on both pages
    for page in (ann, ben):
        assert await page.wait_for(f"{seats_left(event['objectId'])} === '2'")

    await ann.click(f"li.event[data-id='{event['objectId']}'] button.register")
    assert await ann.wait_for(f"document.querySelector(\"li.event[data-id='{event['objectId']}'] .status\")"
                              ".textContent === 'You are confirmed'")
    assert await ben.wait_for(f"{seats_left(event['objectId'])} === '1'")  # no reload: a LiveQuery update

    registrations = await world.parse.find("Registration", {"event": pointer("Event", event["objectId"])},
                                           master=True)
    assert [r["user"]["objectId"] for r in registrations] == [world.ids["ann"]]


async def test_own_notifications_arrive_live_on_the_page(world: World, browser: Browser) -> None:
    ann, ben = await browser.context(), await browser.context()
    event = await world.new_event(title="Schedule Night")
    await world.register("ann", event)
    await log_in(ann, world.served.page_url, "ann")
    await log_in(ben, world.served.page_url, "ben")
    await world.parse.create("Session", {"event": pointer("Event", event["objectId"]), "title": "Opening talk",
                                         "speaker": "Olivia", "time": date(days_from_now(5, 10))},
                             session=world.sessions["olivia"])
    message = await ann.wait_for("document.querySelector('#notifications li')?.textContent")
    assert "New session: Opening talk" in message
    assert await ben.evaluate("document.querySelectorAll('#notifications li').length") == 0


async def test_a_wrong_password_is_refused_on_the_page_with_the_reason(world: World, browser: Browser) -> None:
    page = await browser.context()
    await page.goto(world.served.page_url)
    await page.wait_for("document.body.dataset.ready === 'anonymous'")
    await page.fill("#username", "ann")
    await page.fill("#password", "wrong")
    await page.click("#login-button")
    assert "Invalid username/password" in await page.wait_for("document.querySelector('#message').textContent")


async def test_a_registration_made_elsewhere_shows_up_on_the_page(world: World, browser: Browser) -> None:
    page = await browser.context()
    await log_in(page, world.served.page_url, "ann")
    event = await world.new_event(capacity=0, title="Waiting")
    await page.wait_for(f"{seats_left(event['objectId'])} === '0'")
    await world.register("ann", event)  # from another device, through REST
    status = f"document.querySelector(\"li.event[data-id='{event['objectId']}'] .status\").textContent"
    assert await page.wait_for(f"{status} === 'You are waitlisted'")
    assert not any(line.startswith("uncaught") for line in page.log), page.log
