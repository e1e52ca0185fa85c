"""The event registration flow played through the REST API, printing what LiveQuery subscribers receive.

    python -m examples.event_registration.demo            # serves the example on a free port for the demo
    python -m examples.event_registration.demo --server http://127.0.0.1:1337/parse --app-id livequery \\
        --master-key KEY                                  # or plays against a server you started

An organiser opens a one-seat event; Ann gets the seat, Ben the waitlist. Both watch their notifications live
(`Notification where user = me`). A session is added and moved (Ann hears of it), Ann cancels (Ben is promoted
and hears of it), the refusals a client meets along the way are shown, and the session is cancelled.
"""
from __future__ import annotations

import secrets

from examples import demo_runner
from examples.client import ParseClient, date, days_from_now, pointer
from examples.demo_runner import Say, refused, show


async def play(parse: ParseClient, say: Say = print) -> None:
    tag = secrets.token_hex(2)  # demo accounts of their own, next to the seed's
    password = "demo-password"
    olga = await parse.sign_up(f"olga-{tag}", password, email=f"olga-{tag}@example.com")
    ann = await parse.sign_up(f"ann-{tag}", password, email=f"ann-{tag}@example.com")
    ben = await parse.sign_up(f"ben-{tag}", password, email=f"ben-{tag}@example.com")
    role = (await parse.find("_Role", {"name": "Organizer"}, master=True))[0]
    await parse.request("PUT", f"/roles/{role['objectId']}", {"users": {
        "__op": "AddRelation", "objects": [pointer("_User", olga["objectId"])]}}, master=True)
    say(f"olga-{tag} is an organiser; ann-{tag} and ben-{tag} are attendees")

    inboxes = {"ann": await parse.live(ann["sessionToken"]), "ben": await parse.live(ben["sessionToken"])}
    for name, user in (("ann", ann), ("ben", ben)):
        await inboxes[name].subscribe("Notification", {"user": pointer("_User", user["objectId"])})
    say("ann and ben subscribe to Notification where user = me")

    event = await parse.create("Event", {
        "title": "Demo Night", "description": "One seat only.", "date": date(days_from_now(3, 18)),
        "endDate": date(days_from_now(3, 22)), "capacity": 1}, session=olga["sessionToken"])
    event_ref = pointer("Event", event["objectId"])
    say("olga creates the event 'Demo Night' with 1 seat")

    registrations = {}
    for name, user in (("ann", ann), ("ben", ben)):
        registrations[name] = await parse.create("Registration", {
            "event": event_ref, "user": pointer("_User", user["objectId"])}, session=user["sessionToken"])
        say(f"{name} registers: {registrations[name]['status']}")
    await refused(say, "ben registers a second time", parse.create(
        "Registration", {"event": event_ref, "user": pointer("_User", ben["objectId"])}, session=ben["sessionToken"]))
    await refused(say, "ann registers ben", parse.create(
        "Registration", {"event": event_ref, "user": pointer("_User", ben["objectId"])}, session=ann["sessionToken"]))

    talk = await parse.create("Session", {"event": event_ref, "title": "Lightning talks", "speaker": "Olga",
                                          "time": date(days_from_now(3, 19))}, session=olga["sessionToken"])
    say("olga adds a session at 19:00")
    await show(say, inboxes)
    await refused(say, "olga schedules a session the day after", parse.create(
        "Session", {"event": event_ref, "title": "Too late", "speaker": "Olga", "time": date(days_from_now(4, 10))},
        session=olga["sessionToken"]))
    await parse.update("Session", talk["objectId"], {"time": date(days_from_now(3, 20))}, session=olga["sessionToken"])
    say("olga moves it to 20:00")
    await show(say, inboxes)

    await parse.update("Registration", registrations["ann"]["objectId"], {"status": "cancelled"},
                       session=ann["sessionToken"])
    promoted = await parse.get("Registration", registrations["ben"]["objectId"], session=ben["sessionToken"])
    say(f"ann cancels; ben's registration is now {promoted['status']}")
    await show(say, inboxes)

    feedback = {"session": pointer("Session", talk["objectId"]), "rating": 5, "comments": "Great"}
    await parse.create("Feedback", {**feedback, "user": pointer("_User", ben["objectId"])},
                       session=ben["sessionToken"])
    say("ben rates the session 5")
    await refused(say, "ann (cancelled) rates it", parse.create(
        "Feedback", {**feedback, "user": pointer("_User", ann["objectId"])}, session=ann["sessionToken"]))
    await refused(say, "ben rates it 9", parse.create(
        "Feedback", {**feedback, "rating": 9, "user": pointer("_User", ben["objectId"])},
        session=ben["sessionToken"]))

    await parse.delete("Session", talk["objectId"], session=olga["sessionToken"])
    say("olga cancels the session")
    await show(say, inboxes)
    for inbox in inboxes.values():
        await inbox.close()


def main(argv: list[str] | None = None) -> None:
    demo_runner.main("event_registration", play, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
