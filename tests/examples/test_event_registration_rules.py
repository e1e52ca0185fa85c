"""Every rule of the event registration example through the REST API, each refusal with its code and message."""
from __future__ import annotations

from examples.client import date, days_from_now, pointer
from tests.examples.event_registration_world import World, refusal

# --- profiles ------------------------------------------------------------------------------------------------


async def test_users_sign_up_log_in_and_out(world: World) -> None:
    await world.new_user("erin")
    me = await world.parse.request("GET", "/users/me", session=world.sessions["erin"])
    assert me["username"] == "erin"
    await world.parse.log_out(world.sessions["erin"])
    failure = await refusal(world.parse.request("GET", "/users/me", session=world.sessions["erin"]))
    assert failure.code == 209


async def test_a_user_updates_their_own_profile_picture_from_an_uploaded_file_url(world: World) -> None:
    url = f"{world.served.base_url}/parse/files/{world.served.settings.app_id}/ann.png"
    await world.parse.request("PUT", f"/users/{world.ids['ann']}", {"profilePicture": url},
                              session=world.sessions["ann"])
    me = await world.parse.request("GET", "/users/me", session=world.sessions["ann"])
    assert me["profilePicture"] == url


async def test_a_profile_picture_that_is_not_a_url_is_refused(world: World) -> None:
    failure = await refusal(world.parse.request("PUT", f"/users/{world.ids['ann']}", {"profilePicture": "me.png"},
                                                session=world.sessions["ann"]))
    assert failure.code == 141 and "URL of an uploaded file" in failure.error


async def test_nobody_updates_or_deletes_another_users_profile(world: World) -> None:
    for attempt in (world.parse.request("PUT", f"/users/{world.ids['ann']}", {"email": "x@example.com"},
                                        session=world.sessions["ben"]),
                    world.parse.request("DELETE", f"/users/{world.ids['ann']}", session=world.sessions["ben"])):
        failure = await refusal(attempt)
        assert failure.code in (101, 206), failure
    me = await world.parse.request("GET", "/users/me", session=world.sessions["ann"])
    assert me["email"] == "ann@example.com"


async def test_a_user_deletes_their_own_profile(world: World) -> None:
    await world.new_user("erin")
    await world.parse.request("DELETE", f"/users/{world.ids['erin']}", session=world.sessions["erin"])
    assert not await world.parse.find("_User", {"username": "erin"}, master=True)


# --- events --------------------------------------------------------------------------------------------------


async def test_anyone_reads_events_even_anonymously(world: World) -> None:
    titles = {event["title"] for event in await world.parse.find("Event")}
    assert titles == {"Python Day", "Realtime Meetup", "Design Workshop"}


async def test_an_organiser_creates_an_event_and_is_recorded_as_its_organizer(world: World) -> None:
    event = await world.new_event(capacity=10)
    assert event["organizer"]["objectId"] == world.ids["olivia"] and event["seatsTaken"] == 0
    assert event["capacity"] == 10


async def test_an_attendee_cannot_create_an_event(world: World) -> None:
    failure = await refusal(world.new_event(organizer="ann"))
    assert failure.code == 119 and "create" in failure.error and "Event" in failure.error


async def test_an_organizer_set_by_the_client_is_replaced_by_the_caller(world: World) -> None:
    created = await world.parse.create("Event", {"title": "Mine", "description": "d", "date": date(days_from_now(3)),
                                                 "organizer": world.me("oscar")}, session=world.sessions["olivia"])
    event = await world.parse.get("Event", created["objectId"])
    assert event["organizer"]["objectId"] == world.ids["olivia"]


async def test_an_event_ending_before_it_starts_is_refused(world: World) -> None:
    failure = await refusal(world.new_event(date=date(days_from_now(5, 12)), endDate=date(days_from_now(5, 9))))
    assert failure.code == 141 and "endDate" in failure.error


async def test_a_capacity_that_is_not_a_whole_number_of_seats_is_refused(world: World) -> None:
    for capacity in (-1, 2.5):
        failure = await refusal(world.new_event(capacity=capacity))
        assert failure.code == 141 and "capacity" in failure.error


async def test_only_the_events_organiser_edits_it(world: World) -> None:
    event = await world.event("Python Day")
    await world.parse.update("Event", event["objectId"], {"location": "Hall B"}, session=world.sessions["olivia"])
    other_organiser = await refusal(world.parse.update("Event", event["objectId"], {"location": "Hall C"},
                                                       session=world.sessions["oscar"]))
    assert other_organiser.code == 119 and "Only the event's organiser" in other_organiser.error
    attendee = await refusal(world.parse.update("Event", event["objectId"], {"location": "Hall D"},
                                                session=world.sessions["ann"]))
    assert attendee.code == 119
    assert (await world.event("Python Day"))["location"] == "Hall B"


