"""Interactive live video: the rules of the app, enforced on the server whatever the client sends.

Read top to bottom: users, video events, participants (join once, leave by deleting), reactions (EngagementLog),
rewards, the leaderboard. Permissions that need no code are in app.json: only the server writes Rewards,
ReactionCount and RewardSlot, nobody edits a Participant or an EngagementLog.

Reactions at rate: every event has one ReactionCount object whose counters (per reaction type, `total`,
`participants`) the server keeps exact with atomic increments. Viewers subscribe to it; its LiveQuery updates are
coalesced (at most one per viewer per 250 ms, carrying the latest counts), so a burst of reactions costs each
viewer a few frames a second, not one per reaction.

Rewards without farming: a reaction earns points only if it is the first of its user in the event in the current
REWARD_INTERVAL_SECONDS (a unique RewardSlot key decides, so concurrent requests cannot both win), and a user
earns at most EVENT_POINTS_CAP points per event. A user keeps at most one RewardSlot per event (the current
one): winning a new one deletes the older, and deleting an event deletes its slots. Reactions past the limit are
still stored and counted as reactions (a viewer tapping fast is still cheering); they just earn 0 `points` (the
answer of the create says so).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from livequery.cloud import Cloud, CloudError, changed, id_of, pointer

cloud = Cloud()
cloud.live_query_options("ReactionCount", coalesce_ms=250)

# Parse's error codes this app answers besides 141 (a CloudError without a code)
OBJECT_NOT_FOUND, OPERATION_FORBIDDEN, DUPLICATE_VALUE, VALIDATION_ERROR = 101, 119, 137, 142
HOST, VIEWER = "host", "viewer"
POINTS = {"like": 1, "heart": 1, "laugh": 1, "wow": 1, "clap": 1, "question": 2}
REACTIONS = tuple(POINTS)
REWARD_INTERVAL_SECONDS = 1.0
EVENT_POINTS_CAP = 50
LEADERBOARD_SIZE = 10
# The counters are kept in after-triggers (they count stored rows only); under a burst on a busy store an
# increment may queue behind others for a while, and abandoning it would lose a count: wait longer than the
# default after-trigger timeout.
COUNT_TIMEOUT_SECONDS = 120


# --- small helpers -------------------------------------------------------------------------------------------

def server_now() -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"__type": "Date", "iso": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"}


def caller_id(request: Any) -> str:
    if request.user is None:
        raise CloudError(OPERATION_FORBIDDEN, "Log in first.")
    return request.user["objectId"]


async def fetch(request: Any, class_name: str, object_id: str | None, what: str) -> dict[str, Any]:
    """The object, read with the master key (rules look at objects the caller may not see), or a refusal."""
    found = await request.api.first(class_name, where={"objectId": object_id}, master=True) if object_id else None
    if found is None:
        raise CloudError(OBJECT_NOT_FOUND, f"No such {what}.")
    return found


async def create_once(request: Any, class_name: str, body: dict[str, Any]) -> bool:
    """Create an object whose `key` is unique in the store (app.json): False if one with that key exists, also
    when two requests create it at the same moment (exactly one of them wins)."""
    try:
        await request.api.create(class_name, body, master=True)
    except Exception as error:
        if getattr(error, "code", None) == DUPLICATE_VALUE:
            return False
        raise
    return True


async def counter_of(request: Any, event_id: str) -> dict[str, Any] | None:
    return await request.api.first("ReactionCount", where={"event": pointer("VideoEvent", event_id)}, master=True)


async def count(request: Any, event_id: str, **amounts: int) -> None:
    """Atomic increments of the event's counters: concurrent writers never lose one."""
    counter = await counter_of(request, event_id)
    if counter is not None:
        await request.api.update("ReactionCount", counter["objectId"], {
            name: {"__op": "Increment", "amount": amount} for name, amount in amounts.items()}, master=True)


# --- users ---------------------------------------------------------------------------------------------------

@cloud.before_save("User")
def check_user(request: Any) -> None:
    """A new user is a viewer; only the master key makes a host (or changes anyone's role)."""
    user = request.object
    if request.master:
        user.setdefault("role", VIEWER)
        if user["role"] not in (HOST, VIEWER):
            raise CloudError(VALIDATION_ERROR, "role must be host or viewer")
        return
    if request.original is None:
        if user.get("role", VIEWER) != VIEWER:
            raise CloudError(OPERATION_FORBIDDEN, "Only the server makes hosts: sign up as a viewer.")
        user["role"] = VIEWER
    elif changed(request, "role"):
        raise CloudError(OPERATION_FORBIDDEN, "Only the server changes roles.")


