"""An unchanged SDK's implicit resume on another process of the app (no sticky sessions, a rolling deploy): the
departed subscription is shared through Redis (livequery/bus/departures.py), so the client gets what it missed
wherever it reconnects.

Two servers on one Redis and one database: in this process (so a test can wait for the client's
acknowledgement), or as real processes for a SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.server import APP_ID as PROCESS_APP_ID
from benchmarks.server import running_server
from auth.principal import Principal
from livequery.bus import Departure, earliest
from livequery.bus.departures import RedisDepartures
from livequery.bus.redis import RedisBus
from livequery.resume import ANY_SEEN
from tests.livequery.conftest import APP_ID, LiveClient, LiveServer, live_settings, serving
from tests.livequery.test_live_resume import acknowledged, away, create, fence, kinds, update
from tests.livequery.test_ordered_processes import WAIT, frames_until, post
from tests.storage.mongo_server import fresh_database

ROOM = {"room": "r1"}


@asynccontextmanager
async def two_servers(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two servers sharing Redis and the database (the same data dir: its SQLite file, or the test's MongoDB
    database under the switch), each with its own bus, hub and resumes, as two processes have."""
    settings = dict(redis_url=redis_url, live_ack_seconds=0.05)
    async with serving(live_settings(tmp_path, **settings)) as first, \
            serving(live_settings(tmp_path, **settings)) as second:
        yield first, second


async def joined(server: LiveServer, installation: str, **fields: Any) -> LiveClient:
    client = await server.client(installationId=installation, **fields)
    assert (await client.receive())["op"] == "connected"
    reply = await client.subscribe(1, "Chat", ROOM)
    assert reply["op"] == "subscribed", reply
    return client


async def shared_records(redis_url: str, installation: str, *, app_id: str = APP_ID,
                         departed: bool = False) -> dict[bytes, bytes]:
    """The Redis records of (installation, requestId 1) by owner; with `departed`, once one is of a socket that
    went (the close path queues it; an open subscription's record says it may have seen anything)."""
    client = aioredis.Redis.from_url(redis_url)
    key = RedisDepartures(app_id, timeout=1.0).key(installation, 1)
    try:
        async with asyncio.timeout(5):
            while True:
                records = await client.hgetall(key)
                if not departed or any(b'"seen_upto":%d' % ANY_SEEN not in value for value in records.values()):
                    return records
                await asyncio.sleep(0.01)
    finally:
        await client.aclose()


async def test_a_client_back_on_another_process_gets_each_missed_change_once_then_live_events(
        tmp_path: Path, test_store: None, redis_server: str) -> None:
    installation = uuid.uuid4().hex
    async with two_servers(tmp_path, redis_server) as (first, second):
        client = await joined(first, installation)
        seen = await create(first, room="r1", text="seen")
        gone = await create(first, room="r1", text="gone")
        assert len(await client.frames_before(gone)) == 1
        await away(first, client)
        left = await shared_records(redis_server, installation, departed=True)

        await update(second, seen, text="edited")
        await update(second, seen, text="edited twice")
        await second.call("DELETE", f"/classes/Chat/{gone}", master=True)
        born = await create(second, room="r1", text="born")
        brief = await create(first, room="r1", text="brief")
        await second.call("DELETE", f"/classes/Chat/{brief}", master=True)  # never known: nothing

        back = await joined(second, installation)
        frames = await back.frames_before(await fence(first))
        assert kinds(frames) == [("update", seen, "edited twice"), ("delete", gone, "gone"),
                                 ("create", born, "born")]
        assert frames[0]["original"]["text"] == "seen"
        live = await create(first, room="r1", text="live")
        assert kinds([await back.receive()]) == [("create", live, "live")]
        now = await shared_records(redis_server, installation)  # it resumed one subscription: back's own is left
        assert len(now) == 1 and not now.keys() & left.keys()
        await back.close()


async def test_another_user_reusing_the_installation_on_another_process_gets_no_replay(
        tmp_path: Path, test_store: None, redis_server: str) -> None:
    installation = uuid.uuid4().hex
    async with two_servers(tmp_path, redis_server) as (first, second):
        ann, bob = await first.sign_up("ann"), await first.sign_up("bob")
        client = await joined(first, installation, sessionToken=ann["sessionToken"])
        await client.frames_before(await fence(first))
        await away(first, client)
        records = await shared_records(redis_server, installation, departed=True)
        assert not any(ann["sessionToken"].encode() in value for value in records.values())

        missed = await create(second, room="r1", text="missed")
        other = await joined(second, installation, sessionToken=bob["sessionToken"])
        bobs_fence = await fence(first)
        assert kinds(await other.frames_before(bobs_fence)) == []
        await other.close()

        back = await joined(second, installation, sessionToken=ann["sessionToken"])  # the record waited for ann
        assert kinds(await back.frames_before(await fence(first))) == [("create", missed, "missed"),
                                                                       ("create", bobs_fence, "fence")]
        await back.close()


