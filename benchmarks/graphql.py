"""GraphQL next to REST: queries/s for a 20-row typed query with one pointer field, the same rows over REST with
`include`, at the same concurrency. Prints one JSON object.

Both run against one server process on a free loopback port; the load client (aiohttp) shares the machine, so
compare the two figures, not absolutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aiohttp

from benchmarks.rest import HEADERS, timed_requests
from benchmarks.server import MASTER_KEY, running_server

QUERY = """query Page($room: String!) { benchItems(where: { room: { equalTo: $room } }, order: [score_DESC], first: 20)
  { edges { node { objectId score room owner { objectId name } } } } }"""


async def seed(session: aiohttp.ClientSession, url: str, objects: int, owners: int) -> None:
    master = {**HEADERS, "X-Parse-Master-Key": MASTER_KEY}
    owner_ids: list[str] = []
    for i in range(owners):
        async with session.post(f"{url}/classes/BenchOwner", data=json.dumps({"name": f"owner{i}"}),
                                headers=master) as reply:
            owner_ids.append((await reply.json())["objectId"])
    batch: list[dict[str, Any]] = []
    for i in range(objects):
        owner = {"__type": "Pointer", "className": "BenchOwner", "objectId": owner_ids[i % owners]}
        batch.append({"method": "POST", "path": "/parse/classes/BenchItem",
                      "body": {"room": f"room{i % 50}", "score": (i * 7919) % 10_000, "owner": owner}})
        if len(batch) == 500 or i == objects - 1:
            async with session.post(f"{url}/batch", data=json.dumps({"requests": batch}), headers=master) as reply:
                await reply.read()
            batch = []


async def run(url: str, objects: int, queries: int, concurrency: int) -> dict[str, Any]:
    graphql_url = url.rsplit("/parse", 1)[0] + "/graphql"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as session:
        await seed(session, url, objects, owners=20)

        def graphql(i: int) -> tuple[str, str, Any]:
            return ("POST", graphql_url, {"query": QUERY, "variables": {"room": f"room{i % 50}"}})

        def rest(i: int) -> tuple[str, str, Any]:
            where = json.dumps({"room": f"room{i % 50}"})
            return ("GET", f"{url}/classes/BenchItem?where={where}&order=-score&limit=20&include=owner"
                           "&keys=objectId,score,room,owner.objectId,owner.name", None)

        async with session.post(graphql_url, data=json.dumps(graphql(0)[2])) as reply:
            sample = await reply.json()
        rows = len(sample["data"]["benchItems"]["edges"])
        rest_stats = await timed_requests(session, rest, queries, concurrency)
        graphql_stats = await timed_requests(session, graphql, queries, concurrency)
    return {"graphql": {**graphql_stats, "rows_per_query": rows}, "rest": rest_stats, "class_size": objects,
            "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-uri", default="")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    extra = ["--database-uri", args.database_uri] if args.database_uri else []
    with running_server(*extra) as url:
        result = asyncio.run(run(url, args.objects, args.queries, args.concurrency))
    result["store"] = args.database_uri.split(":", 1)[0] if args.database_uri else "sqlite"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
