"""Appointment booking: the rules of the app, enforced on the server whatever the client sends.

Read top to bottom: profiles (the role), services, calendars (availability), appointments (booking, the overlap
guard, the status flow), notifications, calendar sync (CalendarSync rows and the private iCalendar feed).
Permissions that need no code are in app.json: services and calendars are public; appointments, notifications and
CalendarSync rows need a logged-in user; only the server creates notifications and CalendarSync rows; nobody
deletes an appointment (cancel it). ACLs are set here, never trusted from the client.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from examples.appointment_booking import availability, ics
from examples.appointment_booking.availability import AvailabilityError
from livequery.cloud import Cloud, CloudError, HttpResponse, changed, id_of, pointer

cloud = Cloud()

# Parse's error codes this app answers besides 141 (a CloudError without a code)
OBJECT_NOT_FOUND, OPERATION_FORBIDDEN, DUPLICATE_VALUE, VALIDATION_ERROR = 101, 119, 137, 142
CUSTOMER, PROVIDER = "customer", "provider"
PENDING, CONFIRMED, COMPLETED, CANCELLED = "pending", "confirmed", "completed", "cancelled"
PUBLIC = {"*": {"read": True}}
FEED_PATH = "/cloud/calendar/{token}.ics"


# --- small helpers -------------------------------------------------------------------------------------------

def parse_date(moment: datetime) -> dict[str, str]:
    utc = moment.astimezone(timezone.utc)
    return {"__type": "Date", "iso": utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"}


def shown(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%a %d %b %H:%M UTC")


def caller_id(request: Any) -> str:
    if request.user is None:
        raise CloudError(OPERATION_FORBIDDEN, "Log in first.")
    return request.user["objectId"]


def require_role(request: Any, role: str, refusal: str) -> str:
    user = caller_id(request)
    if request.user.get("role") != role:
        raise CloudError(OPERATION_FORBIDDEN, refusal)
    return user


def keep(request: Any, fields: tuple[str, ...], why: str) -> None:
    """Refuses a client's change of a field the server keeps."""
    if request.master:
        return
    for field in fields:
        if changed(request, field):
            raise CloudError(f"{field} {why}")


async def fetch(request: Any, class_name: str, object_id: str | None, what: str) -> dict[str, Any]:
    """The object, read with the master key (rules look at objects the caller may not see), or a refusal."""
    found = await request.api.first(class_name, where={"objectId": object_id}, master=True) if object_id else None
    if found is None:
        raise CloudError(OBJECT_NOT_FOUND, f"No such {what}.")
    return found


def starts(appointment: dict[str, Any]) -> datetime:
    return availability.instant(appointment.get("appointmentDate"), "appointmentDate")


def length(appointment: dict[str, Any]) -> timedelta:
    return timedelta(minutes=appointment.get("duration", 0))


# --- profiles ------------------------------------------------------------------------------------------------
# A user reads and writes only their own profile: Parse's default ACL on _User (the owner only) does that.

@cloud.before_save("User")
def check_role(request: Any) -> None:
    if request.original is None:
        if request.object.get("role") not in (CUSTOMER, PROVIDER):
            raise CloudError(VALIDATION_ERROR, "role must be 'customer' or 'provider', chosen at sign-up.")
    else:
        keep(request, ("role",), "is chosen at sign-up and cannot be changed.")


# --- services ------------------------------------------------------------------------------------------------

def claim_for_provider(request: Any, refusal: str) -> str:
    """A new service or calendar belongs to the calling provider (the master key names one): public, and theirs
    to write. Returns the provider's id."""
    provider = id_of(request.object.get("provider")) if request.master else \
        require_role(request, PROVIDER, refusal)
    if provider is None:
        raise CloudError(VALIDATION_ERROR, "provider is required")
    request.object["provider"] = pointer("_User", provider)
    request.object["ACL"] = {**PUBLIC, provider: {"read": True, "write": True}}
    return provider


def check_provider_edit(request: Any, what: str, kept: tuple[str, ...]) -> None:
    if not request.master and id_of(request.original.get("provider")) != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, f"Only the {what}'s provider may edit it.")
    keep(request, kept, "is kept by the server.")


