"""Scenario: 500 users register for one 200-seat event at the same moment (the event registration example).

Serves `livequery serve --example event_registration`, signs the users up (not timed: argon2 hashing is slow on
purpose), then sends every registration at once and checks the outcome: exactly `capacity` confirmed, the rest
waitlisted, one registration per user, the event's seat count equal to the confirmed ones. Prints one JSON object.

    .venv/bin/python -m benchmarks.event_registration [--users 500 --capacity 200 --database-uri mongodb://...]

The load client is aiohttp (httpx's client CPU would be what we measure); figures on a shared machine are
indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp

from benchmarks.server import APP_ID, MASTER_KEY, percentile_of, running_server


class Rest:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def call(self, method: str, path: str, body: Any = None, *, session: str | None = None,
                   master: bool = False, params: dict[str, str] | None = None) -> tuple[int, Any]:
        headers = {"X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"}
        if session:
            headers["X-Parse-Session-Token"] = session
        if master:
            headers["X-Parse-Master-Key"] = MASTER_KEY
        async with self.http.request(method, self.url + path, headers=headers, params=params,
                                     data=None if body is None else json.dumps(body)) as reply:
            return reply.status, await reply.json()

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, answer = await self.call(method, path, body, **kw)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status} {answer}")
        return answer


def pointer(class_name: str, object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": class_name, "objectId": object_id}


async def sign_up_all(rest: Rest, names: list[str], concurrency: int = 16,
                      fields: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each name signed up (with `fields` too); the users with their session tokens."""
    queue = iter(names)
    users: list[dict[str, Any]] = []

    async def worker() -> None:
        for name in queue:
            users.append(await rest.ok("POST", "/users", {"username": name, "password": "bench-password",
                                                          "email": f"{name}@example.com", **(fields or {})}))

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return users


def session(limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit),
                                 timeout=aiohttp.ClientTimeout(total=300))


async def run(url: str, users: int, capacity: int) -> dict[str, Any]:
    async with session() as http:
        rest = Rest(http, url)
        organizer = await rest.ok("POST", "/users", {"username": "bench-organizer", "password": "bench-password",
                                                     "email": "organizer@example.com"})
        role = (await rest.ok("GET", "/roles", params={"where": json.dumps({"name": "Organizer"})},
                              master=True))["results"][0]
        await rest.ok("PUT", f"/roles/{role['objectId']}", {"users": {
            "__op": "AddRelation", "objects": [pointer("_User", organizer["objectId"])]}}, master=True)
        event = await rest.ok("POST", "/classes/Event", {
            "title": "Sold out", "description": "The benchmark event", "capacity": capacity,
            "date": {"__type": "Date", "iso": "2099-01-01T09:00:00.000Z"}}, session=organizer["sessionToken"])
        event_ref = pointer("Event", event["objectId"])
        began = time.perf_counter()
        people = await sign_up_all(rest, [f"bench-user-{i}" for i in range(users)])
        signup_seconds = time.perf_counter() - began

    latencies: list[float] = []

    async def register(rest: Rest, user: dict[str, Any]) -> tuple[int, Any]:
        start = time.perf_counter()
        answer = await rest.call("POST", "/classes/Registration", {
            "event": event_ref, "user": pointer("_User", user["objectId"])}, session=user["sessionToken"])
        latencies.append((time.perf_counter() - start) * 1000)
        return answer

    # every registration on a new connection of its own, all sent at once (no idle keep-alive connection of
    # the set-up is reused: the server may close one just as a request goes out)
    async with session(limit=0) as http:
        rest = Rest(http, url)
        began = time.perf_counter()
        answers = await asyncio.gather(*[register(rest, user) for user in people])
        seconds = time.perf_counter() - began
    async with session(limit=0) as http:
        rest = Rest(http, url)
        again = await asyncio.gather(*[register(rest, user) for user in people[:50]])  # a second time, at once
        stored = (await rest.ok("GET", "/classes/Registration", params={
            "where": json.dumps({"event": event_ref}), "limit": str(users * 2)}, master=True))["results"]
        seats_taken = (await rest.ok("GET", f"/classes/Event/{event['objectId']}"))["seatsTaken"]
    statuses = Counter(r["status"] for r in stored)
    per_user = Counter(r["user"]["objectId"] for r in stored)
    errors = [answer for status, answer in answers if status >= 300]
    return {
        "scenario": f"{users} users register for one {capacity}-seat event at the same moment",
        "registrations": len(stored), "confirmed": statuses["confirmed"], "waitlisted": statuses["waitlisted"],
        "duplicates": sum(count - 1 for count in per_user.values() if count > 1),
        "seats_taken": seats_taken, "errors": len(errors), "first_error": errors[0] if errors else None,
        "second_attempts_refused_137": sum(1 for status, answer in again if answer.get("code") == 137),
        "correct": statuses["confirmed"] == capacity and statuses["waitlisted"] == users - capacity
                   and len(per_user) == users == len(stored) and seats_taken == capacity,
        "seconds": round(seconds, 2), "registrations_per_second": round(users / seconds, 1),
        "p50_ms": round(percentile_of(latencies[:users], 0.5), 1),
        "p99_ms": round(percentile_of(latencies[:users], 0.99), 1),
        "signup_seconds_untimed_setup": round(signup_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=200)
    parser.add_argument("--database-uri", default="", help="mongodb://... to run on MongoDB (default: SQLite)")
    args = parser.parse_args()
    extra = ["--example", "event_registration"] + (["--database-uri", args.database_uri] if args.database_uri else [])
    with running_server(*extra) as url:
        result = asyncio.run(run(url, args.users, args.capacity))
    result["store"] = "mongodb" if args.database_uri else "sqlite"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
