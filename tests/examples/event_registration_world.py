"""The seeded event registration app as the tests meet it: its people logged in, its events by title."""
from __future__ import annotations

from typing import Any

from examples.client import ParseClient, ParseFailure, date, days_from_now, pointer
from examples.event_registration.seed import PASSWORD


class World:
    """Log-ins and objects of the seed (olivia and oscar organise; ann, ben, cara, dan attend)."""

    def __init__(self, served: Any) -> None:  # a tests.examples.conftest.ServedExample
        self.served = served
        self.parse: ParseClient = served.parse
        self.sessions: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def login(self, *names: str) -> None:
        for name in names:
            user = await self.parse.log_in(name, PASSWORD)
            self.sessions[name], self.ids[name] = user["sessionToken"], user["objectId"]

    async def new_user(self, name: str) -> str:
        user = await self.parse.sign_up(name, PASSWORD, email=f"{name}@example.com")
        self.sessions[name], self.ids[name] = user["sessionToken"], user["objectId"]
        return name

    def me(self, name: str) -> dict[str, str]:
        return pointer("_User", self.ids[name])

    async def event(self, title: str) -> dict[str, Any]:
        return (await self.parse.find("Event", {"title": title}))[0]

    async def new_event(self, organizer: str = "olivia", **fields: Any) -> dict[str, Any]:
        body = {"title": "Test event", "description": "For a test.", "date": date(days_from_now(5, 9)),
                "endDate": date(days_from_now(5, 17)), **fields}
        created = await self.parse.create("Event", body, session=self.sessions[organizer])
        return await self.parse.get("Event", created["objectId"])

    async def register(self, name: str, event: dict[str, Any], **auth: Any) -> dict[str, Any]:
        auth = auth or {"session": self.sessions[name]}
        return await self.parse.create("Registration", {"event": pointer("Event", event["objectId"]),
                                                        "user": self.me(name)}, **auth)

    async def new_session(self, event: dict[str, Any], hour: int = 10, organizer: str = "olivia",
                          days: float = 5, title: str = "A talk") -> dict[str, Any]:
        return await self.parse.create("Session", {
            "event": pointer("Event", event["objectId"]), "title": title, "speaker": "Sam",
            "time": date(days_from_now(days, hour))}, session=self.sessions[organizer])

    async def seats_taken(self, event: dict[str, Any]) -> int:
        return int((await self.parse.get("Event", event["objectId"]))["seatsTaken"])

    async def notifications(self, name: str) -> list[str]:
        found = await self.parse.find("Notification", {"user": self.me(name)}, order="createdAt",
                                      session=self.sessions[name])
        return [note["message"] for note in found]


async def refusal(attempt: Any) -> ParseFailure:
    """The ParseFailure an awaited call raised; fails the test if it succeeded."""
    try:
        await attempt
    except ParseFailure as failure:
        return failure
    raise AssertionError("the call was not refused")

