"""Event registration: the rules of the app, enforced on the server whatever the client sends.

Read top to bottom: profiles, events, registrations (seats and the waitlist), sessions, feedback, notifications.
Permissions that need no code are in app.json: only members of the Organizer role create, edit or delete events
and sessions, only the server creates notifications, nobody deletes a registration. ACLs are set here, never
trusted from the client: events and sessions are public and writable by organisers (which organiser, the rules
below decide, with a message that says why); a registration is seen by its attendee and the event's organiser;
a notification by its user only.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone
from typing import Any

from livequery.cloud import Cloud, CloudError, changed, id_of, pointer

cloud = Cloud()

# Parse's error codes this app answers besides 141 (a CloudError without a code)
OBJECT_NOT_FOUND, OPERATION_FORBIDDEN, DUPLICATE_VALUE, VALIDATION_ERROR = 101, 119, 137, 142
CONFIRMED, WAITLISTED, CANCELLED = "confirmed", "waitlisted", "cancelled"
PUBLIC_ORGANIZERS = {"*": {"read": True}, "role:Organizer": {"read": True, "write": True}}


# --- small helpers -------------------------------------------------------------------------------------------

def when(value: Any) -> datetime | None:
    """A Parse Date (REST JSON, or a datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, dict) and value.get("__type") == "Date":
        return datetime.fromisoformat(value["iso"].replace("Z", "+00:00"))
    return None


def shown(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%a %d %b %H:%M UTC")


def caller_id(request: Any) -> str:
    if request.user is None:
        raise CloudError(OPERATION_FORBIDDEN, "Log in first.")
    return request.user["objectId"]


def written_for_self(request: Any, refusal: str) -> str:
    """The `user` of the object being written, who must be the caller (the master key may name anyone)."""
    user = id_of(request.object.get("user"))
    if user is None:
        raise CloudError(VALIDATION_ERROR, "user is required")  # as Parse answers a missing required field
    if not request.master and user != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, refusal)
    return user


async def fetch(request: Any, class_name: str, object_id: str | None, what: str) -> dict[str, Any]:
    """The object, read with the master key (rules look at objects the caller may not see), or a refusal."""
    found = await request.api.first(class_name, where={"objectId": object_id}, master=True) if object_id else None
    if found is None:
        raise CloudError(OBJECT_NOT_FOUND, f"No such {what}.")
    return found


def organizer_of(event: dict[str, Any]) -> str | None:
    return id_of(event.get("organizer"))


def require_organizer(request: Any, event: dict[str, Any], action: str) -> None:
    if not request.master and organizer_of(event) != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, f"Only the event's organiser may {action}.")


# --- profiles ------------------------------------------------------------------------------------------------
# A user reads and writes only their own profile: Parse's default ACL on _User (the owner only) does that.

@cloud.before_save("User")
def check_profile(request: Any) -> None:
    picture = request.object.get("profilePicture")
    if picture and not (isinstance(picture, str) and picture.startswith(("http://", "https://"))):
        raise CloudError("profilePicture must be the URL of an uploaded file (POST /files/<name> answers it).")


# --- events --------------------------------------------------------------------------------------------------

@cloud.before_save("Event")
def check_event(request: Any) -> None:
    event = request.object
    if request.original is None:
        organizer = id_of(event.get("organizer")) if request.master else caller_id(request)
        if organizer is None:
            raise CloudError("An event needs an organizer.")
        event["organizer"] = pointer("_User", organizer)
        event["seatsTaken"] = 0
        event["ACL"] = dict(PUBLIC_ORGANIZERS)
    else:
        require_organizer(request, request.original, "edit it")
        if not request.master:
            for field in ("organizer", "seatsTaken", "ACL"):
                if changed(request, field):
                    raise CloudError(f"{field} is kept by the server.")
    start, end = when(event.get("date")), when(event.get("endDate"))
    if start and end and end < start:
        raise CloudError("endDate must not be before date.")
    capacity = event.get("capacity")
    if capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0):
        raise CloudError("capacity must be a whole number of seats (0 or more).")


@cloud.before_delete("Event")
def check_event_delete(request: Any) -> None:
    require_organizer(request, request.object, "delete it")


