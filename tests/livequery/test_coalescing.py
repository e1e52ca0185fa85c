"""Coalesced LiveQuery delivery (cloud.live_query_options(CLASS, coalesce_ms=...)) on real server processes:
a subscriber gets at most one update per object per window carrying the latest state, every other kind of event
in order, and the final state; on one process and on two behind Redis."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import parse_settings
from benchmarks.server import APP_ID, MASTER_KEY, running_server
from examples.client import LiveSubscriber, ParseClient
from tests.livequery.test_hub import PRIVATE_TO_ANN, Harness, eventually, msg

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


async def scrape(url: str) -> dict[str, float]:
    """The server's /metrics (Prometheus text, read with the master key), by sample name."""
    async with aiohttp.ClientSession() as http, http.get(url.removesuffix("/parse") + "/metrics",
                                                         headers={"X-Parse-Master-Key": MASTER_KEY}) as reply:
        text = await reply.text()
    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


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
            assert health["liveQueryCoalescing"]["sent"] * len(viewers) == sent  # each update once, to all three
            assert health["liveQueryCoalescing"]["coalesced"] + health["liveQueryCoalescing"]["sent"] == 30
            metrics = await scrape(url)
            assert metrics["livequery_coalesced_updates_total"] == health["liveQueryCoalescing"]["coalesced"]
            assert metrics["livequery_coalesced_updates_sent_total"] == health["liveQueryCoalescing"]["sent"]


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


async def test_a_resubscribe_within_the_window_never_gets_the_old_subscriptions_pending_update() -> None:
    # In-process hub (fake sockets collect the frames): the window is long, so the update is surely still pending
    # when the client unsubscribes and subscribes again with the same requestId and other keys.
    harness = Harness(coalesce_ms={"Msg": 2000})
    await harness.start()
    try:
        ann = await harness.client()
        await ann.subscribe({"room": "r1"}, request_id=7)
        await harness.publish("update", msg(n=1), msg(n=0))
        await harness.publish("update", msg(n=2), msg(n=1))  # pending in the window
        assert [event["object"]["n"] for event in ann.events()] == [1]
        await ann.handle.receive('{"op": "unsubscribe", "requestId": 7}')
        await ann.subscribe({"room": "r1"}, request_id=7, query={"keys": ["label"]})
        await asyncio.sleep(2.5)  # the old subscription's window has ended
        assert len(ann.events()) == 1  # its pending update was not sent under the new subscription
        await harness.publish("update", msg(n=3, label="new"), msg(n=2))  # the new subscription's first: at once
        new_events = ann.events()[1:]
        assert [event["object"].get("label") for event in new_events] == ["new"]
        assert "n" not in new_events[0]["object"]  # made for the new keys
    finally:
        await harness.stop()


async def burst(parse: ParseClient, class_name: str, updates: int) -> list[int]:
    """`updates` increments of a new object while one viewer watches it: the counts the viewer received."""
    tally = await parse.create(class_name, {"n": 0})
    viewer = await watch(parse, class_name, {"objectId": tally["objectId"]})
    for _ in range(updates):
        await parse.update(class_name, tally["objectId"], increment())
    frames = await viewer.events(quiet_seconds=1.0)
    await viewer.close()
    return [frame["object"]["n"] for frame in frames]


async def test_the_coalesce_flag_coalesces_a_class_without_cloud_code_and_wins_over_it(cloud_file: str) -> None:
    with running_server("--cloud", cloud_file, "--coalesce", f"Plain={WINDOW_MS}, Tally=0") as url:
        async with ParseClient(url, APP_ID, master_key=MASTER_KEY) as parse:
            plain = await burst(parse, "Plain", 30)
            assert plain[0] == 1 and plain[-1] == 30 and len(plain) < 30  # coalesced by the flag alone
            assert await burst(parse, "Tally", 10) == list(range(1, 11))  # the flag's 0 turned cloud code's off


@pytest.mark.parametrize("value", ["Plain", "Plain=abc", "Plain=-5", "Plain=60001", "9lives=100"])
def test_a_bad_coalesce_flag_is_refused_at_start(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--coalesce", value])
    assert "use CLASS=MS" in capsys.readouterr().err


def test_the_coalesce_flag_reads_several_classes() -> None:
    assert parse_settings(["--coalesce", "ReactionCount=250,Score=100"]).coalesce == (
        ("ReactionCount", 250.0), ("Score", 100.0))
    assert parse_settings([], {"LIVEQUERY_COALESCE": "Score=50"}).coalesce == (("Score", 50.0),)


async def test_a_window_is_fanned_out_once_however_many_subscribers_watch() -> None:
    # In-process hub: 40 subscribers, 20 updates in one long window. Coalescing happens on the events, before the
    # fan-out: the first update and the merged latest one are fanned out, each once to all 40.
    harness = Harness(coalesce_ms={"Msg": 400})
    await harness.start()
    try:
        viewers = [await harness.client() for _ in range(40)]
        for viewer in viewers:
            await viewer.subscribe({"room": "r1"})
        await harness.publish("create", msg(n=0))
        for n in range(1, 21):
            await harness.publish("update", msg(n=n), msg(n=n - 1))
        await eventually(lambda: all(len(viewer.events()) == 3 for viewer in viewers), timeout=5)
        for viewer in viewers:
            create, first, latest = viewer.events()
            assert (create["op"], first["object"]["n"], latest["object"]["n"]) == ("create", 1, 20)
            assert latest["original"]["n"] == 1  # from the state they were last sent
        stats = harness.hub.coalesce_stats.as_json()
        assert stats == {"coalesced": 18, "sent": 2}  # counted in events, not in frames
    finally:
        await harness.stop()


@pytest.mark.parametrize("change", ["acl", "pointer"])
async def test_an_update_that_can_change_who_sees_the_object_is_never_held(change: str) -> None:
    # ACLs and pointers decide visibility (`_rperm`, pointer permissions, protected userFields): such an update
    # goes out at once, right after the update held for the object.
    harness = Harness(coalesce_ms={"Msg": 60_000})
    await harness.start()
    try:
        ann, bob = await harness.client(sessionToken="t-ann"), await harness.client(sessionToken="t-bob")
        for viewer in (ann, bob):
            await viewer.subscribe({"room": "r1"})
        await harness.publish("create", msg(n=0))
        await harness.publish("update", msg(n=1), msg(n=0))  # at once
        await harness.publish("update", msg(n=2), msg(n=1))  # held: the window lasts a minute
        assert [event["object"]["n"] for event in bob.events()] == [0, 1]
        if change == "acl":
            await harness.publish("update", msg(n=2, acl=PRIVATE_TO_ANN), msg(n=2))
            assert [(e["op"], e["object"]["n"]) for e in bob.events()] == [
                ("create", 0), ("update", 1), ("update", 2), ("leave", 2)]
        else:
            owner = {"__type": "Pointer", "className": "_User", "objectId": "bob"}
            await harness.publish("update", msg(n=2, owner=owner), msg(n=2))
            assert [(e["op"], e["object"]["n"]) for e in bob.events()] == [
                ("create", 0), ("update", 1), ("update", 2), ("update", 2)]
            assert bob.events()[-1]["object"]["owner"]["objectId"] == "bob"
        assert [e["object"]["n"] for e in ann.events()] == [0, 1, 2, 2]
    finally:
        await harness.stop()