@cloud.before_save("Service")
def check_service(request: Any) -> None:
    if request.original is None:
        claim_for_provider(request, "Only providers offer services.")
    else:
        check_provider_edit(request, "service", ("provider", "ACL"))
    try:
        availability.duration_of(request.object.get("duration"))
    except AvailabilityError as error:
        raise CloudError(VALIDATION_ERROR, str(error)) from None


# --- calendars -----------------------------------------------------------------------------------------------

@cloud.before_save("Calendar")
async def check_calendar(request: Any) -> None:
    """One calendar per provider (`owner` is unique in the store), edited only by that provider."""
    calendar = request.object
    if request.original is None:
        provider = claim_for_provider(request, "Only providers have a calendar.")
        if await request.api.first("Calendar", where={"owner": provider}, master=True):
            raise CloudError(DUPLICATE_VALUE, "You already have a calendar: edit it.")
        calendar["owner"] = provider
    else:
        check_provider_edit(request, "calendar", ("provider", "owner", "ACL"))
    calendar.setdefault("availability", [])
    try:
        availability.check_availability(calendar["availability"])
    except AvailabilityError as error:
        raise CloudError(str(error)) from None


# --- appointments: booking -----------------------------------------------------------------------------------

@cloud.before_save("Appointment")
async def check_appointment(request: Any) -> None:
    if request.original is None:
        await book(request)
    else:
        check_move(request)


async def book(request: Any) -> None:
    """A customer books a provider's service; the server sets customer (and customerName, for the provider's
    dashboard: the provider cannot read the customer's profile), provider, duration, status and ACL."""
    appointment = request.object
    if request.master:
        customer = id_of(appointment.get("customer"))
        if customer is None:
            raise CloudError(VALIDATION_ERROR, "customer is required")
        customer_name = (await fetch(request, "_User", customer, "customer")).get("username")
    else:
        customer_name = request.user.get("username")
        customer = require_role(request, CUSTOMER, "Only customers book appointments.")
        if appointment.get("customer") is not None and id_of(appointment["customer"]) != customer:
            raise CloudError(OPERATION_FORBIDDEN, "You can book only for yourself.")
    service = await fetch(request, "Service", id_of(appointment.get("service")), "service")
    provider = id_of(service["provider"])
    if appointment.get("appointmentDate") is None:
        raise CloudError(VALIDATION_ERROR, "appointmentDate is required")
    try:
        start = starts(appointment)
        span = availability.check_timing(start, service.get("duration"))
    except AvailabilityError as error:
        raise CloudError(str(error)) from None
    if not request.master:
        if start <= datetime.now(timezone.utc):
            raise CloudError("Appointments are booked ahead: pick a time in the future.")
        await check_available(request, provider, start, span)
    await take_slots(request, availability.slot_keys(provider, start, span))
    appointment.update({"customer": pointer("_User", customer), "customerName": customer_name,
                        "provider": pointer("_User", provider),
                        "duration": span // timedelta(minutes=1), "status": appointment.get("status", PENDING)
                        if request.master else PENDING,
                        "ACL": {customer: {"read": True, "write": True}, provider: {"read": True, "write": True}}})


async def check_available(request: Any, provider: str, start: datetime, span: timedelta) -> None:
    calendar = await request.api.first("Calendar", where={"owner": provider}, master=True)
    if calendar is None:
        raise CloudError("The provider has not published their availability yet.")
    why = availability.refusal(calendar.get("availability") or [], start, span)
    if why:
        raise CloudError(why)


async def take_slots(request: Any, keys: list[str]) -> None:
    """The overlap guard: one SlotKey row per provider and 15-minute slot, its `key` unique in the store
    (app.json), so of two bookings that share a slot exactly one creates its row, also at the same moment and on
    any store; the other gives back the slots it took and is refused with 137."""
    taken: list[str] = []
    for key in keys:
        try:
            row = await request.api.create("SlotKey", {"key": key}, master=True)
        except Exception as error:
            await give_back(request, taken)
            if getattr(error, "code", None) == DUPLICATE_VALUE:
                raise CloudError(DUPLICATE_VALUE, "That time is already booked: pick another slot.") from None
            raise
        taken.append(row["objectId"])


