"""The demo plays the main flow through REST and prints what the LiveQuery subscribers receive."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


from examples.event_registration import demo
from tests.storage.mongo_server import switched_database_uri

ROOT = Path(__file__).resolve().parent.parent.parent



def check_story(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "registers: confirmed" in text and "registers: waitlisted" in text
    assert "ben registers a second time: refused 137" in text
    assert "ann registers ben: refused 119" in text
    assert "olga schedules a session the day after: refused 141" in text
    live = [line for line in lines if "live ->" in line]
    assert any("ann: create Notification 'New session: Lightning talks" in line for line in live), text
    assert any("ann: create Notification 'Session moved: Lightning talks" in line for line in live), text
    assert any("ben: create Notification 'A seat opened up" in line for line in live), text
    assert any("ben: create Notification 'Session cancelled: Lightning talks.'" in line for line in live), text
    assert not any("ann: create Notification 'Session cancelled" in line for line in live), text  # ann cancelled
    assert "ben's registration is now confirmed" in text
    assert "ann (cancelled) rates it: refused 119" in text and "ben rates it 9: refused 142" in text


async def test_the_demo_story_against_the_served_example(served_example: Any) -> None:
    served = await served_example("event_registration")
    lines: list[str] = []
    await demo.play(served.parse, lines.append)
    check_story(lines)


def test_the_demo_command_serves_the_example_itself(tmp_path: Path) -> None:
    """`python -m examples.event_registration.demo` runs `livequery serve --example event_registration`."""
    env = {**os.environ, "LIVEQUERY_DATABASE_URI": switched_database_uri(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "examples.event_registration.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_story(done.stdout.splitlines())
