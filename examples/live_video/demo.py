"""The live video flow played through the REST API, printing what a LiveQuery viewer receives.

    python -m examples.live_video.demo            # serves the example on a free port for the demo
    python -m examples.live_video.demo --server http://127.0.0.1:1337/parse --app-id livequery --master-key KEY

A host schedules a stream; a viewer watches its participants and its reaction counter live. Two viewers join,
one reacts in a burst of 60 (a farming script): the counter is exact, the watcher gets a few coalesced updates
instead of 60, and the burst earns no more points than a person tapping. The refusals along the way are shown.
"""
from __future__ import annotations

import asyncio
import secrets
import time

from examples.client import ParseClient, date, days_from_now, pointer
from examples import demo_runner
from examples.demo_runner import Say, refused

BURST = 40


async def play(parse: ParseClient, say: Say = print) -> None:
    tag = secrets.token_hex(2)
    password = "demo-password"
    people = {name: await parse.sign_up(f"{name}-{tag}", password, email=f"{name}-{tag}@example.com")
              for name in ("hal", "amy", "bob")}
    await parse.update("_User", people["hal"]["objectId"], {"role": "host"}, master=True)
    session = {name: user["sessionToken"] for name, user in people.items()}
    say(f"hal-{tag} is a host; amy-{tag} and bob-{tag} are viewers")

    await refused(say, "amy schedules a stream", parse.create("VideoEvent", {
        "title": "Amy's", "streamUrl": "https://video.example.com/amy", "scheduledAt": date(days_from_now(1))},
        session=session["amy"]))
    event = await parse.create("VideoEvent", {"title": "Demo Stream", "streamUrl": "https://video.example.com/demo",
                                              "scheduledAt": date(days_from_now(0, 20))}, session=session["hal"])
    event_ref = pointer("VideoEvent", event["objectId"])
    say("hal schedules 'Demo Stream'")

    watcher = await parse.live()
    await watcher.subscribe("ReactionCount", {"event": event_ref})
    people_watch = await parse.live()
    await people_watch.subscribe("Participant", {"event": event_ref})
    say("a viewer subscribes to the stream's ReactionCount and Participant")

    joined = {}
    for name in ("amy", "bob"):
        joined[name] = await parse.create("Participant", {"user": pointer("_User", people[name]["objectId"]),
                                                          "event": event_ref}, session=session[name])
        say(f"{name} joins")
    await refused(say, "bob joins again", parse.create("Participant", {
        "user": pointer("_User", people["bob"]["objectId"]), "event": event_ref}, session=session["bob"]))
    for frame in await people_watch.events():
        say(f"  live -> viewer: {frame['op']} Participant (joinedAt {frame['object']['joinedAt']['iso']})")
    await watcher.events()  # the participant counts

    def reaction(name: str, kind: str) -> dict[str, object]:
        return {"participant": pointer("Participant", joined[name]["objectId"]), "event": event_ref,
                "engagementType": kind}

    await refused(say, "amy reacts with 'dislike'", parse.create("EngagementLog", reaction("amy", "dislike"),
                                                                 session=session["amy"]))
    await refused(say, "amy reacts as bob", parse.create("EngagementLog", reaction("bob", "like"),
                                                         session=session["amy"]))
    first = await parse.create("EngagementLog", reaction("amy", "heart"), session=session["amy"])
    say(f"amy reacts heart: {first['points']} point")
    started = time.monotonic()
    burst = await asyncio.gather(*(parse.create("EngagementLog", reaction("bob", "like"), session=session["bob"])
                                   for _ in range(BURST)))
    say(f"bob's script posts {BURST} likes at once (in {time.monotonic() - started:.1f} s): "
        f"{sum(r['points'] for r in burst)} point(s) earned")
    # Each reaction bumps the counter in an after_save, so the last updates may still be on their way: watch until
    # the viewer holds the final count (the last coalesced update always comes), however slow the store.
    frames = await watcher.events_until(lambda frame: frame["object"].get("total") == BURST + 1, timeout=60.0)
    last = frames[-1]["object"]
    say(f"  live -> viewer: {len(frames)} coalesced update(s) of ReactionCount for {BURST} reactions; "
        f"last: total {last['total']}, like {last['like']}, heart {last['heart']}")
    board = await parse.run("leaderboard", {"eventId": event["objectId"]})
    say("leaderboard: " + ", ".join(f"{row['username'].split('-')[0]} {row['points']}" for row in board))

    await parse.delete("Participant", joined["amy"]["objectId"], session=session["amy"])
    say("amy leaves")
    for frame in await people_watch.events():
        say(f"  live -> viewer: {frame['op']} Participant")
    counts = (await watcher.events())[-1]["object"]
    say(f"  live -> viewer: participants {counts['participants']}")
    for subscriber in (watcher, people_watch):
        await subscriber.close()


def main(argv: list[str] | None = None) -> None:
    demo_runner.main("live_video", play, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
