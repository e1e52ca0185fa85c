"""Bookings that arrive at the same moment: a provider is never double-booked, on SQLite and MongoDB."""
from __future__ import annotations

import asyncio

from examples.client import ParseFailure, date
from tests.examples.appointment_booking_world import Booking, slot


async def outcomes(attempts: list) -> list:
    return await asyncio.gather(*attempts, return_exceptions=True)


async def test_two_customers_booking_the_same_slot_at_once_one_succeeds_the_other_is_told(booking: Booking) -> None:
    results = await outcomes([booking.book(name, "Consultation", slot(8, 10)) for name in ("ann", "ben")])
    booked = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ParseFailure)]
    assert len(booked) == 1 and len(refused) == 1, results
    assert refused[0].code == 137 and refused[0].error == "That time is already booked: pick another slot."
    stored = await booking.parse.find("Appointment", {"appointmentDate": date(slot(8, 10))}, master=True)
    assert [a["customer"]["objectId"] for a in stored] == [booked[0]["customer"]["objectId"]]


async def test_many_overlapping_bookings_at_once_never_overlap_in_the_store(booking: Booking) -> None:
    service = await booking.new_provider("rita", minutes=60)
    names = [await booking.new_user(f"rush{i}", "customer") for i in range(8)]
    starts = [slot(9, 10, 15 * (i % 4)) for i in range(8)]  # 10:00 .. 10:45, twice each: all overlap pairwise
    results = await outcomes([booking.book(name, service, at) for name, at in zip(names, starts)])
    booked = [r for r in results if isinstance(r, dict)]
    assert len(booked) >= 1, results
    assert all(r.code == 137 for r in results if isinstance(r, ParseFailure)), results
    stored = await booking.parse.find("Appointment", {"provider": booking.me("rita")}, master=True)
    assert len(stored) == len(booked) == 1  # any two of these starts overlap by the hour's duration
