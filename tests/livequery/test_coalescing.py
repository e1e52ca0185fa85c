"""Coalesced LiveQuery delivery (cloud.live_query_options(CLASS, coalesce_ms=...)) on real server processes:
a subscriber gets at most one update per object per window carrying the latest state, every other kind of event
in order, and the final state; on one process and on two behind Redis."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.server import APP_ID, MASTER_KEY, running_server
from examples.client import LiveSubscriber, ParseClient

WINDOW_MS = 300
CLOUD = f"""
from livequery.cloud import Cloud
cloud = Cloud()
cloud.live_query_options("Tally", coalesce_ms={WINDOW_MS})
"""


@pytest.fixture
def cloud_file(tmp_path: Path) -> str:
    path = tmp_path / "coalescing_cloud.py"
    path.write_text(CLOUD)
    return str(path)


def increment(by: int = 1) -> dict[str, Any]:
    return {"n": {"__op": "Increment", "amount": by}}


async def watch(parse: ParseClient, class_name: str, where: dict[str, Any]) -> LiveSubscriber:
    subscriber = await parse.live()
    await subscriber.subscribe(class_name, where)
    return subscriber


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["op"] for frame in frames]


async def test_a_burst_of_updates_arrives_as_a_few_carrying_the_latest_state(cloud_file: str) -> None:
    with running_server("--cloud", cloud_file) as url:
        async with ParseClient(url, APP_ID, master_key=MASTER_KEY) as parse:
            tally = await parse.create("Tally", {"n": 0})
            viewers = [await watch(parse, "Tally", {"objectId": tally["objectId"]}) for _ in range(3)]
            started, sent = time.monotonic(), 0
            for _ in range(30):
                await parse.update("Tally", tally["objectId"], increment())
            elapsed = time.monotonic() - started
            for viewer in viewers:
                frames = await viewer.events(quiet_seconds=1.0)
                counts = [frame["object"]["n"] for frame in frames]
                assert set(kinds(frames)) == {"update"}
                assert counts[0] == 1  # the first update of a quiet object goes out at once
                assert counts[-1] == 30  # the final state always arrives
                assert counts == sorted(set(counts))  # latest states only, never an older one after a newer
                assert len(frames) <= elapsed * 1000 / WINDOW_MS + 2 < 30
                sent += len(frames)
                await viewer.close()
            health = await parse.request("GET", "/health")
            assert health["liveQueryCoalescing"]["coalesced"] > 0
            assert health["liveQueryCoalescing"]["sent"] == sent


async def test_create_enter_leave_delete_are_kept_in_order_after_the_pending_update(cloud_file: str) -> None:
    with running_server("--cloud", cloud_file) as url:
        async with ParseClient(url, APP_ID, master_key=MASTER_KEY) as parse:
            viewer = await watch(parse, "Tally", {"n": {"$lt": 5}})
            tally = await parse.create("Tally", {"n": 0})
            for _ in range(7):  # 1..4 are updates, 5 leaves the query, 6 and 7 are not seen
                await parse.update("Tally", tally["objectId"], increment())
            await parse.update("Tally", tally["objectId"], {"n": 2})  # enters again
            await parse.update("Tally", tally["objectId"], increment())
            await parse.delete("Tally", tally["objectId"])
            frames = await viewer.events(quiet_seconds=1.0)
            assert [kind for kind in kinds(frames) if kind != "update"] == ["create", "leave", "enter", "delete"]
            leave, delete = kinds(frames).index("leave"), kinds(frames).index("delete")
            assert frames[leave - 1]["op"] == "update" and frames[leave - 1]["object"]["n"] == 4
            assert frames[leave]["object"]["n"] == 5
            assert frames[delete - 1]["object"]["n"] == 3  # the update pending at the delete went first
            await viewer.close()


async def test_classes_without_the_option_get_every_update(cloud_file: str) -> None:
    with running_server("--cloud", cloud_file) as url:
        async with ParseClient(url, APP_ID, master_key=MASTER_KEY) as parse:
            plain = await parse.create("Plain", {"n": 0})
            viewer = await watch(parse, "Plain", {"objectId": plain["objectId"]})
            for _ in range(10):
                await parse.update("Plain", plain["objectId"], increment())
            frames = await viewer.events()
            assert [frame["object"]["n"] for frame in frames] == list(range(1, 11))
            assert (await parse.request("GET", "/health"))["liveQueryCoalescing"] == {"coalesced": 0, "sent": 0}
            await viewer.close()


async def test_two_processes_on_redis_each_coalesce_and_both_reach_the_final_state(
        cloud_file: str, redis_server: str, tmp_path: Path) -> None:
    shared = ["--cloud", cloud_file, "--database-uri", f"sqlite:///{tmp_path / 'shared.db'}",
              "--redis-url", redis_server]
    with running_server(*shared) as first, running_server(*shared) as second:
        async with ParseClient(first, APP_ID, master_key=MASTER_KEY) as one, \
                ParseClient(second, APP_ID, master_key=MASTER_KEY) as two:
            tally = await one.create("Tally", {"n": 0})
            viewers = [await watch(parse, "Tally", {"objectId": tally["objectId"]}) for parse in (one, two)]
            for i in range(40):  # writes through both processes
                await (one if i % 2 else two).update("Tally", tally["objectId"], increment())
            for viewer in viewers:
                frames = await viewer.events(quiet_seconds=1.0)
                counts = [frame["object"]["n"] for frame in frames]
                assert counts[-1] == 40 and counts == sorted(set(counts)) and len(frames) < 40
                await viewer.close()
            for parse in (one, two):
                assert (await parse.request("GET", "/health"))["liveQueryCoalescing"]["coalesced"] > 0