async def test_the_seat_count_is_kept_by_the_server(world: World) -> None:
    event = await world.event("Python Day")
    failure = await refusal(world.parse.update("Event", event["objectId"], {"seatsTaken": 0},
                                               session=world.sessions["olivia"]))
    assert failure.code == 141 and "seatsTaken" in failure.error


async def test_only_the_events_organiser_deletes_it_with_its_sessions(world: World) -> None:
    event = await world.event("Python Day")
    failure = await refusal(world.parse.delete("Event", event["objectId"], session=world.sessions["oscar"]))
    assert failure.code == 119
    await world.parse.delete("Event", event["objectId"], session=world.sessions["olivia"])
    assert not await world.parse.find("Session", {"event": pointer("Event", event["objectId"])})
    assert "Python Day was cancelled." in await world.notifications("ann")


# --- registrations -------------------------------------------------------------------------------------------


async def test_registration_is_confirmed_while_seats_are_left_then_waitlisted(world: World) -> None:
    event = await world.new_event(capacity=2)
    statuses = [(await world.register(name, event))["status"] for name in ("ann", "ben", "cara")]
    assert statuses == ["confirmed", "confirmed", "waitlisted"]
    assert await world.seats_taken(event) == 2


async def test_an_event_without_capacity_confirms_everyone(world: World) -> None:
    event = await world.new_event()
    assert {(await world.register(name, event))["status"] for name in ("ann", "ben", "cara", "dan")} == {"confirmed"}


async def test_a_status_sent_by_the_client_is_not_trusted(world: World) -> None:
    event = await world.new_event(capacity=0)
    created = await world.parse.create("Registration", {"event": pointer("Event", event["objectId"]),
                                                        "user": world.me("ann"), "status": "confirmed"},
                                       session=world.sessions["ann"])
    assert created["status"] == "waitlisted"


async def test_a_user_cannot_register_another_user(world: World) -> None:
    event = await world.new_event()
    failure = await refusal(world.parse.create("Registration", {"event": pointer("Event", event["objectId"]),
                                                                "user": world.me("ben")},
                                               session=world.sessions["ann"]))
    assert failure.code == 119 and "only yourself" in failure.error


async def test_a_registration_without_a_user_is_refused(world: World) -> None:
    event = await world.new_event()
    failure = await refusal(world.parse.create("Registration", {"event": pointer("Event", event["objectId"])},
                                               session=world.sessions["ann"]))
    assert failure.code == 142 and failure.error == "user is required"


async def test_anonymous_registration_is_refused(world: World) -> None:
    event = await world.new_event()
    failure = await refusal(world.parse.create("Registration", {"event": pointer("Event", event["objectId"]),
                                                                "user": world.me("ann")}))
    assert failure.code == 101 and "needs to be authenticated" in failure.error  # Parse's answer to the CLP


async def test_a_second_registration_for_the_same_event_is_refused_with_137(world: World) -> None:
    event = await world.new_event()
    await world.register("ann", event)
    failure = await refusal(world.register("ann", event))
    assert failure.code == 137 and "already registered" in failure.error
    assert await world.seats_taken(event) == 1


async def test_registration_for_a_missing_event_is_refused(world: World) -> None:
    failure = await refusal(world.parse.create("Registration", {"event": pointer("Event", "nosuchevent"),
                                                                "user": world.me("ann")},
                                               session=world.sessions["ann"]))
    assert failure.code == 101 and "No such event" in failure.error


async def test_cancelling_promotes_the_oldest_waitlisted_registration_and_tells_them(world: World) -> None:
    event = await world.new_event(capacity=1, title="Tiny")
    ann = await world.register("ann", event)
    ben = await world.register("ben", event)
    cara = await world.register("cara", event)
    await world.parse.update("Registration", ann["objectId"], {"status": "cancelled"}, session=world.sessions["ann"])
    assert (await world.parse.get("Registration", ben["objectId"], session=world.sessions["ben"]))["status"] == \
        "confirmed"
    assert (await world.parse.get("Registration", cara["objectId"], session=world.sessions["cara"]))["status"] == \
        "waitlisted"
    assert await world.notifications("ben") == ["A seat opened up: you are confirmed for Tiny."]
    assert await world.notifications("cara") == []
    assert await world.seats_taken(event) == 1


