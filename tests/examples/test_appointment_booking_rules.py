"""Every rule of the appointment booking example through the REST API, each refusal with its code and message."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from examples.appointment_booking.seed import within_its_day
from examples.client import date, pointer
from tests.examples.appointment_booking_world import Booking, slot, weekday_slot
from tests.examples.event_registration_world import refusal

# --- profiles ------------------------------------------------------------------------------------------------


async def test_a_sign_up_without_a_known_role_is_refused(booking: Booking) -> None:
    for fields in ({}, {"role": "admin"}):
        failure = await refusal(booking.parse.sign_up("erin", "pw", email="erin@example.com", **fields))
        assert failure.code == 142 and "role must be 'customer' or 'provider'" in failure.error
    assert not await booking.parse.find("_User", {"username": "erin"}, master=True)


async def test_the_role_chosen_at_sign_up_cannot_be_changed(booking: Booking) -> None:
    failure = await refusal(booking.parse.request("PUT", f"/users/{booking.ids['ann']}", {"role": "provider"},
                                                  session=booking.sessions["ann"]))
    assert failure.code == 141 and "role is chosen at sign-up" in failure.error
    me = await booking.parse.request("GET", "/users/me", session=booking.sessions["ann"])
    assert me["role"] == "customer"


# --- services ------------------------------------------------------------------------------------------------


async def test_anyone_reads_services_even_anonymously(booking: Booking) -> None:
    names = {service["name"] for service in await booking.parse.find("Service")}
    assert names == {"Haircut", "Colouring", "Consultation", "Quick check"}


async def test_a_provider_creates_a_service_and_is_recorded_as_its_provider(booking: Booking) -> None:
    created = await booking.parse.create("Service", {"name": "Shave", "duration": 15,
                                                     "provider": booking.me("peter")},
                                         session=booking.sessions["paula"])
    service = await booking.parse.get("Service", created["objectId"])
    assert service["provider"]["objectId"] == booking.ids["paula"] and service["duration"] == 15


async def test_a_customer_cannot_offer_a_service(booking: Booking) -> None:
    failure = await refusal(booking.parse.create("Service", {"name": "Mine", "duration": 30},
                                                 session=booking.sessions["ann"]))
    assert failure.code == 119 and failure.error == "Only providers offer services."


async def test_a_duration_that_is_not_whole_quarter_hours_is_refused(booking: Booking) -> None:
    for duration in (20, 0, -15, "30", 600):
        failure = await refusal(booking.parse.create("Service", {"name": "Odd", "duration": duration},
                                                     session=booking.sessions["paula"]))
        assert failure.code == 142 and "duration must" in failure.error, duration


async def test_only_its_provider_edits_a_service(booking: Booking) -> None:
    haircut = await booking.service("Haircut")
    await booking.parse.update("Service", haircut["objectId"], {"description": "Now with a massage."},
                               session=booking.sessions["paula"])
    failure = await refusal(booking.parse.update("Service", haircut["objectId"], {"description": "Mine now"},
                                                 session=booking.sessions["peter"]))
    assert failure.code in (101, 119)
    assert (await booking.service("Haircut"))["description"] == "Now with a massage."


# --- calendars -----------------------------------------------------------------------------------------------


async def test_a_provider_edits_their_own_availability_and_nobody_else_can(booking: Booking) -> None:
    calendar = (await booking.parse.find("Calendar", {"provider": booking.me("paula")}))[0]
    hours = [{"kind": "weekly", "weekday": 6, "from": "10:00", "to": "12:00"}]
    await booking.parse.update("Calendar", calendar["objectId"], {"availability": hours},
                               session=booking.sessions["paula"])
    for intruder in ("peter", "ann"):
        failure = await refusal(booking.parse.update("Calendar", calendar["objectId"], {"availability": []},
                                                     session=booking.sessions[intruder]))
        assert failure.code in (101, 119)
    assert (await booking.parse.get("Calendar", calendar["objectId"]))["availability"] == hours


async def test_a_customer_has_no_calendar_and_a_provider_only_one(booking: Booking) -> None:
    failure = await refusal(booking.parse.create("Calendar", {"availability": []}, session=booking.sessions["ann"]))
    assert failure.code == 119
    failure = await refusal(booking.parse.create("Calendar", {"availability": []},
                                                 session=booking.sessions["paula"]))
    assert failure.code == 137 and "already have a calendar" in failure.error


async def test_availability_that_does_not_have_the_documented_shape_is_refused(booking: Booking) -> None:
    calendar = (await booking.parse.find("Calendar", {"provider": booking.me("paula")}))[0]
    for bad, why in (({"kind": "weekly", "weekday": 8, "from": "09:00", "to": "17:00"}, "weekday must be 1"),
                     ({"kind": "weekly", "weekday": 1, "from": "17:00", "to": "09:00"}, "from must be before to"),
                     ({"kind": "weekly", "weekday": 1, "from": "9am", "to": "17:00"}, "must be a time 'HH:MM'"),
                     ({"kind": "blocked", "from": "2026-12-24", "to": "2026-12-25T00:00:00Z"}, "with its zone"),
                     ({"kind": "holiday"}, "kind must be 'weekly' or 'blocked'")):
        failure = await refusal(booking.parse.update("Calendar", calendar["objectId"], {"availability": [bad]},
                                                     session=booking.sessions["paula"]))
        assert failure.code == 141 and why in failure.error and "availability[0]" in failure.error, failure


# --- booking -------------------------------------------------------------------------------------------------


async def test_a_customer_books_and_the_server_sets_the_parties_status_and_acl(booking: Booking) -> None:
    created = await booking.book("ann", "Consultation", slot(3, 10))
    assert created["status"] == "pending"
    stored = await booking.appointment(created)
    assert stored["customer"]["objectId"] == booking.ids["ann"]
    assert stored["provider"]["objectId"] == booking.ids["peter"]
    assert stored["duration"] == 60 and stored["appointmentDate"] == date(slot(3, 10))
    assert stored["ACL"] == {booking.ids["ann"]: {"read": True, "write": True},
                             booking.ids["peter"]: {"read": True, "write": True}}


async def test_a_provider_cannot_book_and_a_customer_books_only_for_themself(booking: Booking) -> None:
    failure = await refusal(booking.book("paula", "Consultation", slot(3, 11)))
    assert failure.code == 119 and failure.error == "Only customers book appointments."
    consultation = await booking.service("Consultation")
    failure = await refusal(booking.parse.create("Appointment", {
        "service": pointer("Service", consultation["objectId"]), "appointmentDate": date(slot(3, 11)),
        "customer": booking.me("ben")}, session=booking.sessions["ann"]))
    assert failure.code == 119 and failure.error == "You can book only for yourself."


async def test_anonymous_callers_cannot_book(booking: Booking) -> None:
    failure = await refusal(booking.book("ann", "Consultation", slot(3, 11), master=False))
    assert failure.code in (101, 119)


async def test_a_booking_outside_the_weekly_hours_is_refused(booking: Booking) -> None:
    for service, at in (("Haircut", weekday_slot(1, 8, 45)),  # before opening
                        ("Colouring", weekday_slot(2, 16)),  # 16:00-17:30, past closing
                        ("Haircut", weekday_slot(6, 10))):  # a Saturday
        failure = await refusal(booking.book("ann", service, at))
        assert failure.code == 141 and "inside their weekly hours" in failure.error, at
    assert (await booking.book("ann", "Haircut", weekday_slot(2, 16, 30)))["status"] == "pending"  # ends at 17:00


async def test_a_booking_in_a_blocked_period_is_refused(booking: Booking) -> None:
    calendar = (await booking.parse.find("Calendar", {"provider": booking.me("paula")}))[0]
    day = weekday_slot(3, 0)
    blocked = {"kind": "blocked", "from": (day + timedelta(hours=12)).isoformat(),
               "to": (day + timedelta(hours=13)).isoformat()}
    await booking.parse.update("Calendar", calendar["objectId"], {
        "availability": [*calendar["availability"], blocked]}, session=booking.sessions["paula"])
    failure = await refusal(booking.book("ann", "Haircut", day + timedelta(hours=11, minutes=45)))
    assert failure.code == 141 and "blocked in their calendar" in failure.error
    assert await booking.book("ann", "Haircut", day + timedelta(hours=11, minutes=30))  # ends as the block starts


async def test_a_booking_in_the_past_off_the_quarter_hour_or_without_a_calendar_is_refused(booking: Booking) -> None:
    failure = await refusal(booking.book("ann", "Consultation", slot(-1, 10)))
    assert failure.code == 141 and "in the future" in failure.error
    failure = await refusal(booking.book("ann", "Consultation", slot(3, 10, 5)))
    assert failure.code == 141 and "quarter hour" in failure.error
    await booking.new_user("nora", "provider")
    service = await booking.parse.create("Service", {"name": "Nora's", "duration": 30},
                                         session=booking.sessions["nora"])
    failure = await refusal(booking.book("ann", service, slot(3, 10)))
    assert failure.code == 141 and "not published their availability" in failure.error


async def test_a_booking_of_a_missing_service_or_without_a_date_is_refused(booking: Booking) -> None:
    failure = await refusal(booking.book("ann", {"objectId": "nope"}, slot(3, 10)))
    assert failure.code == 101 and failure.error == "No such service."
    consultation = await booking.service("Consultation")
    failure = await refusal(booking.parse.create("Appointment", {"service": pointer("Service",
                                                                                    consultation["objectId"])},
                                                 session=booking.sessions["ann"]))
    assert failure.code == 142 and failure.error == "appointmentDate is required"


async def test_an_overlapping_booking_is_refused_and_an_adjacent_one_is_not(booking: Booking) -> None:
    await booking.book("ann", "Consultation", slot(4, 10))  # 10:00-11:00
    failure = await refusal(booking.book("ben", "Quick check", slot(4, 10, 45)))  # 10:45-11:00
    assert failure.code == 137 and failure.error == "That time is already booked: pick another slot."
    failure = await refusal(booking.book("ben", "Consultation", slot(4, 9, 30)))  # 9:30-10:30
    assert failure.code == 137
    assert await booking.book("ben", "Consultation", slot(4, 11))  # 11:00-12:00
    assert await booking.book("ben", "Quick check", slot(4, 9, 45))  # 9:45-10:00
    peters = await booking.parse.find("Appointment", {"provider": booking.me("peter")}, master=True)
    assert sum(1 for a in peters if a["appointmentDate"]["iso"][:10] == slot(4, 0).date().isoformat()) == 3


async def test_a_cancelled_appointment_frees_its_time(booking: Booking) -> None:
    first = await booking.book("ann", "Consultation", slot(5, 14))
    await booking.move("ann", first, "cancelled")
    again = await booking.book("ben", "Consultation", slot(5, 14, 30))
    assert again["status"] == "pending"


# --- the status flow -----------------------------------------------------------------------------------------


async def test_the_provider_confirms_and_the_customer_cannot(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(3, 15))
    failure = await refusal(booking.move("ann", appointment, "confirmed"))
    assert failure.code == 119 and failure.error == "Only the provider confirms an appointment."
    await booking.move("peter", appointment, "confirmed")
    assert (await booking.appointment(appointment))["status"] == "confirmed"


async def test_either_party_cancels_before_the_start(booking: Booking) -> None:
    by_customer = await booking.book("ann", "Consultation", slot(3, 16))
    by_provider = await booking.book("ben", "Consultation", slot(3, 17))
    await booking.move("peter", by_provider, "confirmed")
    await booking.move("ann", by_customer, "cancelled")
    await booking.move("peter", by_provider, "cancelled")
    assert {(await booking.appointment(a))["status"] for a in (by_customer, by_provider)} == {"cancelled"}


async def test_completing_waits_for_the_start_and_only_the_provider_completes(booking: Booking) -> None:
    future = await booking.book("ann", "Consultation", slot(3, 18))
    await booking.move("peter", future, "confirmed")
    failure = await refusal(booking.move("peter", future, "completed"))
    assert failure.code == 141 and failure.error == "An appointment is completed only once it has started."
    started = await past_appointment(booking, "confirmed")
    failure = await refusal(booking.move("ann", started, "completed"))
    assert failure.code == 119 and failure.error == "Only the provider completes an appointment."
    await booking.move("peter", started, "completed")
    assert (await booking.appointment(started))["status"] == "completed"


async def test_no_cancellation_confirmation_once_started(booking: Booking) -> None:
    for status, move, who, why, hours_ago in (("confirmed", "cancelled", "ann", "cancelled only before it starts", 1),
                                              ("pending", "confirmed", "peter", "already started", 3)):
        started = await past_appointment(booking, status, hours_ago)
        failure = await refusal(booking.move(who, started, move))
        assert failure.code == 141 and why in failure.error


async def test_every_other_status_move_is_refused_with_a_message(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(3, 19))
    for status in ("completed", "pending-ish", "booked"):
        failure = await refusal(booking.move("peter", appointment, status))
        assert failure.code == 141 and failure.error == f"An appointment cannot go from pending to {status}."
    await booking.move("ann", appointment, "cancelled")
    for status in ("pending", "confirmed"):
        failure = await refusal(booking.move("peter", appointment, status))
        assert failure.code == 141 and failure.error == "This appointment is cancelled; it cannot change any more."


async def test_an_appointments_time_service_and_parties_cannot_be_changed(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(3, 20))
    for field, value in (("appointmentDate", date(slot(3, 21))), ("customer", booking.me("ben")),
                         ("service", pointer("Service", (await booking.service("Quick check"))["objectId"])),
                         ("ACL", {"*": {"read": True}})):
        failure = await refusal(booking.parse.update("Appointment", appointment["objectId"], {field: value},
                                                     session=booking.sessions["ann"]))
        assert failure.code == 141 and failure.error.startswith(f"{field} cannot be changed"), field


async def test_nobody_deletes_an_appointment(booking: Booking) -> None:
    appointment = await booking.book("ann", "Consultation", slot(3, 21))
    for who in ("ann", "peter"):
        failure = await refusal(booking.parse.delete("Appointment", appointment["objectId"],
                                                     session=booking.sessions[who]))
        assert failure.code == 119
    assert await booking.appointment(appointment)


async def past_appointment(booking: Booking, status: str, hours_ago: int = 1) -> dict:
    """An appointment that started `hours_ago`, as the master key can write it (no client books the past)."""
    consultation = await booking.service("Consultation")
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return await booking.parse.create("Appointment", {
        "service": pointer("Service", consultation["objectId"]), "customer": booking.me("ann"),
        "appointmentDate": date(start), "status": status}, master=True)


# --- who sees what -------------------------------------------------------------------------------------------


async def test_each_party_sees_only_their_own_appointments(booking: Booking) -> None:
    mine = await booking.book("ann", "Consultation", slot(6, 10))
    seen = {name: {a["objectId"] for a in await booking.parse.find("Appointment", session=booking.sessions[name])}
            for name in ("ann", "ben", "peter", "paula")}
    assert mine["objectId"] in seen["ann"] and mine["objectId"] in seen["peter"]
    assert mine["objectId"] not in seen["ben"] and mine["objectId"] not in seen["paula"]
    failure = await refusal(booking.parse.get("Appointment", mine["objectId"], session=booking.sessions["ben"]))
    assert failure.code == 101
    failure = await refusal(booking.parse.find("Appointment"))
    assert failure.code == 101  # anonymous


# --- notifications -------------------------------------------------------------------------------------------


async def test_every_change_notifies_the_other_party(booking: Booking) -> None:
    before = {name: len(await booking.notifications(name)) for name in ("ann", "peter")}
    appointment = await booking.book("ann", "Consultation", slot(7, 10))
    await booking.move("peter", appointment, "confirmed")
    await booking.move("ann", appointment, "cancelled")
    day = slot(7, 10).strftime("%a %d %b 10:00 UTC")
    assert (await booking.notifications("peter"))[before["peter"]:] == [
        f"New booking: Consultation on {day}.", f"Appointment cancelled: Consultation on {day}."]
    assert (await booking.notifications("ann"))[before["ann"]:] == [f"Appointment confirmed: Consultation on {day}."]


async def test_reading_a_notification_marks_it_read_and_nothing_else_changes(booking: Booking) -> None:
    await booking.book("ann", "Consultation", slot(7, 12))
    note = (await booking.parse.find("Notification", {"user": booking.me("peter"), "read": False},
                                     session=booking.sessions["peter"]))[0]
    read = await booking.parse.get("Notification", note["objectId"], session=booking.sessions["peter"])
    assert read["read"] is True
    assert (await booking.parse.get("Notification", note["objectId"], master=True))["read"] is True
    failure = await refusal(booking.parse.update("Notification", note["objectId"], {"message": "edited"},
                                                 session=booking.sessions["peter"]))
    assert failure.code == 141 and failure.error == "You can only mark a notification read."
    await booking.parse.update("Notification", note["objectId"], {"read": False}, session=booking.sessions["peter"])
    failure = await refusal(booking.parse.create("Notification", {"user": booking.me("ann"), "message": "hi",
                                                                  "read": False}, session=booking.sessions["peter"]))
    assert failure.code == 119


async def test_a_notification_is_seen_by_its_user_only(booking: Booking) -> None:
    await booking.book("ann", "Consultation", slot(7, 14))
    assert await booking.parse.find("Notification", {"user": booking.me("peter")},
                                    session=booking.sessions["ann"]) == []



def test_the_seeds_bookings_of_today_never_run_past_midnight() -> None:
    # The seed books an hour-long consultation an hour from now; from 22:00 to 23:00 UTC that ran past midnight,
    # out of the provider's last weekly window of the day, and the example refused to start (141).
    late = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    assert within_its_day(late, 60) == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert within_its_day(late, 30) == late  # ends at 24:00, inside the window
    assert within_its_day(late.replace(hour=10), 60) == late.replace(hour=10)