@cloud.after_delete("Event")
async def cancel_event(request: Any) -> None:
    """Its confirmed attendees hear of it; its registrations and sessions go with it."""
    event = request.object
    await notify_attendees(request, event, f"{event.get('title')} was cancelled.")
    event_ref = pointer("Event", event["objectId"])
    for class_name in ("Registration", "Session"):  # registrations first: a deleted session notifies nobody then
        for row in await request.api.find(class_name, where={"event": event_ref}, limit=1000, master=True):
            await request.api.delete(class_name, row["objectId"], master=True)


# --- registrations -------------------------------------------------------------------------------------------

@cloud.before_save("Registration")
async def check_registration(request: Any) -> None:
    if request.original is None:
        await register(request)
    else:
        check_registration_change(request)


async def register(request: Any) -> None:
    """A user registers themself, once per event; confirmed while seats are left, else waitlisted."""
    registration = request.object
    user = written_for_self(request, "You can register only yourself.")
    event = await fetch(request, "Event", id_of(registration.get("event")), "event")
    # Once per user and event, also for two requests at the same moment: the key is unique in the store
    # (app.json), so exactly one of them creates it; the other is refused here before taking a seat.
    try:
        await request.api.create("RegistrationKey", {"key": f"{event['objectId']}:{user}"}, master=True)
    except Exception as error:
        if getattr(error, "code", None) == DUPLICATE_VALUE:
            raise CloudError(DUPLICATE_VALUE, "You are already registered for this event.") from None
        raise
    registration["status"] = CONFIRMED if await take_seat(request, event) else WAITLISTED
    registration["ACL"] = {user: {"read": True, "write": True}}
    if organizer_of(event):
        registration["ACL"][organizer_of(event)] = {"read": True}


async def take_seat(request: Any, event: dict[str, Any]) -> bool:
    """Count one more confirmed attendee if the event has room. The increment is atomic in the store, so of
    many concurrent registrations exactly `capacity` see a count within it; the others give their seat back."""
    taken = await request.api.update("Event", event["objectId"], {"seatsTaken": {"__op": "Increment", "amount": 1}},
                                     master=True)
    capacity = event.get("capacity")
    if capacity is None or taken["seatsTaken"] <= capacity:
        return True
    await give_seat_back(request, event["objectId"])
    return False


async def give_seat_back(request: Any, event_id: str) -> None:
    await request.api.update("Event", event_id, {"seatsTaken": {"__op": "Increment", "amount": -1}}, master=True)


def check_registration_change(request: Any) -> None:
    """Attendees may only cancel; the server alone confirms (a promotion from the waitlist)."""
    if request.master:
        return
    for field in ("user", "event", "ACL"):
        if changed(request, field):
            raise CloudError(f"A registration's {field} cannot be changed.")
    before, after = request.original.get("status"), request.object.get("status")
    if before == CANCELLED:
        raise CloudError("This registration is cancelled; it cannot change any more.")
    if after != before and after != CANCELLED:
        raise CloudError("You can only cancel a registration: the server confirms and waitlists.")


@cloud.after_save("Registration")
async def free_seat(request: Any) -> None:
    """A confirmed attendee who cancels gives their seat to the oldest waitlisted registration, if any."""
    before = request.original
    if before is None or before.get("status") != CONFIRMED or request.object.get("status") != CANCELLED:
        return
    event_id = id_of(request.object.get("event"))
    event = await fetch(request, "Event", event_id, "event")
    if not await promote_oldest_waitlisted(request, event):
        await give_seat_back(request, event_id)


async def promote_oldest_waitlisted(request: Any, event: dict[str, Any]) -> bool:
    waiting = await request.api.find("Registration", where={"event": pointer("Event", event["objectId"]),
                                                            "status": WAITLISTED},
                                     order="createdAt", limit=10, master=True)
    for registration in waiting:
        # Two cancellations at once must not promote the same attendee twice: the first to count a claim wins.
        claim = await request.api.update("Registration", registration["objectId"],
                                         {"promotions": {"__op": "Increment", "amount": 1}}, master=True)
        if claim["promotions"] != 1:
            continue
        await request.api.update("Registration", registration["objectId"], {"status": CONFIRMED}, master=True)
        await notify(request, id_of(registration["user"]), event,
                     f"A seat opened up: you are confirmed for {event.get('title')}.")
        return True
    return False


# --- sessions ------------------------------------------------------------------------------------------------

