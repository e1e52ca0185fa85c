"""`/metrics` follows the LiveQuery hub: clients, subscriptions per class, events received and delivered, the
fan-out latency of each delivered event and the store's operations."""
from __future__ import annotations

import asyncio
import gc
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.livequery.conftest import MASTER_KEY, LiveServer


async def _scrape(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with server.http.get(f"http://127.0.0.1:{server.port}/metrics",
                               headers={"X-Parse-Master-Key": MASTER_KEY}) as reply:
        assert reply.status == 200
        text = await reply.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_clients_subscriptions_and_events(live_server: LiveServer) -> None:
    idle = await _scrape(live_server)
    watchers = [await live_server.client() for _ in range(2)]
    for number, watcher in enumerate(watchers):
        assert (await watcher.receive())["op"] == "connected"
        assert (await watcher.subscribe(number + 1, "Message", {"room": "a"}))["op"] == "subscribed"
    other = await live_server.client()
    assert (await other.receive())["op"] == "connected"
    assert (await other.subscribe(1, "Presence", {}))["op"] == "subscribed"

    await live_server.call("POST", "/classes/Message", {"room": "a", "text": "hi"})
    for watcher in watchers:
        assert (await watcher.receive())["op"] == "create"
    busy = await _scrape(live_server)

    assert _value(busy, "livequery_clients") == _value(idle, "livequery_clients") + 3
    assert _value(busy, "livequery_subscriptions", **{"class": "Message"}) == 2
    assert _value(busy, "livequery_subscriptions", **{"class": "Presence"}) == 1
    assert _value(busy, "livequery_events_received_total") == _value(idle, "livequery_events_received_total") + 1
    assert _value(busy, "livequery_events_delivered_total") == _value(idle, "livequery_events_delivered_total") + 2
    assert _value(busy, "livequery_slow_clients_closed_total") == 0
    # one event delivered: one fan-out latency, one store insert at least; one process: no bus lag to measure
    assert _value(busy, "livequery_fanout_latency_seconds_count") == \
        _value(idle, "livequery_fanout_latency_seconds_count") + 1
    assert _value(busy, "livequery_fanout_latency_seconds_bucket", le="+Inf") == \
        _value(busy, "livequery_fanout_latency_seconds_count")
    assert _value(busy, "livequery_store_operation_duration_seconds_count", operation="insert") >= \
        _value(idle, "livequery_store_operation_duration_seconds_count", operation="insert") + 1
    assert _value(busy, "livequery_bus_lag_seconds_count") == 0

    for client in (*watchers, other):
        await client.close()
    for _ in range(100):  # the server notices the closes as it reads them
        after = await _scrape(live_server)
        if _value(after, "livequery_clients") == _value(idle, "livequery_clients"):
            break
        await asyncio.sleep(0.05)
    assert _value(after, "livequery_subscriptions", **{"class": "Message"}) == 0
    assert _value(after, "livequery_clients") == _value(idle, "livequery_clients")


async def test_full_garbage_collections_are_counted_and_timed(live_server: LiveServer) -> None:
    """A full collection holds the event loop for as long as it walks the heap: operators see how often and how
    long (the server runs in this test's process, so a collection here is one of the server's)."""
    before = await _scrape(live_server)
    gc.collect()
    gc.collect()
    after = await _scrape(live_server)
    assert _value(after, "livequery_gc_full_collections_total") >= \
        _value(before, "livequery_gc_full_collections_total") + 2
    assert _value(after, "livequery_gc_full_pause_seconds_total") > \
        _value(before, "livequery_gc_full_pause_seconds_total")
    assert 0 < _value(after, "livequery_gc_full_pause_longest_seconds") <= \
        _value(after, "livequery_gc_full_pause_seconds_total")
