"""The live video demo plays the main flow through REST and prints what a LiveQuery viewer receives."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from examples.live_video import demo
from tests.storage.mongo_server import switched_database_uri

ROOT = Path(__file__).resolve().parent.parent.parent


def check_story(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "amy schedules a stream: refused 119" in text
    assert "bob joins again: refused 137" in text
    assert "amy reacts with 'dislike': refused 142" in text and "amy reacts as bob: refused 119" in text
    assert text.count("live -> viewer: create Participant") == 2
    assert "amy reacts heart: 1 point" in text
    burst = re.search(rf"posts {demo.BURST} likes at once \(in ([\d.]+) s\): (\d+) point", text)
    assert burst, text
    assert 1 <= int(burst.group(2)) <= float(burst.group(1)) + 2  # one rewarded like (1 point) per second
    coalesced = re.search(rf"(\d+) coalesced update\(s\) of ReactionCount for {demo.BURST} reactions; last: "
                          rf"total {demo.BURST + 1}, like {demo.BURST}, heart 1", text)
    assert coalesced and int(coalesced.group(1)) < demo.BURST, text
    assert "live -> viewer: delete Participant" in text and "participants 1" in text


async def test_the_demo_story_against_the_served_example(served_example: Any) -> None:
    served = await served_example("live_video")
    lines: list[str] = []
    await demo.play(served.parse, lines.append)
    check_story(lines)


def test_the_demo_command_serves_the_example_itself(tmp_path: Path) -> None:
    """`python -m examples.live_video.demo` runs `livequery serve --example live_video`."""
    env = {**os.environ, "LIVEQUERY_DATABASE_URI": switched_database_uri(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "examples.live_video.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_story(done.stdout.splitlines())
