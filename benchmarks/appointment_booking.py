"""Scenario: many customers book random slots of 50 providers at once while each provider's dashboard watches.

Serves `livequery serve --example appointment_booking` (SQLite, or MongoDB with `--store mongodb`: MONGODB_URI or
a SecantusDB started for the run), signs up the providers (each open around the clock with a one-hour service)
and up to 100 customer accounts (not timed: argon2 hashing is slow on purpose; more customers share accounts,
each booking on its own, as the rules do not depend on who books), connects one LiveQuery dashboard per provider
(`Appointment where provider = me`), then lets every customer book random quarter-hour slots of the coming week,
one after the other, for `--seconds`. The customers are spread over `--client-processes` load processes so that
the load client is not what is measured (their CPU is reported next to the server's). Afterwards it checks that
no two appointments of a provider overlap and prints one JSON object: bookings/s, booking latency p50/p99,
refusals (137, taken), and the dashboards' event delay p50/p99 (from the appointment's `createdAt`, stamped by
the server as the insert begins, to its create event on the dashboard; and from the booking customer's answer to
the dashboard's event), with the server's CPU.

    .venv/bin/python -m benchmarks.appointment_booking [--providers 50 --customers 1000 --seconds 60
                                                        --client-processes 2 --store sqlite|mongodb]

The defaults are the issue's scenario (50 providers, 1,000 customers for a minute); `--customers 100 --seconds 10`
is a quick run. On the shared 2-core machine figures are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from typing import Any

import msgspec
from websockets.asyncio.client import connect

from benchmarks.event_registration import Rest, pointer, session, sign_up_all
from benchmarks.server import APP_ID, database_uri_for, percentile_of, process_cpu_seconds, running_server
from examples.appointment_booking.seed import EVERY_DAY

# Customer accounts signed up; with more customers, several share one (booking clients of their own each). The
# rules do not depend on who books, and each sign-up is an argon2 hash: 1,000 of them took over ten minutes of
# the shared machine before a single booking.
ACCOUNTS = 100


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


async def set_up(url: str, providers: int, customers: int) -> tuple[list[dict[str, Any]], list[str],
                                                                     list[dict[str, Any]]]:
    """Providers (each open around the clock with a one-hour service) and customer accounts, signed up
    (untimed)."""
    async with session() as http:
        rest = Rest(http, url)
        provider_users = await sign_up_all(rest, [f"bench-provider-{i}" for i in range(providers)],
                                           fields={"role": "provider"})
        services = []
        for provider in provider_users:
            await rest.ok("POST", "/classes/Calendar", {"availability": EVERY_DAY}, session=provider["sessionToken"])
            services.append((await rest.ok("POST", "/classes/Service", {"name": "Session", "duration": 60},
                                           session=provider["sessionToken"]))["objectId"])
        people = await sign_up_all(rest, [f"bench-customer-{i}" for i in range(customers)],
                                   fields={"role": "customer"})
    return provider_users, services, people


class Booked(msgspec.Struct):
    """What one load process measured (sent back to the main process)."""

    outcomes: dict[str, int]
    latencies: list[float]
    answered: dict[str, float]  # objectId -> when the customer had the answer (wall clock)
    first_error: Any
    cpu_seconds: float


def book_in_process(url: str, tokens: list[str], services: list[str], start_at: float, seconds: float,
                    seed: int) -> bytes:
    """One load process: its customers book random slots from `start_at` (wall clock) for `seconds`."""
    return msgspec.json.encode(asyncio.run(book(url, tokens, services, start_at, seconds, seed)))


async def book(url: str, tokens: list[str], services: list[str], start_at: float, seconds: float,
               seed: int) -> Booked:
    first_day = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    result = Booked({"booked": 0, "taken_137": 0, "other_errors": 0}, [], {}, None, 0.0)
    rng = random.Random(seed)

    async def customer(rest: Rest, token: str, until: float) -> None:
        while time.time() < until:
            at = first_day + timedelta(days=rng.randrange(7), minutes=15 * rng.randrange(93))  # ends by 24:00
            began = time.perf_counter()
            status, answer = await rest.call("POST", "/classes/Appointment", {
                "service": pointer("Service", rng.choice(services)),
                "appointmentDate": {"__type": "Date", "iso": iso(at)}}, session=token)
            result.latencies.append((time.perf_counter() - began) * 1000)
            if status < 300:
                result.outcomes["booked"] += 1
                result.answered[answer["objectId"]] = time.time()
            elif answer.get("code") == 137:
                result.outcomes["taken_137"] += 1
            else:
                result.outcomes["other_errors"] += 1
                result.first_error = result.first_error or answer

    cpu_before = time.process_time()
    async with session(limit=len(tokens)) as http:
        rest = Rest(http, url)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*[customer(rest, token, start_at + seconds) for token in tokens])
    result.cpu_seconds = time.process_time() - cpu_before
    return result


async def run(url: str, server_pid: int, providers: int, customers: int, seconds: float,
              processes: int, database_pid: int | None = None) -> dict[str, Any]:
    provider_users, services, accounts = await set_up(url, providers, min(customers, ACCOUNTS))
    people = [accounts[i % len(accounts)] for i in range(customers)]
    dashboards = [Dashboard() for _ in provider_users]
    for dashboard, provider in zip(dashboards, provider_users):
        await dashboard.open(url, provider)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        await asyncio.gather(*[loop.run_in_executor(pool, time.sleep, 0.5) for _ in range(processes)])  # started
        start_at = time.time() + 1.0
        server_cpu_before, own_cpu_before = process_cpu_seconds(server_pid), time.process_time()
        database_cpu_before = process_cpu_seconds(database_pid) if database_pid else 0.0
        parts = await asyncio.gather(*[
            loop.run_in_executor(pool, book_in_process, url, [p["sessionToken"] for p in people[i::processes]],
                                 services, start_at, seconds, i) for i in range(processes)])
        elapsed = time.time() - start_at
        server_cpu = process_cpu_seconds(server_pid) - server_cpu_before
        database_cpu = process_cpu_seconds(database_pid) - database_cpu_before if database_pid else None
    results = [msgspec.json.decode(part, type=Booked) for part in parts]
    answered = {object_id: at for result in results for object_id, at in result.answered.items()}
    deadline = time.monotonic() + 30  # the last events reach the dashboards (their delay is measured)
    while sum(len(d.arrivals) for d in dashboards) < len(answered) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    own_cpu = time.process_time() - own_cpu_before
    async with session() as http:
        rest = Rest(http, url)
        stored: list[dict[str, Any]] = []
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
    latencies = [latency for result in results for latency in result.latencies]
    outcomes = {name: sum(result.outcomes[name] for result in results) for name in results[0].outcomes}
    first_error = next((result.first_error for result in results if result.first_error), None)
    seen = sum(len(dashboard.arrivals) for dashboard in dashboards)

    def ms(samples: list[float], fraction: float) -> float | None:
        return round(percentile_of(samples, fraction), 1) if samples else None

    return {
        "scenario": f"{customers} customers book random slots of {providers} providers for {seconds:g} s",
        **outcomes, "first_error": first_error,
        "appointments_stored": len(stored), "overlapping_pairs": overlaps(stored),
        "bookings_per_second": round(outcomes["booked"] / elapsed, 1),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": ms(latencies, 0.5), "p99_ms": ms(latencies, 0.99),
        "dashboard_events": seen, "dashboard_missed": len(stored) - seen,
        "dashboard_delay_p50_ms": ms(delays, 0.5), "dashboard_delay_p99_ms": ms(delays, 0.99),
        # the same events against the moment the booking customer had the answer (negative: the dashboard first)
        "dashboard_after_answer_p50_ms": ms(after_answer, 0.5),
        "dashboard_after_answer_p99_ms": ms(after_answer, 0.99),
        "server_cpu_percent": round(100 * server_cpu / elapsed, 1),
        "database_server_cpu_percent": round(100 * database_cpu / elapsed, 1) if database_cpu is not None else None,
        "load_processes": processes,
        "load_process_cpu_percent": [round(100 * result.cpu_seconds / elapsed, 1) for result in results],
        "dashboards_process_cpu_percent": round(100 * own_cpu / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--client-processes", type=int, default=2, help="load processes the customers share")
    parser.add_argument("--store", choices=("sqlite", "mongodb"), default="sqlite",
                        help="mongodb: MONGODB_URI, or a SecantusDB started for the run")
    parser.add_argument("--database-uri", default="", help="serve from this database instead")
    args = parser.parse_args()
    with database_uri_for(args.store, args.database_uri) as uri:
        extra = ["--example", "appointment_booking"] + (["--database-uri", uri] if uri else [])
        with running_server(*extra) as url:
            pid = running_server.last_pid  # type: ignore[attr-defined]
            result = asyncio.run(run(url, pid, args.providers, args.customers, args.seconds,
                                     max(1, args.client_processes), getattr(running_server, "mongo_pid", None)))
    result["store"] = "mongodb" if uri.startswith("mongodb") else "sqlite"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