@cloud.before_save("Session")
async def check_session(request: Any) -> None:
    """Sessions are scheduled by the event's organiser, within the event: from its `date` to its `endDate`,
    or to the end of that day when it has none."""
    session = request.object
    if request.original is not None and changed(request, "event"):
        raise CloudError("A session cannot move to another event.")
    event = await fetch(request, "Event", id_of(session.get("event")), "event")
    require_organizer(request, event, "schedule its sessions")
    start = when(event.get("date"))
    end = when(event.get("endDate")) or datetime.combine(start.date() + timedelta(days=1), time(), timezone.utc)
    at = when(session.get("time"))
    if at is None or not start <= at <= end:
        raise CloudError(f"A session must take place during the event: from {shown(start)} to {shown(end)}.")
    session["ACL"] = dict(PUBLIC_ORGANIZERS)


@cloud.after_save("Session")
async def announce_session(request: Any) -> None:
    session, before = request.object, request.original
    at = when(session.get("time"))
    if before is None:
        message = f"New session: {session.get('title')} ({session.get('speaker')}) at {shown(at)}."
    elif changed(request, "time"):
        message = f"Session moved: {session.get('title')} is now at {shown(at)}."
    else:
        return
    event = await fetch(request, "Event", id_of(session.get("event")), "event")
    await notify_attendees(request, event, message)


@cloud.before_delete("Session")
async def check_session_delete(request: Any) -> None:
    if request.master:  # e.g. the event's own deletion taking its sessions with it
        return
    event = await fetch(request, "Event", id_of(request.object.get("event")), "event")
    require_organizer(request, event, "cancel its sessions")


@cloud.after_delete("Session")
async def announce_cancelled_session(request: Any) -> None:
    session = request.object
    events = await request.api.find("Event", where={"objectId": id_of(session.get("event"))}, master=True)
    if events:  # gone too when the whole event was deleted
        await notify_attendees(request, events[0], f"Session cancelled: {session.get('title')}.")


# --- feedback ------------------------------------------------------------------------------------------------

@cloud.before_save("Feedback", fields={"rating": {"required": True, "type": "Number", "options": [1, 2, 3, 4, 5],
                                                  "error": "rating must be a whole number from 1 to 5"}})
async def check_feedback(request: Any) -> None:
    """Once per user and session, from a confirmed attendee of the session's event."""
    feedback = request.object
    user = written_for_self(request, "You can give feedback only as yourself.")
    session = await fetch(request, "Session", id_of(feedback.get("session")), "session")
    attending = await request.api.first("Registration", where={
        "event": session["event"], "user": pointer("_User", user), "status": CONFIRMED}, master=True)
    if attending is None:
        raise CloudError(OPERATION_FORBIDDEN, "Only confirmed attendees of the event may rate its sessions.")
    # unique in the store (app.json): a second feedback, even at the same moment, is refused with 137
    feedback["key"] = f"{session['objectId']}:{user}"
    if await request.api.first("Feedback", where={"key": feedback["key"]}, master=True):
        raise CloudError(DUPLICATE_VALUE, "You already gave feedback on this session.")
    event = await fetch(request, "Event", id_of(session["event"]), "event")
    feedback["ACL"] = {user: {"read": True}}
    if organizer_of(event):
        feedback["ACL"][organizer_of(event)] = {"read": True}


# --- notifications -------------------------------------------------------------------------------------------

@cloud.before_save("Notification")
def check_notification(request: Any) -> None:
    """Created by the server only (app.json); their user may only mark them read."""
    if request.master or request.original is None:
        return
    for field in request.object:
        if field not in ("read", "updatedAt") and changed(request, field):
            raise CloudError("You can only mark a notification read.")


async def notify(request: Any, user_id: str | None, event: dict[str, Any], message: str) -> None:
    if user_id is None:
        return
    await request.api.create("Notification", {
        "user": pointer("_User", user_id), "event": pointer("Event", event["objectId"]), "message": message,
        "read": False, "ACL": {user_id: {"read": True, "write": True}}}, master=True)


async def notify_attendees(request: Any, event: dict[str, Any], message: str) -> None:
    confirmed = await request.api.find("Registration", where={"event": pointer("Event", event["objectId"]),
                                                              "status": CONFIRMED}, limit=10_000, master=True)
    users = [id_of(registration.get("user")) for registration in confirmed]
    for start in range(0, len(users), 25):  # a few at a time: a big event's attendees are told quickly
        await asyncio.gather(*(notify(request, user, event, message) for user in users[start:start + 25]))