# --- video events --------------------------------------------------------------------------------------------

@cloud.before_save("VideoEvent")
def check_video_event(request: Any) -> None:
    event = request.object
    if request.original is None:
        if not request.master:
            if (request.user or {}).get("role") != HOST:
                raise CloudError(OPERATION_FORBIDDEN, "Only hosts schedule video events.")
            event["host"] = pointer("_User", caller_id(request))
        host = id_of(event.get("host"))
        if host is None:
            raise CloudError(VALIDATION_ERROR, "host is required")
        event["ACL"] = {"*": {"read": True}, host: {"read": True, "write": True}}
    else:
        require_host(request, request.original, "edit it")
        if not request.master and (changed(request, "host") or changed(request, "ACL")):
            raise CloudError(OPERATION_FORBIDDEN, "An event's host and ACL are kept by the server.")
    url = event.get("streamUrl")
    if not (isinstance(url, str) and url.startswith(("https://", "http://", "rtmp://", "rtmps://"))):
        raise CloudError(VALIDATION_ERROR, "streamUrl must be an http(s) or rtmp(s) URL")


def require_host(request: Any, event: dict[str, Any], action: str) -> None:
    if not request.master and id_of(event.get("host")) != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, f"Only the event's host may {action}.")


@cloud.after_save("VideoEvent")
async def open_counters(request: Any) -> None:
    """Every event has one ReactionCount, public to read, written by the server only."""
    if request.original is not None:
        return
    event_id = request.object["objectId"]
    await request.api.create("ReactionCount", {
        "event": pointer("VideoEvent", event_id), "total": 0, "participants": 0,
        **{reaction: 0 for reaction in REACTIONS}, "ACL": {"*": {"read": True}}}, master=True)


@cloud.before_delete("VideoEvent")
def check_video_event_delete(request: Any) -> None:
    require_host(request, request.object, "delete it")


@cloud.after_delete("VideoEvent")
async def close_event(request: Any) -> None:
    """Its participants, counters and rate-limit slots go with it (reactions and rewards stay: they are
    history)."""
    event_ref = pointer("VideoEvent", request.object["objectId"])
    for class_name in ("Participant", "ReactionCount"):
        for row in await request.api.find(class_name, where={"event": event_ref}, limit=10_000, master=True):
            await request.api.delete(class_name, row["objectId"], master=True)
    await forget_slots(request, {"event": event_ref})


# --- participants --------------------------------------------------------------------------------------------

@cloud.before_save("Participant")
async def join(request: Any) -> None:
    """A user joins an event themself, once (app.json refuses updates: leaving is deleting)."""
    participant = request.object
    user = id_of(participant.get("user"))
    if user is None:
        raise CloudError(VALIDATION_ERROR, "user is required")
    if not request.master and user != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, "You can join only as yourself.")
    event = await fetch(request, "VideoEvent", id_of(participant.get("event")), "video event")
    participant["user"] = pointer("_User", user)
    participant["joinedAt"] = server_now()
    # once per user and event, also for two requests at the same moment: the key is unique in the store
    participant["key"] = f"{event['objectId']}:{user}"
    if await request.api.first("Participant", where={"key": participant["key"]}, master=True):
        raise CloudError(DUPLICATE_VALUE, "You already joined this event.")
    participant["ACL"] = {"*": {"read": True}, user: {"read": True, "write": True}}


@cloud.after_save("Participant", timeout=COUNT_TIMEOUT_SECONDS)
async def count_join(request: Any) -> None:
    if request.original is None:
        await count(request, id_of(request.object.get("event")) or "", participants=1)


@cloud.after_delete("Participant", timeout=COUNT_TIMEOUT_SECONDS)
async def count_leave(request: Any) -> None:
    await count(request, id_of(request.object.get("event")) or "", participants=-1)


# --- reactions -----------------------------------------------------------------------------------------------

