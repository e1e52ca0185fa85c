"""Seed data: two organisers, four attendees, three upcoming events with sessions, a few registrations.

Everything goes through the REST API as the people themselves (the organisers create their events, attendees
register), so the cloud rules apply to the seed as to any client. Dates are relative to today.
"""
from __future__ import annotations

from examples.client import ParseClient, date, days_from_now, pointer

PASSWORD = "demo-password"
ORGANIZERS = ("olivia", "oscar")
ATTENDEES = ("ann", "ben", "cara", "dan")
SUMMARY = f"log in as olivia (organiser), ann or ben (attendees); password {PASSWORD}"


async def seed(parse: ParseClient) -> None:
    sessions: dict[str, str] = {}
    users: dict[str, str] = {}
    for name in (*ORGANIZERS, *ATTENDEES):
        signed_up = await parse.sign_up(name, PASSWORD, email=f"{name}@example.com")
        sessions[name], users[name] = signed_up["sessionToken"], signed_up["objectId"]

    role = (await parse.find("_Role", {"name": "Organizer"}, master=True))[0]
    await parse.request("PUT", f"/roles/{role['objectId']}", {"users": {
        "__op": "AddRelation", "objects": [pointer("_User", users[name]) for name in ORGANIZERS]}}, master=True)

    python_day = await parse.create("Event", {
        "title": "Python Day", "description": "Talks and workshops on Python in production.",
        "date": date(days_from_now(7, 9)), "endDate": date(days_from_now(7, 18)), "location": "Hall A",
        "capacity": 3}, session=sessions["olivia"])
    meetup = await parse.create("Event", {
        "title": "Realtime Meetup", "description": "LiveQuery, websockets and everything live.",
        "date": date(days_from_now(14, 18)), "location": "Online"}, session=sessions["olivia"])
    workshop = await parse.create("Event", {
        "title": "Design Workshop", "description": "A hands-on afternoon on interface design.",
        "date": date(days_from_now(10, 13)), "endDate": date(days_from_now(10, 17)), "location": "Room 2",
        "capacity": 2}, session=sessions["oscar"])

    for title, speaker, hour, event, organizer in (
            ("Keynote: Python in 2030", "Guido", 9, python_day, "olivia"),
            ("Async all the way", "Yury", 11, python_day, "olivia"),
            ("Typing in practice", "Lukasz", 14, python_day, "olivia"),
            ("Live dashboards", "Ann Lee", 18, meetup, "olivia"),
            ("Sketching interfaces", "Oscar", 13, workshop, "oscar")):
        days = {python_day["objectId"]: 7, meetup["objectId"]: 14, workshop["objectId"]: 10}[event["objectId"]]
        await parse.create("Session", {"event": pointer("Event", event["objectId"]), "title": title,
                                       "speaker": speaker, "time": date(days_from_now(days, hour))},
                           session=sessions[organizer])

    for name, event in (("ann", python_day), ("ben", python_day), ("ann", meetup), ("cara", workshop),
                        ("dan", workshop)):
        await parse.create("Registration", {"event": pointer("Event", event["objectId"]),
                                            "user": pointer("_User", users[name])}, session=sessions[name])
