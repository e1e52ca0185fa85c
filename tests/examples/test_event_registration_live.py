"""What LiveQuery subscribers of the event registration example receive, and what they never receive."""
from __future__ import annotations

from examples.client import date, days_from_now, pointer
from tests.examples.event_registration_world import World


async def test_notifications_arrive_live_to_their_user_only(world: World) -> None:
    event = await world.new_event(title="Live")
    await world.register("ann", event)
    inboxes = {}
    for name in ("ann", "ben"):
        inboxes[name] = await world.parse.live(world.sessions[name])
        await inboxes[name].subscribe("Notification", {"user": world.me(name)})
    snoop = await world.parse.live(world.sessions["ben"])  # ben asks for ann's notifications
    await snoop.subscribe("Notification", {"user": world.me("ann")})
    await world.new_session(event, hour=10, title="Keynote")
    received = await inboxes["ann"].events()
    assert [frame["op"] for frame in received] == ["create"]
    note = received[0]["object"]
    assert note["message"].startswith("New session: Keynote") and note["user"]["objectId"] == world.ids["ann"]
    assert await inboxes["ben"].events() == [] and await snoop.events() == []
    for subscriber in (*inboxes.values(), snoop):
        await subscriber.close()


async def test_a_waitlist_promotion_reaches_the_promoted_user_live(world: World) -> None:
    event = await world.new_event(capacity=1, title="Full")
    ann = await world.register("ann", event)
    await world.register("ben", event)
    ben_inbox = await world.parse.live(world.sessions["ben"])
    await ben_inbox.subscribe("Notification", {"user": world.me("ben")})
    ben_registrations = await world.parse.live(world.sessions["ben"])
    await ben_registrations.subscribe("Registration", {"user": world.me("ben")})
    await world.parse.update("Registration", ann["objectId"], {"status": "cancelled"}, session=world.sessions["ann"])
    notes = await ben_inbox.events()
    assert [frame["object"]["message"] for frame in notes] == ["A seat opened up: you are confirmed for Full."]
    updates = [frame for frame in await ben_registrations.events() if frame["op"] == "update"]
    assert updates and updates[-1]["object"]["status"] == "confirmed"
    for subscriber in (ben_inbox, ben_registrations):
        await subscriber.close()


async def test_anyone_watching_events_sees_the_seat_count_change(world: World) -> None:
    event = await world.new_event(capacity=5)
    watcher = await world.parse.live()  # anonymous
    await watcher.subscribe("Event", {"objectId": event["objectId"]})
    await world.register("ann", event)
    frames = await watcher.events()
    assert frames and frames[-1]["op"] == "update" and frames[-1]["object"]["seatsTaken"] == 1
    await watcher.close()


async def test_the_organiser_sees_registrations_live_an_attendee_only_their_own(world: World) -> None:
    event = await world.new_event()
    olivia = await world.parse.live(world.sessions["olivia"])
    await olivia.subscribe("Registration", {"event": pointer("Event", event["objectId"])})
    ben = await world.parse.live(world.sessions["ben"])
    await ben.subscribe("Registration", {"event": pointer("Event", event["objectId"])})
    await world.register("ann", event)
    await world.register("ben", event)
    seen_by_olivia = {frame["object"]["user"]["objectId"] for frame in await olivia.events()}
    seen_by_ben = {frame["object"]["user"]["objectId"] for frame in await ben.events()}
    assert seen_by_olivia == {world.ids["ann"], world.ids["ben"]}
    assert seen_by_ben == {world.ids["ben"]}
    for subscriber in (olivia, ben):
        await subscriber.close()


async def test_a_moved_session_reaches_subscribers_of_the_schedule(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event, hour=10)
    schedule = await world.parse.live()
    await schedule.subscribe("Session", {"event": pointer("Event", event["objectId"])})
    await world.parse.update("Session", session["objectId"], {"time": date(days_from_now(5, 15))},
                             session=world.sessions["olivia"])
    frames = await schedule.events()
    assert frames[-1]["op"] == "update" and frames[-1]["object"]["time"] == date(days_from_now(5, 15))
    await schedule.close()
