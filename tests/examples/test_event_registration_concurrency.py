"""Requests that arrive at the same moment: once per user and event, and never more confirmed than seats."""
from __future__ import annotations

import asyncio
from collections import Counter

from examples.client import ParseFailure, pointer
from tests.examples.event_registration_world import World


async def outcomes(attempts: list) -> list:
    return await asyncio.gather(*attempts, return_exceptions=True)


async def test_the_same_registration_sent_five_times_at_once_is_stored_once(world: World) -> None:
    event = await world.new_event(capacity=10)
    results = await outcomes([world.register("ann", event) for _ in range(5)])
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ParseFailure)]
    assert len(created) == 1 and len(refused) == 4, results
    assert {failure.code for failure in refused} == {137}
    stored = await world.parse.find("Registration", {"event": pointer("Event", event["objectId"])}, master=True)
    assert len(stored) == 1
    assert await world.seats_taken(event) == 1  # the refused ones took no seat


async def test_concurrent_registrations_confirm_exactly_the_capacity(world: World) -> None:
    event = await world.new_event(capacity=6)
    names = [await world.new_user(f"rush{i}") for i in range(15)]
    results = await outcomes([world.register(name, event) for name in names])
    assert all(isinstance(r, dict) for r in results), results
    assert Counter(r["status"] for r in results) == {"confirmed": 6, "waitlisted": 9}
    stored = await world.parse.find("Registration", {"event": pointer("Event", event["objectId"])}, master=True)
    assert Counter(r["status"] for r in stored) == {"confirmed": 6, "waitlisted": 9}
    assert len({r["user"]["objectId"] for r in stored}) == 15
    assert await world.seats_taken(event) == 6


async def test_concurrent_cancellations_promote_each_waitlisted_attendee_once(world: World) -> None:
    event = await world.new_event(capacity=3)
    names = [await world.new_user(f"wave{i}") for i in range(6)]
    registrations = [await world.register(name, event) for name in names]  # 3 confirmed, 3 waitlisted
    await outcomes([world.parse.update("Registration", registration["objectId"], {"status": "cancelled"},
                                       session=world.sessions[name])
                    for name, registration in zip(names[:3], registrations[:3])])
    stored = await world.parse.find("Registration", {"event": pointer("Event", event["objectId"])}, master=True)
    assert Counter(r["status"] for r in stored) == {"cancelled": 3, "confirmed": 3}
    assert await world.seats_taken(event) == 3


async def test_the_same_feedback_sent_at_once_is_stored_once(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event)
    await world.register("ann", event)
    body = {"session": pointer("Session", session["objectId"]), "user": world.me("ann"), "rating": 5}
    results = await outcomes([world.parse.create("Feedback", body, session=world.sessions["ann"])
                              for _ in range(4)])
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert {r.code for r in results if isinstance(r, ParseFailure)} == {137}
    assert len(await world.parse.find("Feedback", master=True)) == 1