async def give_back(request: Any, row_ids: list[str]) -> None:
    for row_id in row_ids:
        await request.api.delete("SlotKey", row_id, master=True)


async def free_slots(request: Any, appointment: dict[str, Any]) -> None:
    keys = availability.slot_keys(id_of(appointment["provider"]), starts(appointment), length(appointment))
    rows = await request.api.find("SlotKey", where={"key": {"$in": keys}}, limit=len(keys), master=True)
    await give_back(request, [row["objectId"] for row in rows])


# --- appointments: the status flow ---------------------------------------------------------------------------

def check_move(request: Any) -> None:
    """pending -> confirmed (provider) -> completed (provider, once started); cancelled by either party before
    the start. Nothing else changes."""
    if request.master:
        return
    keep(request, ("service", "customer", "customerName", "provider", "appointmentDate", "duration", "ACL"),
         "cannot be changed: cancel the appointment and book again.")
    before, after = request.original.get("status"), request.object.get("status")
    if after == before:
        return
    caller = caller_id(request)
    is_provider = caller == id_of(request.original.get("provider"))
    started = starts(request.original) <= datetime.now(timezone.utc)
    if before in (COMPLETED, CANCELLED):
        raise CloudError(f"This appointment is {before}; it cannot change any more.")
    if (before, after) == (PENDING, CONFIRMED):
        if not is_provider:
            raise CloudError(OPERATION_FORBIDDEN, "Only the provider confirms an appointment.")
        if started:
            raise CloudError("This appointment has already started; it can no longer be confirmed.")
    elif (before, after) == (CONFIRMED, COMPLETED):
        if not is_provider:
            raise CloudError(OPERATION_FORBIDDEN, "Only the provider completes an appointment.")
        if not started:
            raise CloudError("An appointment is completed only once it has started.")
    elif after == CANCELLED:
        if started:
            raise CloudError("An appointment can be cancelled only before it starts.")
    else:
        raise CloudError(f"An appointment cannot go from {before} to {after}.")


@cloud.after_save("Appointment")
async def announce_appointment(request: Any) -> None:
    """The other party hears of every change (both of them when the master key made it); a cancellation frees
    its slots; a new appointment gets its CalendarSync row."""
    appointment, before = request.object, request.original
    if before is not None and appointment.get("status") == before.get("status"):
        return
    service = await fetch(request, "Service", id_of(appointment["service"]), "service")
    what = f"{service.get('name')} on {shown(starts(appointment))}"
    status = appointment.get("status")
    if before is None:
        await request.api.create("CalendarSync", {
            "appointment": pointer("Appointment", appointment["objectId"]),
            "externalId": f"{appointment['objectId']}@appointment-booking.livequery",
            "ACL": {user: {"read": True} for user in parties(appointment)}}, master=True)
        message = f"New booking: {what}."
    else:
        if status == CANCELLED:
            await free_slots(request, appointment)
        message = f"Appointment {status}: {what}."
    caller = None if request.master else id_of(request.user)
    for user in parties(appointment):
        if user != caller:
            await notify(request, user, appointment, message)


def parties(appointment: dict[str, Any]) -> list[str]:
    return [id_of(appointment["customer"]), id_of(appointment["provider"])]


# --- notifications -------------------------------------------------------------------------------------------

@cloud.before_save("Notification")
def check_notification(request: Any) -> None:
    """Created by the server only (app.json); their user may only mark them read."""
    if request.master or request.original is None:
        return
    for field in request.object:
        if field not in ("read", "updatedAt") and changed(request, field):
            raise CloudError("You can only mark a notification read.")


@cloud.after_find("Notification")
async def mark_read(request: Any) -> None:
    """Reading one notification (a get) marks it read for its user."""
    if not request.is_get or request.master or request.user is None:
        return
    for note in request.objects or []:
        if note.get("read") is False and id_of(note.get("user")) == request.user["objectId"]:
            await request.api.update("Notification", note["objectId"], {"read": True}, master=True)
            note["read"] = True


