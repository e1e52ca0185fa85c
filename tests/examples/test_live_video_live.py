"""What LiveQuery viewers of the live video example receive: joins and leaves, and the stream's counts."""
from __future__ import annotations

from examples.client import ParseFailure, pointer
from tests.examples.live_video_world import VideoWorld


async def test_viewers_see_participants_join_and_leave_live(video: VideoWorld) -> None:
    event = await video.new_event()
    viewer = await video.parse.live()  # anonymous
    await viewer.subscribe("Participant", {"event": pointer("VideoEvent", event["objectId"])})
    vic = await video.join("vic", event)
    await video.join("wes", event)
    await video.parse.delete("Participant", vic["objectId"], session=video.sessions["vic"])
    frames = await viewer.events()
    assert [(frame["op"], frame["object"]["user"]["objectId"]) for frame in frames] == [
        ("create", video.ids["vic"]), ("create", video.ids["wes"]), ("delete", video.ids["vic"])]
    await viewer.close()


async def test_the_counter_reaches_viewers_with_its_final_counts(video: VideoWorld) -> None:
    event = await video.new_event()
    viewer = await video.parse.live()
    await viewer.subscribe("ReactionCount", {"event": pointer("VideoEvent", event["objectId"])})
    vic = await video.join("vic", event)
    for kind in ("like", "heart", "heart", "question"):
        await video.react("vic", vic, event, kind)
    frames = await viewer.events(quiet_seconds=1.0)
    assert {frame["op"] for frame in frames} == {"update"}
    last = frames[-1]["object"]
    assert (last["participants"], last["total"], last["heart"], last["question"]) == (1, 4, 2, 1)
    await viewer.close()


async def test_nobody_but_the_server_sees_the_rate_limit_keys(video: VideoWorld) -> None:
    event = await video.new_event()
    snoop = await video.parse.live(video.sessions["wes"])
    try:
        await snoop.subscribe("RewardSlot")
    except ParseFailure:  # refused at subscribe time: as good as receiving nothing
        pass
    vic = await video.join("vic", event)
    await video.react("vic", vic, event)
    assert [frame for frame in await snoop.events() if frame.get("op") in ("create", "update")] == []
    await snoop.close()
