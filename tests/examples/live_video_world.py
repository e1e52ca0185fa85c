"""The seeded live video app as the tests meet it: its people logged in, helpers to schedule, join and react."""
from __future__ import annotations

from typing import Any

from examples.client import date, days_from_now, pointer
from examples.live_video.seed import make_host
from tests.examples.event_registration_world import World


class VideoWorld(World):
    """Log-ins of the seed (hana hosts; vic, wes and xena watch); the same password as event registration's."""

    async def new_user(self, name: str, *, host: bool = False) -> str:
        await super().new_user(name)
        if host:
            await make_host(self.parse, self.ids[name])
        return name

    async def new_event(self, by: str = "hana", **fields: Any) -> dict[str, Any]:  # type: ignore[override]
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
