"""A randomized check that LiveQuery shows every subscriber exactly what they may read, and nothing more.

Users, roles, random ACLs, role membership and class-level permission changes, interleaved with writes;
every principal (anonymous included) holds several subscriptions. The oracle is REST: after every operation each
principal's finds (with each subscription's `where` and `keys`) say what they may read. From two such
observations the events a write must produce follow (create, enter with or without `original`, update, leave with
the last readable state, delete); at the end a fence makes sure every frame has arrived, and each subscription's
events must equal the expected ones, field by field. Run on one process and on two processes sharing Redis.

The operations run for BUDGET seconds; the seed is printed (and can be set with LIVEQUERY_RANDOM_SEED).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import connect

from benchmarks.server import APP_ID as BENCH_APP_ID
from benchmarks.server import MASTER_KEY as BENCH_MASTER_KEY
from benchmarks.server import running_server
from tests.livequery.conftest import APP_ID, MASTER_KEY, LiveClient, LiveServer

BUDGET = 3.0  # seconds of random operations per run
USERS = 4
# (where, keys) of every principal's subscriptions, requestIds 1, 2, 3
SUBSCRIPTIONS: list[tuple[dict[str, Any], list[str] | None]] = [
    ({}, None), ({"room": "r0"}, None), ({"n": {"$gte": 5}}, ["room", "n"])]
FENCE_REQUEST = 9
BASE_KEYS = ("objectId", "createdAt", "updatedAt", "ACL")
Observation = dict[tuple[int, int], dict[str, dict[str, Any]]]  # (principal, subscription or 0 = any) -> docs


class Cluster:
    """REST over one or several server processes of one app (master writes go to a random one)."""

    def __init__(self, http: aiohttp.ClientSession, rests: list[str], app_id: str, master_key: str,
                 rng: random.Random) -> None:
        self.http, self.rests, self.app_id, self.master_key, self.rng = http, rests, app_id, master_key, rng

    async def call(self, method: str, path: str, body: Any = None, *, session: str | None = None,
                   master: bool = False, params: dict[str, Any] | None = None, server: int | None = None
                   ) -> tuple[int, Any]:
        headers = {"X-Parse-Application-Id": self.app_id, "Content-Type": "application/json"}
        if session:
            headers["X-Parse-Session-Token"] = session
        if master:
            headers["X-Parse-Master-Key"] = self.master_key
        base = self.rests[self.rng.randrange(len(self.rests)) if server is None else server]
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (params or {}).items()}
        async with self.http.request(method, base + path, headers=headers, params=query,
                                     data=json.dumps(body) if body is not None else None) as reply:
            return reply.status, await reply.json()

    async def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, payload = await self.call(method, path, body, **kw)
        assert status < 300, f"{method} {path} -> {status} {payload}"
        return payload


class Scenario:
    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.cluster, self.rng = cluster, rng
        self.users: list[dict[str, Any]] = []
        self.roles: dict[str, str] = {}  # name -> objectId
        self.members: dict[str, set[str]] = {}
        self.objects: list[str] = []
        self.expected: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.sockets: list[LiveClient] = []  # principal i's socket, on process i % processes
        self.frames: list[list[dict[str, Any]]] = []  # what each socket received before the last fence
        self.operations = 0

    @property
    def tokens(self) -> list[str | None]:
        """Principal i: user i, and the last one anonymous."""
        return [u["sessionToken"] for u in self.users] + [None]

    async def set_up(self) -> None:
        c = self.cluster
        for n in range(USERS):
            self.users.append(await c.ok("POST", "/users", {"username": f"user{n}", "password": "pw"}))
        for name in ("R0", "R1"):
            members = {u["objectId"] for u in self.users if self.rng.random() < 0.5}
            body: dict[str, Any] = {"name": name, "ACL": {"*": {"read": True}}}
            if members:
                body["users"] = {"__op": "AddRelation", "objects": [_user(m) for m in sorted(members)]}
            role = await c.ok("POST", "/roles", body, master=True)
            self.roles[name], self.members[name] = role["objectId"], members
        await c.ok("POST", "/schemas/Doc", {"fields": {"room": {"type": "String"}, "n": {"type": "Number"},
                                                       "secret": {"type": "String"}},
                                            "classLevelPermissions": self.clp(0, 0)}, master=True)
        for _ in range(3):
            await self.create()

    def clp(self, find: int, protect: int) -> dict[str, Any]:
        reads = [{"*": True}, {"requiresAuthentication": True}, {"role:R0": True},
                 {"role:R1": True, self.users[0]["objectId"]: True}][find]
        hidden = [{"*": ["secret"]}, {"*": ["secret"], "role:R0": []}, {"*": []}][protect]
        return {"find": reads, "get": reads, "count": reads, "create": {"*": True}, "update": {"*": True},
                "delete": {"*": True}, "addField": {"*": True}, "protectedFields": hidden}

    def random_acl(self) -> dict[str, Any]:
        user = self.rng.choice(self.users)["objectId"]
        return self.rng.choice([{"*": {"read": True}}, {user: {"read": True}}, {"role:R0": {"read": True}},
                                {"role:R1": {"read": True}, user: {"read": True}}, {}])

    def random_fields(self) -> dict[str, Any]:
        fields = {"room": self.rng.choice(["r0", "r1"]), "n": self.rng.randrange(10),
                  "secret": f"s{self.rng.randrange(100)}", "ACL": self.random_acl()}
        return {k: v for k, v in fields.items() if self.rng.random() < 0.6} or {"n": self.rng.randrange(10)}

    async def create(self) -> str:
        fields = {"room": "r0", "n": 5, "secret": "s", "ACL": self.random_acl(), **self.random_fields()}
        created = await self.cluster.ok("POST", "/classes/Doc", fields, master=True)
        self.objects.append(created["objectId"])
        return str(created["objectId"])

    async def everywhere(self) -> None:
        """Wait until a role or CLP change has reached every process before REST is asked about it.

        The process that made the change applies it at once; another process applies it when the change reaches
        it on the bus, and before it delivers any later event (the bus is ordered). Until then a REST read through
        that other process may still answer with the old roles or CLP: the server promises LiveQuery events that
        follow the change from the next write on, not that every process's REST reads follow it at the instant
        the change's response arrives. So a fence: once a socket of every process has its create event, every
        process has applied the change. The frames before it are kept for the final check."""
        fence = await self.cluster.ok("POST", "/classes/Fence", {"ACL": {"*": {"read": True}}}, master=True)
        for socket_, frames in zip(self.sockets, self.frames):
            frames.extend(await socket_.frames_before(fence["objectId"]))

    async def observe(self) -> Observation:
        """What every principal may read now: per subscription (its where and keys), and any object (0)."""
        ids = {"$in": self.objects}

        async def find(principal: int, where: dict[str, Any], keys: list[str] | None) -> dict[str, dict]:
            params: dict[str, Any] = {"where": {**where, "objectId": ids}, "limit": 1000}
            if keys:
                params["keys"] = ",".join(keys)
            status, body = await self.cluster.call("GET", "/classes/Doc", params=params,
                                                   session=self.tokens[principal])
            assert status == 200 or body.get("code") in (101, 119), body
            return {d["objectId"]: d for d in body.get("results", [])} if status == 200 else {}

        queries = {(p, s + 1): find(p, where, keys) for p in range(len(self.tokens))
                   for s, (where, keys) in enumerate(SUBSCRIPTIONS)}
        queries.update({(p, 0): find(p, {}, None) for p in range(len(self.tokens))})
        results = await asyncio.gather(*queries.values())
        return dict(zip(queries, results))

    async def step(self, before: Observation) -> Observation:
        """One random operation; records the events it must produce; returns the observation after it."""
        self.operations += 1
        roll = self.rng.random()
        c = self.cluster
        if roll < 0.12:  # a role gains or loses a member
            name = self.rng.choice(sorted(self.roles))
            user = self.rng.choice(self.users)["objectId"]
            op = "RemoveRelation" if user in self.members[name] else "AddRelation"
            await c.ok("PUT", f"/roles/{self.roles[name]}", {"users": {"__op": op, "objects": [_user(user)]}},
                       master=True)
            self.members[name] ^= {user}
            await self.everywhere()
            return await self.observe()
        if roll < 0.2:  # the class's permissions change
            clp = self.clp(self.rng.randrange(4), self.rng.randrange(3))
            await c.ok("PUT", "/schemas/Doc", {"classLevelPermissions": clp}, master=True)
            await self.everywhere()
            return await self.observe()
        if roll < 0.35 or len(self.objects) < 3:
            kind, object_id = "create", await self.create()
        elif roll < 0.45 and len(self.objects) > 3:
            kind, object_id = "delete", self.rng.choice(self.objects)
            await c.ok("DELETE", f"/classes/Doc/{object_id}", master=True)
            self.objects.remove(object_id)
        else:
            kind, object_id = "update", self.rng.choice(self.objects)
            await c.ok("PUT", f"/classes/Doc/{object_id}", self.random_fields(), master=True)
        after = await self.observe() if kind != "delete" else before
        for (principal, sub) in after:
            if sub:
                self.expect(principal, sub, kind, object_id, before, after)
        return after

    def expect(self, principal: int, sub: int, kind: str, object_id: str, before: Observation,
               after: Observation) -> None:
        keys = SUBSCRIPTIONS[sub - 1][1]
        was, now = before[(principal, sub)].get(object_id), after[(principal, sub)].get(object_id)
        readable_before, readable_now = before[(principal, 0)].get(object_id), after[(principal, 0)].get(object_id)
        event: dict[str, Any] | None = None
        if kind == "create" and now:
            event = {"op": "create", "object": now}
        elif kind == "delete" and was:
            event = {"op": "delete", "object": was}
        elif kind == "update" and was and now:
            event = {"op": "update", "object": now, "original": was}
        elif kind == "update" and was:  # the last state they could read, when they may no longer read it
            event = {"op": "leave", "object": _project(readable_now, keys) if readable_now else was, "original": was}
        elif kind == "update" and now:  # no `original` when they could not read it before
            event = {"op": "enter", "object": now}
            if readable_before:
                event["original"] = _project(readable_before, keys)
        if event is not None:
            self.expected.setdefault((principal, sub), []).append(event)


def _user(object_id: str) -> dict[str, str]:
    return {"__type": "Pointer", "className": "_User", "objectId": object_id}


def _project(doc: dict[str, Any], keys: list[str] | None) -> dict[str, Any]:
    return doc if keys is None else {k: v for k, v in doc.items() if k in BASE_KEYS or k in keys}


def _as_rest(state: dict[str, Any]) -> dict[str, Any]:
    assert state.pop("className") == "Doc"
    return state


async def run_scenario(rests: list[str], app_id: str, master_key: str) -> tuple[int, int]:
    """Returns (operations, events checked)."""
    seed = int(os.environ.get("LIVEQUERY_RANDOM_SEED", random.randrange(2**32)))
    print(f"randomized visibility: seed {seed}")
    rng = random.Random(seed)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        scenario = Scenario(Cluster(http, rests, app_id, master_key, rng), rng)
        await scenario.set_up()
        sockets = scenario.sockets
        for principal, token in enumerate(scenario.tokens):  # spread over the processes
            socket_ = LiveClient(await connect(rests[principal % len(rests)].replace("http://", "ws://"),
                                               open_timeout=5))
            await socket_.send({"op": "connect", "applicationId": app_id,
                                **({"sessionToken": token} if token else {})})
            assert (await socket_.receive())["op"] == "connected"
            for request_id, (where, keys) in enumerate(SUBSCRIPTIONS, start=1):
                extra = {"query_extra": {"keys": keys}} if keys else {}
                assert (await socket_.subscribe(request_id, "Doc", where, **extra))["op"] == "subscribed"
            assert (await socket_.subscribe(FENCE_REQUEST, "Fence", {}))["op"] == "subscribed"
            sockets.append(socket_)
            scenario.frames.append([])
        observed = await scenario.observe()
        deadline = time.monotonic() + BUDGET
        while time.monotonic() < deadline:
            observed = await scenario.step(observed)
        fence = await scenario.cluster.ok("POST", "/classes/Fence", {"ACL": {"*": {"read": True}}}, master=True)
        checked = 0
        for principal, socket_ in enumerate(sockets):
            frames = scenario.frames[principal] + await socket_.frames_before(fence["objectId"])
            for sub in range(1, len(SUBSCRIPTIONS) + 1):
                got = [{k: _as_rest(v) if k in ("object", "original") else v for k, v in frame.items()
                        if k in ("op", "object", "original")}
                       for frame in frames if frame.get("requestId") == sub]
                want = scenario.expected.get((principal, sub), [])
                assert got == want, f"seed {seed}: principal {principal}, subscription {sub}"
                checked += len(got)
            assert all(frame.get("requestId") in range(1, len(SUBSCRIPTIONS) + 1) for frame in frames), frames
            await socket_.close()
    print(f"randomized visibility: {scenario.operations} operations, {checked} events checked on "
          f"{len(rests)} process(es)")
    assert checked > 0
    return scenario.operations, checked


async def test_random_acl_role_and_clp_changes_never_show_a_subscriber_more_than_rest(
        live_server: LiveServer) -> None:
    await asyncio.wait_for(run_scenario([live_server.rest], APP_ID, MASTER_KEY), 60 + BUDGET)


def test_the_same_holds_across_two_processes_sharing_redis(redis_server: str, tmp_path: Path) -> None:
    shared = ["--database-uri", f"sqlite:///{tmp_path / 'shared.db'}", "--redis-url", redis_server]
    with running_server(*shared) as first, running_server(*shared) as second:
        asyncio.run(asyncio.wait_for(run_scenario([first, second], BENCH_APP_ID, BENCH_MASTER_KEY), 60 + BUDGET))
