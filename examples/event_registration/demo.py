"""The event registration flow played through the REST API, printing what LiveQuery subscribers receive.

    python -m examples.event_registration.demo            # serves the example on a free port for the demo
    python -m examples.event_registration.demo --server http://127.0.0.1:1337/parse --app-id livequery \\
        --master-key KEY                                  # or plays against a server you started

An organiser opens a one-seat event; Ann gets the seat, Ben the waitlist. Both watch their notifications live
(`Notification where user = me`). A session is added and moved (Ann hears of it), Ann cancels (Ben is promoted
and hears of it), the refusals a client meets along the way are shown, and the session is cancelled.
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import IO, Awaitable, Callable

from examples.client import LiveSubscriber, ParseClient, ParseFailure, date, days_from_now, pointer

Say = Callable[[str], None]


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


async def refused(say: Say, what: str, attempt: object) -> None:
    try:
        await attempt  # type: ignore[misc]
    except ParseFailure as failure:
        say(f"{what}: refused {failure.code} {failure.error}")
        return
    raise AssertionError(f"{what} was not refused")


async def show(say: Say, inboxes: dict[str, LiveSubscriber]) -> None:
    for name, inbox in inboxes.items():
        for frame in await inbox.events():
            message = frame.get("object", {}).get("message", "")
            say(f"  live -> {name}: {frame['op']} Notification {message!r}")


# --- running it ------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_example(port: int, master_key: str, app_id: str, log: IO[bytes],
                   example: str = "event_registration") -> subprocess.Popen[bytes]:
    """`livequery serve --example NAME` (on a fresh data folder), once it answers /health."""
    command = [sys.executable, "-m", "api.cli", "serve", "--example", example, "--port", str(port),
               "--master-key", master_key, "--app-id", app_id]
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/parse/health", timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                log.seek(0)
                raise SystemExit(f"the server exited:\n{log.read().decode(errors='replace')[-3000:]}") from None
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start within 60 s")


def main(argv: list[str] | None = None) -> None:
    run_demo(play, "event_registration", __doc__, argv)


def run_demo(play: Callable[[ParseClient, Say], Awaitable[None]], example: str, doc: str | None,
             argv: list[str] | None) -> None:
    """An example's demo command: against --server, or against `livequery serve --example NAME` it starts."""
    parser = argparse.ArgumentParser(description=(doc or example).splitlines()[0])
    parser.add_argument("--server", help="the REST URL of a running server (default: serve one for the demo)")
    parser.add_argument("--app-id", default="livequery")
    parser.add_argument("--master-key", help="the server's master key (to make the demo organiser)")
    args = parser.parse_args(argv)

    async def run() -> None:
        async with ParseClient(args.server, args.app_id, master_key=args.master_key) as parse:
            await play(parse, lambda line: print(line, flush=True))

    if args.server is not None:
        asyncio.run(run())
        return
    port, args.master_key = _free_port(), secrets.token_urlsafe(16)
    args.server = f"http://127.0.0.1:{port}/parse"
    with tempfile.TemporaryFile() as log:
        server = _serve_example(port, args.master_key, args.app_id, log, example)
        try:
            asyncio.run(run())
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