@cloud.before_save("EngagementLog")
async def react(request: Any) -> None:
    """A reaction by a participant of the event, stamped with the server's clock; it may earn points."""
    log = request.object
    kind = log.get("engagementType")
    if kind not in POINTS:
        raise CloudError(VALIDATION_ERROR, f"engagementType must be one of {', '.join(REACTIONS)}")
    participant = await fetch(request, "Participant", id_of(log.get("participant")), "participant")
    event_id = id_of(participant.get("event"))
    if id_of(log.get("event")) not in (None, event_id):
        raise CloudError(VALIDATION_ERROR, "This participant belongs to another event.")
    user = id_of(participant.get("user"))
    if not request.master and user != caller_id(request):
        raise CloudError(OPERATION_FORBIDDEN, "Only the participant may react as themself: join the event first.")
    log["event"] = pointer("VideoEvent", event_id or "")
    log["engagementTime"] = server_now()  # whatever the client sent: rewards depend on it
    log["points"] = await reward(request, user or "", event_id or "", POINTS[kind])
    log["ACL"] = {"*": {"read": True}}


@cloud.after_save("EngagementLog", timeout=COUNT_TIMEOUT_SECONDS)
async def count_reaction(request: Any) -> None:
    """Counted after the row is stored: the counters equal the number of stored reactions."""
    await count(request, id_of(request.object.get("event")) or "", total=1, **{request.object["engagementType"]: 1})


async def reward(request: Any, user: str, event_id: str, points: int) -> int:
    """The points this reaction earns: 0 unless it is the user's first in this event in the current interval,
    and never past EVENT_POINTS_CAP for the event."""
    interval = int(time.time() // REWARD_INTERVAL_SECONDS)
    slot_key = f"{event_id}:{user}:{interval}"
    user_ref, event_ref = pointer("_User", user), pointer("VideoEvent", event_id)
    if not await create_once(request, "RewardSlot", {"key": slot_key, "user": user_ref, "event": event_ref}):
        return 0
    await forget_slots(request, {"user": user_ref, "event": event_ref, "key": {"$ne": slot_key}})
    key = f"{event_id}:{user}"
    row = await request.api.first("Rewards", where={"key": key}, master=True)
    if row is None:
        await create_once(request, "Rewards", {
            "key": key, "user": user_ref, "event": event_ref, "points": 0,
            "timestamp": server_now(), "ACL": {"*": {"read": True}}})
        row = await request.api.first("Rewards", where={"key": key}, master=True)
    updated = await request.api.update("Rewards", row["objectId"], {
        "points": {"__op": "Increment", "amount": points}, "timestamp": server_now()}, master=True)
    over = updated["points"] - EVENT_POINTS_CAP
    if over <= 0:
        return points
    taken_back = min(points, over)
    await request.api.update("Rewards", row["objectId"], {"points": {"__op": "Increment", "amount": -taken_back}},
                             master=True)
    return points - taken_back


async def forget_slots(request: Any, where: dict[str, Any]) -> None:
    """Delete the RewardSlots `where` matches: only the current interval's slot decides anything, so a user
    keeps at most one per event (the previous ones go when they win the next), and an event's go with it."""
    while True:
        slots = await request.api.find("RewardSlot", where=where, limit=1000, master=True)
        for slot in slots:
            try:
                await request.api.delete("RewardSlot", slot["objectId"], master=True)
            except Exception as error:
                if getattr(error, "code", None) != OBJECT_NOT_FOUND:  # a concurrent reaction deleted it first
                    raise
        if len(slots) < 1000:
            return


# --- leaderboard ---------------------------------------------------------------------------------------------

@cloud.define("leaderboard")
async def leaderboard(request: Any) -> list[dict[str, Any]]:
    """The top participants of an event by points: [{user, username, points}], best first."""
    event_id = request.params.get("eventId")
    if not isinstance(event_id, str):
        raise CloudError(VALIDATION_ERROR, "eventId is required")
    size = request.params.get("limit", LEADERBOARD_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
        raise CloudError(VALIDATION_ERROR, "limit must be a whole number from 1 to 100")
    await fetch(request, "VideoEvent", event_id, "video event")
    rows = await request.api.find("Rewards", where={"event": pointer("VideoEvent", event_id), "points": {"$gt": 0}},
                                  order="-points,timestamp", limit=size, master=True)
    ids = [id_of(row["user"]) for row in rows]
    users = await request.api.find("_User", where={"objectId": {"$in": ids}}, limit=len(ids) or 1, master=True)
    names = {user["objectId"]: user.get("username") for user in users}
    return [{"user": id_of(row["user"]), "username": names.get(id_of(row["user"])), "points": row["points"]}
            for row in rows]