async def notify(request: Any, user_id: str, appointment: dict[str, Any], message: str) -> None:
    await request.api.create("Notification", {
        "user": pointer("_User", user_id), "appointment": pointer("Appointment", appointment["objectId"]),
        "message": message, "read": False, "ACL": {user_id: {"read": True, "write": True}}}, master=True)


# --- calendar sync -------------------------------------------------------------------------------------------

@cloud.define("calendarFeed", require_user=True)
async def calendar_feed(request: Any) -> dict[str, str]:
    """The caller's private feed URL (made on first use). Anyone with the URL reads the feed: keep it secret."""
    user = caller_id(request)
    feed = await request.api.first("CalendarFeed", where={"owner": user}, master=True)
    if feed is None:
        feed = await request.api.create("CalendarFeed", {"owner": user, "token": secrets.token_urlsafe(24)},
                                        master=True)
    return feed_answer(request, feed["token"])


@cloud.define("revokeCalendarFeed", require_user=True)
async def revoke_calendar_feed(request: Any) -> dict[str, str]:
    """A new secret: the old URL answers 404 from now on; the answer is the new URL."""
    user = caller_id(request)
    token = secrets.token_urlsafe(24)
    feed = await request.api.first("CalendarFeed", where={"owner": user}, master=True)
    if feed is None:
        await request.api.create("CalendarFeed", {"owner": user, "token": token}, master=True)
    else:
        await request.api.update("CalendarFeed", feed["objectId"], {"token": token}, master=True)
    return feed_answer(request, token)


def feed_answer(request: Any, token: str) -> dict[str, str]:
    path = FEED_PATH.format(token=token)
    host = request.headers.get("host")
    scheme = request.headers.get("x-forwarded-proto", "http")
    return {"path": path, "url": f"{scheme}://{host}{path}" if host else path}


@cloud.route("GET", "/calendar/{token}.ics")
async def calendar_ics(request: Any) -> HttpResponse:
    """The feed: the owner's appointments that are not cancelled, as customer or as provider."""
    feed = await request.api.first("CalendarFeed", where={"token": request.path_params["token"]}, master=True)
    if feed is None:
        raise CloudError(OBJECT_NOT_FOUND, "No such calendar feed (it may have been revoked).")
    me = pointer("_User", feed["owner"])
    appointments = await request.api.find("Appointment", where={
        "$or": [{"customer": me}, {"provider": me}], "status": {"$ne": CANCELLED}},
        order="appointmentDate", limit=1000, master=True)
    events = await feed_events(request, appointments)
    body = ics.render("Appointments", events, datetime.now(timezone.utc))
    return HttpResponse(body, content_type="text/calendar; charset=utf-8",
                        headers={"Cache-Control": "no-store"})


async def feed_events(request: Any, appointments: list[dict[str, Any]]) -> list[ics.FeedEvent]:
    if not appointments:
        return []
    ids = [pointer("Appointment", a["objectId"]) for a in appointments]
    syncs = await request.api.find("CalendarSync", where={"appointment": {"$in": ids}}, limit=len(ids),
                                   master=True)
    uid = {id_of(sync["appointment"]): sync["externalId"] for sync in syncs}
    service_ids = list({id_of(a["service"]) for a in appointments})
    services = {s["objectId"]: s for s in await request.api.find(
        "Service", where={"objectId": {"$in": service_ids}}, limit=len(service_ids), master=True)}
    events = []
    for appointment in appointments:
        if appointment["objectId"] not in uid:
            continue
        service = services.get(id_of(appointment["service"]), {})
        start = starts(appointment)
        events.append(ics.FeedEvent(
            uid=uid[appointment["objectId"]], start=start, end=start + length(appointment),
            summary=str(service.get("name", "Appointment")), description=str(service.get("description", "")),
            status=appointment.get("status", PENDING),
            modified=availability.instant(appointment["updatedAt"], "updatedAt")))
    return events
