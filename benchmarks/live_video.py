"""Scenario: many viewers watch one live stream's reaction counter while reactions arrive at a steady rate.

Serves `livequery serve --example live_video` (one process, or two behind Redis with --redis-url), subscribes
`--viewers` LiveQuery sockets to the stream's ReactionCount (spread over the processes), then posts `--rate`
reactions a second through REST for `--seconds` from a pool of participants. The server coalesces the counter's
updates (250 ms windows, the example's cloud code), so each viewer gets a few frames a second, not one per
reaction. Checks: the stored counts equal the reactions accepted; every viewer's last frame carries the final
counts, and when it arrived after the last reaction's answer; frames per viewer per second; server CPU; viewers
disconnected. Prints one JSON object.

    .venv/bin/python -m benchmarks.live_video [--viewers 100 --rate 20 --seconds 20 --redis-url redis://...]

The issue's full scenario is 2,000 viewers and 200 reactions/s for 30 s; the defaults are scaled to about a
minute on a shared 2-core machine, where figures are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from benchmarks.event_registration import Rest, pointer, session, sign_up_all
from benchmarks.server import APP_ID, process_cpu_seconds, running_server

REACTIONS = ("like", "heart", "laugh", "wow", "clap", "question")


class Viewer:
    """One LiveQuery socket subscribed to the counter: the latest total it saw and when."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.frames = 0
        self.total = -1
        self.seen_at = 0.0
        self.disconnected = False

    async def read(self) -> None:
        try:
            async for message in self.socket:
                frame = json.loads(message)
                if frame.get("op") == "update":
                    self.frames += 1
                    self.total = frame["object"]["total"]
                    self.seen_at = time.perf_counter()
        except Exception:
            pass
        self.disconnected = True


async def watch(ws_url: str, event_id: str) -> Viewer:
    socket = await connect(ws_url, open_timeout=30, max_queue=None)
    await socket.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
    assert json.loads(await socket.recv())["op"] == "connected"
    await socket.send(json.dumps({"op": "subscribe", "requestId": 1, "query": {
        "className": "ReactionCount", "where": {"event": pointer("VideoEvent", event_id)}}}))
    assert json.loads(await socket.recv())["op"] == "subscribed"
    return Viewer(socket)


async def run(urls: list[str], pids: list[int], viewers: int, rate: int, seconds: float) -> dict[str, Any]:
    async with session() as http:
        rest = Rest(http, urls[0])
        hana = await rest.ok("POST", "/login", {"username": "hana", "password": "demo-password"})
        event = await rest.ok("POST", "/classes/VideoEvent", {
            "title": "Benchmark stream", "streamUrl": "https://video.example.com/bench",
            "scheduledAt": {"__type": "Date", "iso": "2099-01-01T18:00:00.000Z"}}, session=hana["sessionToken"])
        event_ref = pointer("VideoEvent", event["objectId"])
        people = await sign_up_all(rest, [f"bench-viewer-{i}" for i in range(20)])
        participants = [(user["sessionToken"], await rest.ok("POST", "/classes/Participant", {
            "user": pointer("_User", user["objectId"]), "event": event_ref}, session=user["sessionToken"]))
            for user in people]

    watchers = []
    for i in range(viewers):
        url = urls[i % len(urls)].replace("http://", "ws://", 1)
        watchers.append(await watch(url, event["objectId"]))
    readers = [asyncio.create_task(viewer.read()) for viewer in watchers]
    await asyncio.sleep(1.0)  # the participants' join updates
    for viewer in watchers:
        viewer.frames = 0

    cpu_before = [process_cpu_seconds(pid) for pid in pids]
    client_cpu_before = time.process_time()
    accepted = failed = 0
    async with session(limit=64) as http:
        rests = [Rest(http, url) for url in urls]

        async def react(i: int) -> None:
            nonlocal accepted, failed
            token, participant = participants[i % len(participants)]
            status, _ = await rests[i % len(rests)].call("POST", "/classes/EngagementLog", {
                "participant": pointer("Participant", participant["objectId"]), "event": event_ref,
                "engagementType": REACTIONS[i % len(REACTIONS)]}, session=token)
            accepted, failed = (accepted + 1, failed) if status == 201 else (accepted, failed + 1)

        began = time.perf_counter()
        pending = []
        for i in range(int(rate * seconds)):
            pending.append(asyncio.create_task(react(i)))
            await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.perf_counter()))
        await asyncio.gather(*pending)
        last_answer = time.perf_counter()
        posting_seconds = last_answer - began
        counter = (await rests[0].ok("GET", "/classes/ReactionCount", params={
            "where": json.dumps({"event": event_ref})}))["results"][0]
        deadline = time.perf_counter() + 10  # the last coalescing window and the fan-out (lag measured below)
        while time.perf_counter() < deadline and any(viewer.total != counter["total"] for viewer in watchers):
            await asyncio.sleep(0.1)
    cpu = [process_cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before)]
    client_cpu = time.process_time() - client_cpu_before
    disconnected = sum(viewer.disconnected for viewer in watchers)
    for viewer in watchers:
        with contextlib.suppress(Exception):
            await viewer.socket.close()
    for reader in readers:
        reader.cancel()
    converged = [viewer for viewer in watchers if viewer.total == counter["total"]]
    lags = sorted(max(0.0, viewer.seen_at - last_answer) for viewer in converged)
    frames = sorted(viewer.frames for viewer in watchers)
    return {
        "scenario": f"{viewers} viewers of one stream's counter, {rate} reactions/s through REST for {seconds:g} s",
        "processes": len(urls), "reactions_accepted": accepted, "reactions_failed": failed,
        "counter_total": counter["total"], "counts_exact": counter["total"] == accepted
        and sum(counter[name] for name in REACTIONS) == accepted,
        "viewers_converged": len(converged), "viewers_disconnected": disconnected,
        "converged_within_1s_of_last_reaction": len(converged) == viewers and (not lags or lags[-1] <= 1.0),
        "max_lag_after_last_reaction_s": round(lags[-1], 3) if lags else None,
        "events_per_viewer_per_second": round(sum(frames) / viewers / posting_seconds, 2),
        "min_max_frames_per_viewer": [frames[0], frames[-1]],
        "last_totals_seen": sorted({viewer.total for viewer in watchers})[-5:],
        "reactions_per_second_achieved": round(accepted / posting_seconds, 1),
        "server_cpu_seconds": [round(value, 1) for value in cpu],
        "server_cpu_percent": [round(100 * value / posting_seconds, 1) for value in cpu],
        "load_client_cpu_percent": round(100 * client_cpu / posting_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--redis-url", default="", help="serve two processes behind this Redis")
    args = parser.parse_args()
    if not args.redis_url:
        with running_server("--example", "live_video") as url:
            pid = running_server.last_pid  # type: ignore[attr-defined]
            result = asyncio.run(run([url], [pid], args.viewers, args.rate, args.seconds))
    else:
        import tempfile
        with tempfile.TemporaryDirectory() as shared:
            extra = ("--example", "live_video", "--redis-url", args.redis_url,
                     "--database-uri", f"sqlite:///{shared}/shared.db")
            with running_server(*extra) as first:
                first_pid = running_server.last_pid  # type: ignore[attr-defined]
                with running_server(*extra) as second:  # starts after the first seeded the database
                    second_pid = running_server.last_pid  # type: ignore[attr-defined]
                    result = asyncio.run(run([first, second], [first_pid, second_pid], args.viewers, args.rate,
                                             args.seconds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
