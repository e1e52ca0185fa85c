"""The appointment booking flow played through the REST API, printing what LiveQuery subscribers receive.

    python -m examples.appointment_booking.demo            # serves the example on a free port for the demo
    python -m examples.appointment_booking.demo --server http://127.0.0.1:1337/parse --app-id livequery

A provider publishes a service and her hours; two customers book the same slot at the same moment (one gets it,
the other is told); both parties watch their notifications live (`Notification where user = me`) while the
appointment is confirmed and cancelled; the refusals a client meets along the way are shown, and the customer's
private calendar feed is read.
"""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone

import httpx

from examples import demo_runner
from examples.appointment_booking.seed import EVERY_DAY
from examples.client import ParseClient, ParseFailure, date, pointer
from examples.demo_runner import Say, refused, show


async def play(parse: ParseClient, say: Say = print) -> None:
    tag = secrets.token_hex(2)  # demo accounts of their own, next to the seed's
    people = {}
    for name, role in (("pia", "provider"), ("cam", "customer"), ("dan", "customer")):
        people[name] = await parse.sign_up(f"{name}-{tag}", "demo-password", email=f"{name}-{tag}@example.com",
                                           role=role)
    token = {name: person["sessionToken"] for name, person in people.items()}
    say(f"pia-{tag} is a provider; cam-{tag} and dan-{tag} are customers")
    await refused(say, "cam makes herself a provider", parse.request(
        "PUT", f"/users/{people['cam']['objectId']}", {"role": "provider"}, session=token["cam"]))

    day = (datetime.now(timezone.utc) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    blocked = {"kind": "blocked", "from": (day + timedelta(days=1)).isoformat(),
               "to": (day + timedelta(days=2)).isoformat()}
    await parse.create("Calendar", {"availability": [*EVERY_DAY, blocked]}, session=token["pia"])
    massage = await parse.create("Service", {"name": "Massage", "description": "One hour.", "duration": 60},
                                 session=token["pia"])
    say("pia opens every day, blocks the day after next-but-one, and offers 'Massage' (60 minutes)")

    inboxes = {}
    for name in ("pia", "cam", "dan"):
        inboxes[name] = await parse.live(token[name])
        await inboxes[name].subscribe("Notification", {"user": pointer("_User", people[name]["objectId"])})
    say("pia, cam and dan subscribe to Notification where user = me")

    at = date(day + timedelta(hours=10))
    body = {"service": pointer("Service", massage["objectId"]), "appointmentDate": at}
    results = await asyncio.gather(*(parse.create("Appointment", body, session=token[name])
                                     for name in ("cam", "dan")), return_exceptions=True)
    for name, result in zip(("cam", "dan"), results):
        say(f"{name} books 10:00 at the same moment: " + (
            result["status"] if isinstance(result, dict) else f"refused {result.code} {result.error}"
            if isinstance(result, ParseFailure) else repr(result)))
    appointment = next(r for r in results if isinstance(r, dict))
    customer = "cam" if results[0] is appointment else "dan"
    await refused(say, "dan books 10:30 (overlaps)", parse.create(
        "Appointment", {**body, "appointmentDate": date(day + timedelta(hours=10, minutes=30))},
        session=token["dan"]))
    await refused(say, "dan books on the blocked day", parse.create(
        "Appointment", {**body, "appointmentDate": date(day + timedelta(days=1, hours=10))}, session=token["dan"]))
    await show(say, inboxes)

    moves = (("customer", "confirmed"), ("pia", "completed"), ("pia", "confirmed"))
    for who, status in moves:
        attempt = parse.update("Appointment", appointment["objectId"], {"status": status},
                               session=token[customer if who == "customer" else who])
        if (who, status) == ("pia", "confirmed"):
            await attempt
            say("pia confirms")
        else:
            await refused(say, f"{who} sets it {status}", attempt)
    await show(say, inboxes)

    feed = await parse.run("calendarFeed", session=token[customer])
    async with httpx.AsyncClient(timeout=30) as http:
        ics = (await http.get(feed["url"])).text
    say(f"{customer}'s calendar feed {feed['path'][:24]}...: {ics.count('BEGIN:VEVENT')} event, "
        f"{'STATUS:CONFIRMED' if 'STATUS:CONFIRMED' in ics else 'not confirmed'}")

    await parse.update("Appointment", appointment["objectId"], {"status": "cancelled"}, session=token[customer])
    say(f"{customer} cancels")
    await show(say, inboxes)
    rebooked = await parse.create("Appointment", body, session=token["dan" if customer == "cam" else "cam"])
    say(f"the freed slot is booked again: {rebooked['status']}")
    for inbox in inboxes.values():
        await inbox.close()


def main(argv: list[str] | None = None) -> None:
    demo_runner.main("appointment_booking", play, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