async def test_cancelling_without_a_waitlist_frees_the_seat(world: World) -> None:
    event = await world.new_event(capacity=1)
    ann = await world.register("ann", event)
    await world.parse.update("Registration", ann["objectId"], {"status": "cancelled"}, session=world.sessions["ann"])
    assert await world.seats_taken(event) == 0
    assert (await world.register("ben", event))["status"] == "confirmed"


async def test_an_attendee_cannot_confirm_themself_or_change_the_event(world: World) -> None:
    event = await world.new_event(capacity=0)
    ann = await world.register("ann", event)
    confirm = await refusal(world.parse.update("Registration", ann["objectId"], {"status": "confirmed"},
                                               session=world.sessions["ann"]))
    assert confirm.code == 141 and "only cancel" in confirm.error
    other = await world.event("Realtime Meetup")
    move = await refusal(world.parse.update("Registration", ann["objectId"], {
        "event": pointer("Event", other["objectId"])}, session=world.sessions["ann"]))
    assert move.code == 141 and "event cannot be changed" in move.error


async def test_a_cancelled_registration_stays_cancelled(world: World) -> None:
    event = await world.new_event()
    ann = await world.register("ann", event)
    await world.parse.update("Registration", ann["objectId"], {"status": "cancelled"}, session=world.sessions["ann"])
    failure = await refusal(world.parse.update("Registration", ann["objectId"], {"status": "confirmed"},
                                               session=world.sessions["ann"]))
    assert failure.code == 141 and "cancelled" in failure.error
    assert (await refusal(world.register("ann", event))).code == 137  # once per user and event


async def test_nobody_but_the_attendee_cancels_a_registration(world: World) -> None:
    event = await world.new_event()
    ann = await world.register("ann", event)
    failure = await refusal(world.parse.update("Registration", ann["objectId"], {"status": "cancelled"},
                                               session=world.sessions["ben"]))
    assert failure.code == 101


async def test_registrations_are_never_deleted_by_clients(world: World) -> None:
    event = await world.new_event()
    ann = await world.register("ann", event)
    failure = await refusal(world.parse.delete("Registration", ann["objectId"], session=world.sessions["ann"]))
    assert failure.code == 119


async def test_attendees_see_only_their_own_registrations_organisers_all_of_their_events(world: World) -> None:
    python_day = await world.event("Python Day")  # olivia's: ann and ben registered
    workshop = await world.event("Design Workshop")  # oscar's: cara and dan registered

    async def visible(name: str) -> set[tuple[str, str]]:
        found = await world.parse.find("Registration", session=world.sessions[name])
        users = {uid: user for user, uid in world.ids.items()}
        return {(users[r["user"]["objectId"]], r["event"]["objectId"]) for r in found}

    assert await visible("ben") == {("ben", python_day["objectId"])}
    olivia_sees = await visible("olivia")
    assert ("ann", python_day["objectId"]) in olivia_sees and ("ben", python_day["objectId"]) in olivia_sees
    assert all(event != workshop["objectId"] for _, event in olivia_sees)
    assert await visible("oscar") == {("cara", workshop["objectId"]), ("dan", workshop["objectId"])}
    anonymous = await refusal(world.parse.find("Registration"))
    assert anonymous.code == 101 and "needs to be authenticated" in anonymous.error


# --- sessions ------------------------------------------------------------------------------------------------


async def test_the_organiser_schedules_sessions_within_the_event(world: World) -> None:
    event = await world.new_event()  # 09:00 to 17:00
    session = await world.new_session(event, hour=10)
    assert (await world.parse.get("Session", session["objectId"]))["speaker"] == "Sam"
    for hour, days in ((8, 5), (18, 5), (10, 6)):
        failure = await refusal(world.new_session(event, hour=hour, days=days))
        assert failure.code == 141 and "during the event" in failure.error


async def test_an_event_without_end_date_takes_sessions_until_the_end_of_its_day(world: World) -> None:
    created = await world.parse.create("Event", {"title": "Day", "description": "d",
                                                 "date": date(days_from_now(5, 9))}, session=world.sessions["olivia"])
    event = await world.parse.get("Event", created["objectId"])
    await world.new_session(event, hour=23)
    assert (await refusal(world.new_session(event, hour=10, days=6))).code == 141


async def test_only_the_events_organiser_schedules_moves_and_cancels_its_sessions(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event)
    other_organiser = await refusal(world.new_session(event, organizer="oscar"))
    assert other_organiser.code == 119 and "Only the event's organiser" in other_organiser.error
    attendee = await refusal(world.new_session(event, organizer="ann"))
    assert attendee.code == 119
    move = await refusal(world.parse.update("Session", session["objectId"], {"time": date(days_from_now(5, 11))},
                                            session=world.sessions["oscar"]))
    assert move.code == 119
    cancel = await refusal(world.parse.delete("Session", session["objectId"], session=world.sessions["oscar"]))
    assert cancel.code == 119


