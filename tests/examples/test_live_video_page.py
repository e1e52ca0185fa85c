"""The live video viewer's page in headless chromium: reactions made elsewhere move its counter without a reload."""
from __future__ import annotations

import json
import os
from pathlib import Path

from examples.live_video.seed import PASSWORD
from tests.examples.browser import Browser, Page
from tests.examples.live_video_world import VideoWorld

SCREENSHOT = Path(__file__).resolve().parent.parent.parent / "examples" / "live_video" / "screenshot.png"


async def open_stream(page: Page, url: str, event_id: str, name: str | None = None) -> None:
    await page.goto(f"{url}?event={event_id}")
    await page.wait_for("document.body.dataset.ready === 'anonymous'")
    if name is not None:
        await page.fill("#username", name)
        await page.fill("#password", PASSWORD)
        await page.click("#login-button")
        await page.wait_for(f"document.body.dataset.ready === {json.dumps(name)}")
    await page.wait_for(f"document.body.dataset.event === {json.dumps(event_id)}")


def count(name: str) -> str:
    return f"document.querySelector('#{name}').dataset.count"


async def test_a_reaction_through_rest_moves_the_counter_on_the_page(video: VideoWorld, browser: Browser) -> None:
    event = await video.new_event(title="Browser Stream")
    page = await browser.context()
    await open_stream(page, video.served.page_url, event["objectId"])  # an anonymous viewer
    assert await page.wait_for(f"{count('total')} === '0'")
    vic = await video.join("vic", event)
    assert await page.wait_for(f"{count('participants')} === '1'")
    for kind in ("heart", "heart", "wow"):
        await video.react("vic", vic, event, kind)  # through REST, not the page
    assert await page.wait_for(f"{count('total')} === '3'")  # no reload: a (coalesced) LiveQuery update
    heart = "document.querySelector('#reactions button[data-type=\"heart\"] .count').textContent"
    assert await page.wait_for(f"{heart} === '2'")
    assert "vic" in await page.wait_for("document.querySelector('#leaderboard li')?.textContent")
    assert not any(line.startswith("uncaught") for line in page.log), page.log


async def test_a_viewer_joins_and_reacts_on_the_page(video: VideoWorld, browser: Browser) -> None:
    event = await video.new_event(title="Clap Stream")
    page = await browser.context()
    await open_stream(page, video.served.page_url, event["objectId"], "xena")
    await page.click("#join-button")
    assert await page.wait_for(f"{count('participants')} === '1'")
    await page.wait_for("!document.querySelector('#reactions button[data-type=\"clap\"]').disabled")
    await page.click("#reactions button[data-type='clap']")
    assert await page.wait_for(f"{count('total')} === '1'")
    assert (await video.counter(event))["clap"] == 1
    if os.environ.get("LIVEQUERY_SCREENSHOT"):  # LIVEQUERY_SCREENSHOT=1 refreshes the README's picture
        for kind in ("heart", "like", "wow"):
            await page.click(f"#reactions button[data-type='{kind}']")
        await page.wait_for(f"{count('total')} === '4'")
        await page.screenshot(SCREENSHOT)
