"""How the hub shares the event loop under a backlog: slices of events, not one event per loop turn (which left
LiveQuery seconds behind a busy server), and never the whole backlog at once (other tasks run in between)."""
from __future__ import annotations

import asyncio

from livequery.bus import ChangeEvent
from tests.livequery.test_hub import Harness, eventually, msg

BACKLOG = 2000


async def test_a_backlog_is_dispatched_in_slices_while_other_tasks_still_run() -> None:
    harness = Harness(outbox_size=BACKLOG * 2, budget_bytes=1 << 30)  # the fake socket may hold the whole burst
    await harness.start()
    try:
        ann = await harness.client()
        await ann.subscribe({"room": "r1"})
        target = harness.hub.events_seen + BACKLOG
        for i in range(BACKLOG):  # the in-process bus queues them without yielding: a backlog, as under load
            await harness.bus.publish(ChangeEvent("Msg", "create", msg(f"m{i}")))
        turns = 0

        async def other_task() -> None:  # counts the loop turns it gets while the hub works the backlog off
            nonlocal turns
            while harness.hub.events_seen < target:
                turns += 1
                await asyncio.sleep(0)

        await asyncio.wait_for(other_task(), 60)
        assert turns >= 2  # the hub let others run in between
        assert turns < BACKLOG / 4  # many events per turn, not one
        await eventually(lambda: len(ann.received) >= BACKLOG + 2, timeout=30)  # after connected, subscribed
        assert [event["object"]["objectId"] for event in ann.events()] == [f"m{i}" for i in range(BACKLOG)]
    finally:
        await harness.stop()