async def test_an_open_subscriptions_record_follows_what_its_client_acknowledged(
        tmp_path: Path, test_store: None, redis_server: str) -> None:
    """What a client of a process that dies without a word resumes from elsewhere (see the SIGKILL test)."""
    installation = uuid.uuid4().hex
    async with two_servers(tmp_path, redis_server) as (first, _second):
        client = await joined(first, installation)
        joined_at = only(await shared_records(redis_server, installation))
        await client.frames_before(await fence(first))
        await acknowledged(first)
        hub = first.app.state.services.hub
        renewing = asyncio.create_task(hub.resumes.share_forever(0.01))
        try:
            async with asyncio.timeout(5):
                while (record := only(await shared_records(redis_server, installation)))["position"] != hub.position:
                    await asyncio.sleep(0.01)
        finally:
            renewing.cancel()
        assert joined_at["position"] < record["position"] and record["seen_upto"] == ANY_SEEN
        await client.close()


def only(records: dict[bytes, bytes]) -> dict[str, Any]:
    """The one record there is, as JSON (its field's value is `<match> <record>`)."""
    assert len(records) == 1, records
    return msgspec.json.decode(next(iter(records.values())).split(b" ", 1)[1])  # type: ignore[no-any-return]


async def test_a_subscribe_while_redis_does_not_answer_is_taken_as_new_without_waiting_for_it(
        tmp_path: Path, test_store: None, redis_server_control: Any) -> None:
    installation = uuid.uuid4().hex
    async with serving(live_settings(tmp_path, redis_url=redis_server_control.url)) as server:
        os.kill(redis_server_control.pid, signal.SIGSTOP)  # hangs: no refusal to fail fast on
        try:
            client = await server.client(installationId=installation)
            assert (await client.receive())["op"] == "connected"
            reply = await client.subscribe(1, "Chat", ROOM)  # bounded by receive's 5 s; the look-up by 1 s
            assert reply["op"] == "subscribed", reply
        finally:
            os.kill(redis_server_control.pid, signal.SIGCONT)
        created = await create(server, room="r1", text="live")
        assert kinds([await client.receive()]) == [("create", created, "live")]
        await client.close()


# -- the records themselves -------------------------------------------------------------------------------------

def departure(position: int, seen_upto: int, owner: str, match: str = "m") -> Departure:
    return Departure(match, "e", position, seen_upto, Principal(user_id="u", roles=frozenset({"staff"})), owner)


async def test_sockets_of_one_key_on_two_processes_resume_the_next_from_the_earliest_position(
        redis_server: str) -> None:
    app = uuid.uuid4().hex
    first, second = RedisBus(redis_server, channel=app), RedisBus(redis_server, channel=app)
    await first.start()
    await second.start()
    try:
        late, early = 7_300_000_000_000_000_123, 7_300_000_000_000_000_099
        first.departures.keep("i", 1, departure(late, late, "a"), 60)
        first.departures.keep("i", 1, departure(late + 5, late + 5, "a"), 60)  # replaces a's
        first.departures.keep("i", 1, departure(3, 3, "gone"), 60)
        first.departures.drop("i", 1, "gone")  # unsubscribed
        await first.departures.flush()  # what stop() does first
        second.departures.keep("i", 1, departure(early, early, "b"), 60)
        await second.departures.flush()
        assert await first.departures.take("i", 1, "another user or query") == []  # and they stay
        taken = await first.departures.take("i", 1, "m")
        assert sorted(taken, key=lambda record: record.owner) == [departure(late + 5, late + 5, "a"),
                                                                  departure(early, early, "b")]
        assert earliest(*taken) == departure(early, late + 5, "b")  # what a resume starts from
        assert await second.departures.take("i", 1, "m") == []  # they resumed one subscription
    finally:
        await first.stop()
        await second.stop()


