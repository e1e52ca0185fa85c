"""The live video example's rules through REST: every refusal with its Parse error, and what the server sets."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from examples.client import ParseFailure, date, pointer
from examples.live_video.seed import PASSWORD
from tests.examples.event_registration_world import refusal
from tests.examples.live_video_world import VideoWorld


async def test_a_new_user_is_a_viewer_and_cannot_make_themself_a_host(video: VideoWorld) -> None:
    signed_up = await video.parse.sign_up("newbie", PASSWORD, email="newbie@example.com")
    assert (await video.parse.get("_User", signed_up["objectId"], master=True))["role"] == "viewer"
    failure = await refusal(video.parse.sign_up("sneaky", PASSWORD, email="s@example.com", role="host"))
    assert failure.code == 119 and "sign up as a viewer" in failure.error
    failure = await refusal(video.parse.update("_User", video.ids["vic"], {"role": "host"},
                                               session=video.sessions["vic"]))
    assert failure.code == 119


async def test_hosts_schedule_events_viewers_and_visitors_cannot(video: VideoWorld) -> None:
    event = await video.new_event(title="Hana's show")
    assert event["host"]["objectId"] == video.ids["hana"]
    assert (await video.counter(event))["total"] == 0  # its counters come with it
    body = {"title": "Mine", "streamUrl": "https://v.example.com/x", "scheduledAt": date(datetime.now(timezone.utc))}
    failure = await refusal(video.parse.create("VideoEvent", body, session=video.sessions["vic"]))
    assert failure.code == 119 and failure.error == "Only hosts schedule video events."
    failure = await refusal(video.parse.create("VideoEvent", body))  # not logged in
    assert failure.code == 101 and "authenticated" in failure.error
    failure = await refusal(video.new_event(streamUrl="javascript:alert(1)"))
    assert failure.code == 142 and "streamUrl" in failure.error


async def test_a_host_sets_the_host_to_themself_whatever_the_client_sends(video: VideoWorld) -> None:
    await video.new_user("otto", host=True)
    event = await video.new_event(by="otto", host=video.me("hana"))
    stored = await video.parse.get("VideoEvent", event["objectId"])
    assert stored["host"]["objectId"] == video.ids["otto"]


async def test_only_the_host_edits_or_deletes_their_event(video: VideoWorld) -> None:
    await video.new_user("otto", host=True)
    event = await video.new_event()
    for name in ("otto", "vic"):
        failure = await refusal(video.parse.update("VideoEvent", event["objectId"], {"title": "Taken"},
                                                   session=video.sessions[name]))
        assert failure.code in (101, 119), failure  # the ACL hides the write (101), or the rule says why (119)
        failure = await refusal(video.parse.delete("VideoEvent", event["objectId"], session=video.sessions[name]))
        assert failure.code in (101, 119), failure
    failure = await refusal(video.parse.update("VideoEvent", event["objectId"], {"host": video.me("otto")},
                                               session=video.sessions["hana"]))
    assert failure.code == 119
    await video.parse.update("VideoEvent", event["objectId"], {"title": "Renamed"}, session=video.sessions["hana"])
    assert (await video.parse.get("VideoEvent", event["objectId"]))["title"] == "Renamed"
    await video.join("vic", event)
    await video.parse.delete("VideoEvent", event["objectId"], session=video.sessions["hana"])
    ref = pointer("VideoEvent", event["objectId"])
    assert await video.parse.find("Participant", {"event": ref}) == []
    assert await video.parse.find("ReactionCount", {"event": ref}) == []


async def test_a_user_joins_once_as_themself_with_the_server_time(video: VideoWorld) -> None:
    event = await video.new_event()
    joined = await video.parse.create("Participant", {
        "user": video.me("vic"), "event": pointer("VideoEvent", event["objectId"]),
        "joinedAt": date(datetime(2001, 1, 1, tzinfo=timezone.utc))}, session=video.sessions["vic"])
    stored = await video.parse.get("Participant", joined["objectId"])
    assert stored["joinedAt"]["iso"] >= event["createdAt"]  # the server's clock, not 2001
    failure = await refusal(video.join("vic", event))
    assert failure.code == 137 and failure.error == "You already joined this event."
    failure = await refusal(video.parse.create("Participant", {"user": video.me("wes"), "event": pointer(
        "VideoEvent", event["objectId"])}, session=video.sessions["vic"]))
    assert failure.code == 119
    failure = await refusal(video.parse.create("Participant", {"user": video.me("vic"), "event": pointer(
        "VideoEvent", "nope")}, session=video.sessions["vic"]))
    assert failure.code == 101
    failure = await refusal(video.parse.update("Participant", joined["objectId"], {"event": pointer(
        "VideoEvent", "x")}, session=video.sessions["vic"]))
    assert failure.code == 119  # nobody edits a participation (app.json)
    assert (await video.counter(event))["participants"] == 1


async def test_leaving_deletes_the_participation_only_its_user_can(video: VideoWorld) -> None:
    event = await video.new_event()
    joined = await video.join("vic", event)
    failure = await refusal(video.parse.delete("Participant", joined["objectId"], session=video.sessions["wes"]))
    assert failure.code == 101
    await video.parse.delete("Participant", joined["objectId"], session=video.sessions["vic"])
    assert (await video.counter(event))["participants"] == 0
    failure = await refusal(video.react("vic", joined, event))
    assert failure.code == 101  # left: no more reactions
    await video.join("vic", event)  # and may come back
    assert (await video.counter(event))["participants"] == 1


async def test_reactions_come_from_participants_with_a_known_type_and_the_server_time(video: VideoWorld) -> None:
    event = await video.new_event()
    vic = await video.join("vic", event)
    long_ago = date(datetime.now(timezone.utc) - timedelta(days=365))
    reaction = await video.react("vic", vic, event, "heart", engagementTime=long_ago)
    stored = await video.parse.get("EngagementLog", reaction["objectId"])
    assert stored["engagementTime"]["iso"] >= event["createdAt"] and stored["points"] == 1
    failure = await refusal(video.react("vic", vic, event, "dislike"))
    assert failure.code == 142 and "engagementType must be one of like" in failure.error
    failure = await refusal(video.react("wes", vic, event))  # wes uses vic's participation
    assert failure.code == 119
    other = await video.new_event(title="Other")
    failure = await refusal(video.react("vic", vic, other))
    assert failure.code == 142 and "another event" in failure.error
    failure = await refusal(video.parse.create("EngagementLog", {"event": pointer("VideoEvent", event["objectId"]),
                                                                 "engagementType": "like"},
                                               session=video.sessions["vic"]))
    assert failure.code == 101
    for attempt in (video.parse.update("EngagementLog", reaction["objectId"], {"engagementType": "wow"},
                                       session=video.sessions["vic"]),
                    video.parse.delete("EngagementLog", reaction["objectId"], session=video.sessions["vic"])):
        assert (await refusal(attempt)).code == 119
    counts = await video.counter(event)
    assert counts["heart"] == 1 and counts["total"] == 1  # refused reactions are not counted


async def test_clients_cannot_write_counters_rewards_or_slots(video: VideoWorld) -> None:
    event = await video.new_event()
    counter = await video.counter(event)
    session = {"session": video.sessions["vic"]}
    attempts = [video.parse.update("ReactionCount", counter["objectId"], {"total": 10**6}, **session),
                video.parse.create("ReactionCount", {"event": pointer("VideoEvent", event["objectId"])}, **session),
                video.parse.create("Rewards", {"user": video.me("vic"), "points": 1000,
                                               "timestamp": date(datetime.now(timezone.utc))}, **session),
                video.parse.find("RewardSlot", **session)]
    for attempt in attempts:
        assert isinstance(await refusal(attempt), ParseFailure)
    assert (await video.counter(event))["total"] == 0


async def test_points_stop_at_the_event_cap(video: VideoWorld) -> None:
    event = await video.new_event()
    vic = await video.join("vic", event)
    await video.react("vic", vic, event, "like")
    row = (await video.parse.find("Rewards", {"key": f"{event['objectId']}:{video.ids['vic']}"}))[0]
    await video.parse.update("Rewards", row["objectId"], {"points": 49}, master=True)  # nearly at the cap
    await video.react("vic", vic, event, "question")  # may land in the same second: then it earns nothing
    assert await video.points("vic", event) <= 50
    await video.parse.update("Rewards", row["objectId"], {"points": 50}, master=True)
    reaction = await video.react("vic", vic, event, "question")
    assert reaction["points"] == 0 and await video.points("vic", event) == 50
    assert (await video.counter(event))["total"] == 3  # past the cap, reactions still count


async def test_the_leaderboard_ranks_an_events_participants_by_points(video: VideoWorld) -> None:
    event = await video.new_event()
    joined = {name: await video.join(name, event) for name in ("vic", "wes", "xena")}
    await video.react("wes", joined["wes"], event, "question")
    await video.react("vic", joined["vic"], event, "like")
    board = await video.parse.run("leaderboard", {"eventId": event["objectId"]})
    assert [(row["username"], row["points"]) for row in board] == [("wes", 2), ("vic", 1)]
    assert await video.parse.run("leaderboard", {"eventId": event["objectId"], "limit": 1}) == board[:1]
    assert (await refusal(video.parse.run("leaderboard", {}))).code == 142
    assert (await refusal(video.parse.run("leaderboard", {"eventId": event["objectId"], "limit": 0}))).code == 142
    assert (await refusal(video.parse.run("leaderboard", {"eventId": "nope"}))).code == 101


async def test_a_user_keeps_one_reward_slot_per_event_and_the_events_slots_go_with_it(video: VideoWorld) -> None:
    event = await video.new_event()
    vic, wes = await video.join("vic", event), await video.join("wes", event)
    event_ref = pointer("VideoEvent", event["objectId"])
    earned = []
    for _ in range(3):  # three different seconds: three slots won, the older ones deleted by the newer
        earned.append((await video.react("vic", vic, event, "like"))["points"])
        await asyncio.sleep(1.05)
    await video.react("wes", wes, event, "wow")
    assert earned == [1, 1, 1]
    slots = await video.parse.find("RewardSlot", {"event": event_ref}, master=True)
    assert sorted(slot["user"]["objectId"] for slot in slots) == sorted([video.ids["vic"], video.ids["wes"]])
    assert all(slot["key"].startswith(f"{event['objectId']}:") for slot in slots)
    await video.parse.delete("VideoEvent", event["objectId"], session=video.sessions["hana"])
    assert await video.parse.find("RewardSlot", {"event": event_ref}, master=True) == []