async def test_a_session_cannot_move_to_another_event(world: World) -> None:
    event, other = await world.new_event(), await world.new_event(title="Other")
    session = await world.new_session(event)
    failure = await refusal(world.parse.update("Session", session["objectId"], {
        "event": pointer("Event", other["objectId"])}, session=world.sessions["olivia"]))
    assert failure.code == 141 and "another event" in failure.error


# --- feedback ------------------------------------------------------------------------------------------------


async def test_a_confirmed_attendee_rates_a_session_once(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event)
    await world.register("ann", event)
    body = {"session": pointer("Session", session["objectId"]), "user": world.me("ann"), "rating": 4}
    await world.parse.create("Feedback", body, session=world.sessions["ann"])
    failure = await refusal(world.parse.create("Feedback", body, session=world.sessions["ann"]))
    assert failure.code == 137 and "already gave feedback" in failure.error


async def test_feedback_rating_must_be_1_to_5(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event)
    await world.register("ann", event)
    for rating in (0, 6, 2.5, "5"):
        body = {"session": pointer("Session", session["objectId"]), "user": world.me("ann"), "rating": rating}
        failure = await refusal(world.parse.create("Feedback", body, session=world.sessions["ann"]))
        assert failure.code in (142, 111), (rating, failure)
    missing = await refusal(world.parse.create("Feedback", {"session": pointer("Session", session["objectId"]),
                                                            "user": world.me("ann")}, session=world.sessions["ann"]))
    assert missing.code == 142


async def test_feedback_needs_a_confirmed_registration(world: World) -> None:
    event = await world.new_event(capacity=1)
    session = await world.new_session(event)
    await world.register("ann", event)
    await world.register("ben", event)  # waitlisted
    for name in ("ben", "cara"):  # waitlisted, not registered
        failure = await refusal(world.parse.create("Feedback", {
            "session": pointer("Session", session["objectId"]), "user": world.me(name), "rating": 5},
            session=world.sessions[name]))
        assert failure.code == 119 and "Only confirmed attendees" in failure.error


async def test_feedback_only_as_yourself(world: World) -> None:
    event = await world.new_event()
    session = await world.new_session(event)
    await world.register("ann", event)
    failure = await refusal(world.parse.create("Feedback", {
        "session": pointer("Session", session["objectId"]), "user": world.me("ann"), "rating": 5},
        session=world.sessions["ben"]))
    assert failure.code == 119


# --- notifications -------------------------------------------------------------------------------------------


async def test_session_added_moved_and_cancelled_notify_each_confirmed_registrant(world: World) -> None:
    event = await world.new_event(capacity=2, title="Notified")
    for name in ("ann", "ben", "cara"):  # cara is waitlisted
        await world.register(name, event)
    session = await world.new_session(event, hour=10, title="Opening")
    await world.parse.update("Session", session["objectId"], {"time": date(days_from_now(5, 11))},
                             session=world.sessions["olivia"])
    await world.parse.update("Session", session["objectId"], {"speaker": "Kim"}, session=world.sessions["olivia"])
    await world.parse.delete("Session", session["objectId"], session=world.sessions["olivia"])
    for name in ("ann", "ben"):
        messages = await world.notifications(name)
        assert len(messages) == 3, messages
        assert messages[0].startswith("New session: Opening") and messages[1].startswith("Session moved: Opening")
        assert messages[2] == "Session cancelled: Opening."
    assert await world.notifications("cara") == []


async def test_clients_cannot_create_notifications(world: World) -> None:
    failure = await refusal(world.parse.create("Notification", {"user": world.me("ann"), "message": "hi"},
                                               session=world.sessions["ben"]))
    assert failure.code == 119


async def test_a_user_marks_their_notification_read_and_changes_nothing_else(world: World) -> None:
    event = await world.new_event()
    await world.register("ann", event)
    await world.new_session(event)
    note = (await world.parse.find("Notification", session=world.sessions["ann"]))[0]
    await world.parse.update("Notification", note["objectId"], {"read": True}, session=world.sessions["ann"])
    failure = await refusal(world.parse.update("Notification", note["objectId"], {"message": "changed"},
                                               session=world.sessions["ann"]))
    assert failure.code == 141 and "mark a notification read" in failure.error
    other = await refusal(world.parse.update("Notification", note["objectId"], {"read": False},
                                             session=world.sessions["ben"]))
    assert other.code == 101
    assert await world.parse.find("Notification", session=world.sessions["ben"]) == []
