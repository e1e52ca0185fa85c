"""The seeded live video app as the tests meet it: its people logged in, helpers to schedule, join and react."""
from __future__ import annotations

from typing import Any

from examples.client import ParseClient, date, days_from_now, pointer
from examples.live_video.seed import PASSWORD, make_host


class VideoWorld:
    """Log-ins of the seed (hana hosts; vic, wes and xena watch)."""

    def __init__(self, served: Any) -> None:  # a tests.examples.conftest.ServedExample
        self.served = served
        self.parse: ParseClient = served.parse
        self.sessions: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def login(self, *names: str) -> None:
        for name in names:
            user = await self.parse.log_in(name, PASSWORD)
            self.sessions[name], self.ids[name] = user["sessionToken"], user["objectId"]

    async def new_user(self, name: str, *, host: bool = False) -> str:
        user = await self.parse.sign_up(name, PASSWORD, email=f"{name}@example.com")
        if host:
            await make_host(self.parse, user["objectId"])
        self.sessions[name], self.ids[name] = user["sessionToken"], user["objectId"]
        return name

    def me(self, name: str) -> dict[str, str]:
        return pointer("_User", self.ids[name])

    async def new_event(self, by: str = "hana", **fields: Any) -> dict[str, Any]:
        body = {"title": "Test stream", "streamUrl": "https://video.example.com/test.m3u8",
                "scheduledAt": date(days_from_now(1, 18)), **fields}
        created = await self.parse.create("VideoEvent", body, session=self.sessions[by])
        return await self.parse.get("VideoEvent", created["objectId"])

    async def join(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        return await self.parse.create("Participant", {"user": self.me(name),
                                                       "event": pointer("VideoEvent", event["objectId"])},
                                       session=self.sessions[name])

    async def react(self, name: str, participant: dict[str, Any], event: dict[str, Any],
                    kind: str = "like", **extra: Any) -> dict[str, Any]:
        return await self.parse.create("EngagementLog", {
            "participant": pointer("Participant", participant["objectId"]),
            "event": pointer("VideoEvent", event["objectId"]), "engagementType": kind, **extra},
            session=self.sessions[name])

    async def counter(self, event: dict[str, Any]) -> dict[str, Any]:
        return (await self.parse.find("ReactionCount", {"event": pointer("VideoEvent", event["objectId"])}))[0]

    async def points(self, name: str, event: dict[str, Any]) -> int:
        rows = await self.parse.find("Rewards", {"key": f"{event['objectId']}:{self.ids[name]}"})
        return int(rows[0]["points"]) if rows else 0