async def test_a_record_queued_when_the_bus_stops_is_written_before_it_closes(redis_server: str) -> None:
    app = uuid.uuid4().hex
    bus = RedisBus(redis_server, channel=app)
    await bus.start()
    bus.departures.keep("i", 1, departure(5, 6, "a"), 60)
    await bus.stop()
    assert bus.departures.lost == 0
    reader = aioredis.Redis.from_url(redis_server)
    try:
        key = RedisDepartures(app, timeout=1.0).key("i", 1)
        assert 0 < await reader.pttl(key) <= 60_000
        assert (await reader.hget(key, "a") or b"").startswith(b"m {")
    finally:
        await reader.aclose()


# -- real processes: a rolling deploy ---------------------------------------------------------------------------

async def live_socket(url: str, installation: str) -> ClientConnection:
    socket_ = await connect(url.replace("http://", "ws://"), open_timeout=5)
    await socket_.send(json.dumps({"op": "connect", "applicationId": PROCESS_APP_ID, "installationId": installation}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), WAIT))["op"] == "connected"
    await socket_.send(json.dumps({"op": "subscribe", "requestId": 1,
                                   "query": {"className": "Counter", "where": {"name": "d"}}}))
    reply = json.loads(await asyncio.wait_for(socket_.recv(), WAIT))
    assert reply["op"] == "subscribed", reply
    return socket_


def ops(frames: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(f["op"], f["object"]["objectId"], f["object"]["n"]) for f in frames]


async def _rolling_deploy(first: str, second: str, first_pid: int, redis_url: str, how: signal.Signals) -> None:
    installation = uuid.uuid4().hex
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        socket_ = await live_socket(first, installation)
        seen = await post(http, first, "/classes/Counter", {"name": "d", "n": 1})
        assert ops(await frames_until(socket_, lambda f: f["object"]["objectId"] == seen["objectId"])) == [
            ("create", seen["objectId"], 1)]
        os.kill(first_pid, how)
        await asyncio.wait_for(socket_.wait_closed(), WAIT)
        if how == signal.SIGTERM:
            assert socket_.close_code == 1012  # "service restart": the SDKs reconnect
            await shared_records(redis_url, installation, app_id=PROCESS_APP_ID, departed=True)  # before it exits

        missed = await post(http, second, "/classes/Counter", {"name": "d", "n": 2})
        await post(http, second, f"/classes/Counter/{seen['objectId']}", {"n": 10}, method="PUT")

        back = await live_socket(second, installation)
        end = await post(http, second, "/classes/Counter", {"name": "d", "n": -1})
        frames = ops(await frames_until(back, lambda f: f["object"]["objectId"] == end["objectId"]))
        if how == signal.SIGTERM:  # one frame per object, latest state, then live; `seen` comes as a `create`
            # again if its acknowledgement had not reached A yet (the README's "what may come twice")
            assert frames in ([("create", missed["objectId"], 2), (kind, seen["objectId"], 10),
                               ("create", end["objectId"], -1)] for kind in ("update", "create"))
        else:  # A wrote nothing as it died: the record of the open subscription, as it joined, resumes it
            assert frames == [("create", missed["objectId"], 2), ("create", seen["objectId"], 10),
                              ("create", end["objectId"], -1)]
        await back.close()


@pytest.mark.parametrize("store", ["sqlite", "mongodb"])
def test_a_client_of_a_process_stopped_by_sigterm_resumes_on_another(
        store: str, redis_server: str, tmp_path: Path) -> None:
    if store == "mongodb":
        with fresh_database() as uri:
            _on_two_processes(redis_server, tmp_path, signal.SIGTERM, uri)
    else:
        _on_two_processes(redis_server, tmp_path, signal.SIGTERM, f"sqlite:///{tmp_path / 'shared.db'}")


def test_a_client_of_a_process_killed_by_sigkill_resumes_on_another_from_its_last_shared_position(
        redis_server: str, tmp_path: Path) -> None:
    """A crash writes nothing: B resumes from the record of the open subscription (as it joined, or its latest
    renewal), so what the client saw since may come again, but nothing is missed."""
    _on_two_processes(redis_server, tmp_path, signal.SIGKILL, f"sqlite:///{tmp_path / 'shared.db'}")


def _on_two_processes(redis_url: str, tmp_path: Path, how: signal.Signals, database_uri: str) -> None:
    shared = ["--database-uri", database_uri, "--redis-url", redis_url, "--live-ack-seconds", "0.05"]
    with running_server(*shared) as first:
        first_pid = running_server.last_pid  # type: ignore[attr-defined]
        with running_server(*shared) as second:
            asyncio.run(asyncio.wait_for(_rolling_deploy(first, second, first_pid, redis_url, how), 60))
