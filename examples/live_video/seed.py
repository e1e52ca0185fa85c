"""Seed data: a host, three viewers, two scheduled video events, a few joins and reactions.

Everything goes through the REST API as the people themselves (only the host's role is set with the master key,
as the rules require), so the cloud rules apply to the seed as to any client. Dates are relative to today.
"""
from __future__ import annotations

from examples.client import ParseClient, date, days_from_now, pointer

PASSWORD = "demo-password"
HOSTS = ("hana",)
VIEWERS = ("vic", "wes", "xena")
SUMMARY = f"log in as vic, wes or xena (viewers) or hana (host); password {PASSWORD}"


async def make_host(parse: ParseClient, user_id: str) -> None:
    await parse.update("_User", user_id, {"role": "host"}, master=True)


async def seed(parse: ParseClient) -> None:
    sessions: dict[str, str] = {}
    users: dict[str, str] = {}
    for name in (*HOSTS, *VIEWERS):
        signed_up = await parse.sign_up(name, PASSWORD, email=f"{name}@example.com")
        sessions[name], users[name] = signed_up["sessionToken"], signed_up["objectId"]
    for name in HOSTS:
        await make_host(parse, users[name])

    keynote = await parse.create("VideoEvent", {
        "title": "Launch Keynote", "streamUrl": "https://video.example.com/live/keynote.m3u8",
        "scheduledAt": date(days_from_now(0, 18))}, session=sessions["hana"])
    await parse.create("VideoEvent", {
        "title": "Cooking Live", "streamUrl": "https://video.example.com/live/cooking.m3u8",
        "scheduledAt": date(days_from_now(2, 12))}, session=sessions["hana"])

    event = pointer("VideoEvent", keynote["objectId"])
    for name, reactions in (("vic", ("heart", "like")), ("wes", ("wow",)), ("xena", ())):
        joined = await parse.create("Participant", {"user": pointer("_User", users[name]), "event": event},
                                    session=sessions[name])
        for reaction in reactions:
            await parse.create("EngagementLog", {"participant": pointer("Participant", joined["objectId"]),
                                                 "event": event, "engagementType": reaction},
                               session=sessions[name])
