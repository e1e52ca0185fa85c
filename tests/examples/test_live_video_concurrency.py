"""Many requests at the same moment: one join per user, exact reaction counts, and a farming script that earns
no more than a person."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from examples.client import ParseFailure, pointer
from tests.examples.live_video_world import VideoWorld


async def outcomes(calls: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def test_concurrent_joins_of_one_user_make_one_participant(video: VideoWorld) -> None:
    event = await video.new_event()
    results = await outcomes([video.join("vic", event) for _ in range(6)])
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert {r.code for r in results if isinstance(r, ParseFailure)} == {137}
    assert len(await video.parse.find("Participant", {"event": pointer("VideoEvent", event["objectId"])})) == 1
    assert (await video.counter(event))["participants"] == 1


async def test_concurrent_reactions_are_counted_exactly(video: VideoWorld) -> None:
    event = await video.new_event()
    joined = {name: await video.join(name, event) for name in ("vic", "wes", "xena")}
    kinds = ("like", "heart", "wow", "laugh")
    calls = [video.react(name, joined[name], event, kinds[i % 4]) for i in range(24) for name in joined]
    results = await outcomes(calls)
    assert all(isinstance(r, dict) for r in results), [r for r in results if not isinstance(r, dict)][:3]
    counts = await video.counter(event)
    stored = await video.parse.find("EngagementLog", {"event": pointer("VideoEvent", event["objectId"])},
                                    limit=1000)
    assert len(stored) == 72 and counts["total"] == 72
    assert {kind: counts[kind] for kind in kinds} == dict(Counter(row["engagementType"] for row in stored))
    assert counts["like"] == counts["heart"] == counts["wow"] == counts["laugh"] == 18


async def test_a_farming_script_earns_no_more_than_one_reaction_a_second(video: VideoWorld) -> None:
    event = await video.new_event()
    farmer = await video.join("wes", event)
    started = time.monotonic()
    results = []
    for _ in range(3):  # three waves of 25 concurrent reactions
        results += await outcomes([video.react("wes", farmer, event, "question") for _ in range(25)])
    elapsed = time.monotonic() - started
    assert all(isinstance(r, dict) for r in results), [r for r in results if not isinstance(r, dict)][:3]
    earned = sum(r["points"] for r in results)
    assert earned == await video.points("wes", event)
    assert 2 <= earned <= 2 * (int(elapsed) + 2)  # one rewarded reaction per second at most, 2 points each
    assert sum(1 for r in results if r["points"]) <= int(elapsed) + 2
    assert (await video.counter(event))["total"] == 75  # every reaction still counts as a reaction
