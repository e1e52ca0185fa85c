"""Scenario: many customers book random slots of 50 providers at once while each provider's dashboard watches.

Serves `livequery serve --example appointment_booking`, signs up the providers (each open around the clock with a
one-hour service) and the customers (not timed: argon2 hashing is slow on purpose), connects one LiveQuery
dashboard per provider (`Appointment where provider = me`), then lets every customer book random quarter-hour
slots of the coming week, one after the other, for `--seconds`. Afterwards it checks that no two appointments of
a provider overlap and prints one JSON object: bookings/s, booking latency p50/p99, refusals (137, taken), and
the dashboards' event delay p50/p99 (from the appointment's `createdAt`, stamped by the server as the insert begins,
to its create event on the dashboard; and from the booking customer's answer to the dashboard's event).

    .venv/bin/python -m benchmarks.appointment_booking [--providers 50 --customers 100 --seconds 15
                                                        --database-uri mongodb://...]

The issue's figure is 1,000 customers for a minute; the default books for 15 s with 100 customers (the untimed
sign-ups take longer) on the shared 2-core machine. Figures there are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.event_registration import Rest, pointer, session, sign_up_all
from benchmarks.server import APP_ID, percentile_of, running_server
from examples.appointment_booking.seed import EVERY_DAY


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Dashboard:
    """One provider's live view: the arrival time of each appointment's create event."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, str]] = {}  # objectId -> (wall clock, createdAt)
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str, provider: dict[str, Any]) -> None:
        self.socket = await connect(url.replace("http://", "ws://", 1), open_timeout=30, max_queue=None)
        await self.socket.send(json.dumps({"op": "connect", "applicationId": APP_ID,
                                           "sessionToken": provider["sessionToken"]}))
        await self.socket.recv()
        await self.socket.send(json.dumps({"op": "subscribe", "requestId": 1, "query": {
            "className": "Appointment", "where": {"provider": pointer("_User", provider["objectId"])}}}))
        await self.socket.recv()
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for frame in self.socket:
            arrived = time.time()
            event = json.loads(frame)
            if event.get("op") == "create":
                self.arrivals[event["object"]["objectId"]] = (arrived, event["object"]["createdAt"])

    async def close(self) -> None:
        await self.socket.close()
        if self.task:
            await asyncio.wait_for(self.task, 10)


def overlaps(appointments: list[dict[str, Any]]) -> int:
    """Pairs of a provider's live appointments that overlap (sorted by start, each against the next)."""
    by_provider: dict[str, list[tuple[datetime, datetime]]] = {}
    for appointment in appointments:
        if appointment["status"] == "cancelled":
            continue
        start = parse_iso(appointment["appointmentDate"]["iso"])
        by_provider.setdefault(appointment["provider"]["objectId"], []).append(
            (start, start + timedelta(minutes=appointment["duration"])))
    found = 0
    for spans in by_provider.values():
        spans.sort()
        found += sum(1 for (_, end), (start, _) in zip(spans, spans[1:]) if start < end)
    return found


async def run(url: str, providers: int, customers: int, seconds: float) -> dict[str, Any]:
    async with session() as http:
        rest = Rest(http, url)
        provider_users = await sign_up_all(rest, [f"bench-provider-{i}" for i in range(providers)],
                                           fields={"role": "provider"})
        services = []
        for provider in provider_users:
            await rest.ok("POST", "/classes/Calendar", {"availability": EVERY_DAY}, session=provider["sessionToken"])
            services.append(await rest.ok("POST", "/classes/Service", {"name": "Session", "duration": 60},
                                          session=provider["sessionToken"]))
        people = await sign_up_all(rest, [f"bench-customer-{i}" for i in range(customers)],
                                   fields={"role": "customer"})
    dashboards = [Dashboard() for _ in provider_users]
    for dashboard, provider in zip(dashboards, provider_users):
        await dashboard.open(url, provider)

    first_day = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    latencies: list[float] = []
    answered: dict[str, float] = {}  # objectId -> when the customer had the answer (wall clock)
    outcomes = {"booked": 0, "taken_137": 0, "other_errors": 0}
    first_error: list[Any] = []
    rng = random.Random(1)

    async def customer(rest: Rest, person: dict[str, Any], until: float) -> None:
        while time.perf_counter() < until:
            at = first_day + timedelta(days=rng.randrange(7), minutes=15 * rng.randrange(93))  # ends by 24:00
            began = time.perf_counter()
            status, answer = await rest.call("POST", "/classes/Appointment", {
                "service": pointer("Service", rng.choice(services)["objectId"]),
                "appointmentDate": {"__type": "Date", "iso": iso(at)}}, session=person["sessionToken"])
            latencies.append((time.perf_counter() - began) * 1000)
            if status < 300:
                outcomes["booked"] += 1
                answered[answer["objectId"]] = time.time()
            elif answer.get("code") == 137:
                outcomes["taken_137"] += 1
            else:
                outcomes["other_errors"] += 1
                first_error[:] = first_error or [answer]

    async with session(limit=customers) as http:
        rest = Rest(http, url)
        began = time.perf_counter()
        await asyncio.gather(*[customer(rest, person, began + seconds) for person in people])
        elapsed = time.perf_counter() - began
        await asyncio.sleep(2)  # the last events reach the dashboards
        stored = []
        while True:
            page = (await rest.ok("GET", "/classes/Appointment", params={
                "limit": "1000", "skip": str(len(stored)), "order": "createdAt"}, master=True))["results"]
            stored += page
            if len(page) < 1000:
                break
    for dashboard in dashboards:
        await dashboard.close()
    ours = {provider["objectId"] for provider in provider_users}
    stored = [appointment for appointment in stored if appointment["provider"]["objectId"] in ours]  # not the seed
    delays = [(arrived - parse_iso(created).timestamp()) * 1000
              for dashboard in dashboards for arrived, created in dashboard.arrivals.values()]
    after_answer = [(arrived - answered[object_id]) * 1000 for dashboard in dashboards
                    for object_id, (arrived, _) in dashboard.arrivals.items() if object_id in answered]
    seen = sum(len(dashboard.arrivals) for dashboard in dashboards)
    return {
        "scenario": f"{customers} customers book random slots of {providers} providers for {seconds:.0f} s",
        **outcomes, "first_error": first_error[0] if first_error else None,
        "appointments_stored": len(stored), "overlapping_pairs": overlaps(stored),
        "bookings_per_second": round(outcomes["booked"] / elapsed, 1),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile_of(latencies, 0.5), 1), "p99_ms": round(percentile_of(latencies, 0.99), 1),
        "dashboard_events": seen, "dashboard_missed": len(stored) - seen,
        "dashboard_delay_p50_ms": round(percentile_of(delays, 0.5), 1) if delays else None,
        "dashboard_delay_p99_ms": round(percentile_of(delays, 0.99), 1) if delays else None,
        # the same events against the moment the booking customer had the answer (negative: the dashboard first)
        "dashboard_after_answer_p50_ms": round(percentile_of(after_answer, 0.5), 1) if after_answer else None,
        "dashboard_after_answer_p99_ms": round(percentile_of(after_answer, 0.99), 1) if after_answer else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--database-uri", default="", help="mongodb://... to run on MongoDB (default: SQLite)")
    args = parser.parse_args()
    extra = ["--example", "appointment_booking"] + (["--database-uri", args.database_uri]
                                                    if args.database_uri else [])
    with running_server(*extra) as url:
        result = asyncio.run(run(url, args.providers, args.customers, args.seconds))
    result["store"] = "mongodb" if args.database_uri else "sqlite"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
