"""The demo plays the booking flow through REST and prints what the LiveQuery subscribers receive."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from examples.appointment_booking import demo
from tests.storage.mongo_server import switched_database_uri

ROOT = Path(__file__).resolve().parent.parent.parent


def check_story(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "cam makes herself a provider: refused 141 role is chosen at sign-up" in text
    booked = [line for line in lines if "books 10:00 at the same moment" in line]
    assert sorted(line.split(": ", 1)[1] for line in booked) == [
        "pending", "refused 137 That time is already booked: pick another slot."], text
    assert "dan books 10:30 (overlaps): refused 137" in text
    assert "dan books on the blocked day: refused 141" in text
    assert "customer sets it confirmed: refused 119 Only the provider confirms an appointment." in text
    assert "pia sets it completed: refused 141" in text
    live = [line for line in lines if "live ->" in line]
    assert any("pia: create Notification 'New booking: Massage" in line for line in live), text
    assert any("create Notification 'Appointment confirmed: Massage" in line for line in live), text
    assert any("pia: create Notification 'Appointment cancelled: Massage" in line for line in live), text
    assert not any("pia: create Notification 'Appointment confirmed" in line for line in live), text
    assert "calendar feed /cloud/calendar/" in text and "1 event, STATUS:CONFIRMED" in text
    assert "the freed slot is booked again: pending" in text


async def test_the_demo_story_against_the_served_example(served_example: Any) -> None:
    served = await served_example("appointment_booking")
    lines: list[str] = []
    await demo.play(served.parse, lines.append)
    check_story(lines)


def test_the_demo_command_serves_the_example_itself(tmp_path: Path) -> None:
    """`python -m examples.appointment_booking.demo` runs `livequery serve --example appointment_booking`."""
    env = {**os.environ, "LIVEQUERY_DATABASE_URI": switched_database_uri(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "examples.appointment_booking.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_story(done.stdout.splitlines())
