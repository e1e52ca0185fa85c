"""`GET /metrics` in Prometheus' text format: REST requests by route and status with latency histograms, and the
LiveQuery hub and event bus as they are at scrape time.

The hub's figures are read when Prometheus scrapes (a custom collector over counters the hub keeps anyway), so
the fan-out path pays nothing for metrics. One registry per app: no module-level state.
"""
from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from api.services import Services
    from livequery.bus import Bus
    from livequery.hub import Hub

# REST latency buckets (seconds): a cached read is well under a millisecond, a slow store seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the route label of a call no route answers: paths themselves would be unbounded


class Metrics:
    """This server process's metrics, in a registry of its own."""

    def __init__(self, hub: Hub, bus: Bus) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("livequery_http_requests", "REST requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("livequery_http_request_duration_seconds", "REST request latency by route",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(LiveQueryCollector(hub, bus))
        ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open file descriptors
        # the labelled children per (method, route, status), found once: `labels()` takes a lock and builds keys.
        # Bounded: routes are the registered patterns (or UNMATCHED), methods and statuses few.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)


class LiveQueryCollector(Collector):
    """The hub's clients, subscriptions and delivery counters and the bus's state, read at scrape time."""

    def __init__(self, hub: Hub, bus: Bus) -> None:
        self._hub = hub
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        worker = GaugeMetricFamily("livequery_worker", "This server process, by pid (workers share a port)",
                                   labels=["pid"])
        worker.add_metric([str(os.getpid())], 1)
        yield worker
        yield GaugeMetricFamily("livequery_clients", "Connected LiveQuery websockets", value=hub.client_count)
        by_class = GaugeMetricFamily("livequery_subscriptions", "Live subscriptions by class", labels=["class"])
        for class_name, count in sorted(hub.index.subscriptions_by_class().items()):
            by_class.add_metric([class_name], count)
        yield by_class
        yield GaugeMetricFamily("livequery_queries", "Distinct live queries (subscriptions to one query share it)",
                                value=hub.index.query_count)
        depths = hub.outbox_depths()
        yield GaugeMetricFamily("livequery_outbox_frames", "Frames waiting in clients' outboxes, all clients",
                                value=sum(depths))
        yield GaugeMetricFamily("livequery_outbox_frames_max", "Frames waiting in the fullest client outbox",
                                value=max(depths, default=0))
        yield CounterMetricFamily("livequery_events_received", "Change events the hub took from the bus",
                                  value=hub.events_seen)
        yield CounterMetricFamily("livequery_events_delivered", "Event frames queued to subscribers",
                                  value=hub.frames_sent)
        yield CounterMetricFamily("livequery_frames_dropped",
                                  "Frames dropped because their client was closed before they were written",
                                  value=hub.frames_dropped)
        yield CounterMetricFamily("livequery_slow_clients_closed", "Clients closed (4008) for falling behind",
                                  value=hub.slow_clients)
        coalescing = hub.coalesce_stats  # classes with coalesced delivery (serve --coalesce, live_query_options)
        for name, value, help_text in (
                ("livequery_coalesced_updates", coalescing.coalesced,
                 "Update frames merged away by coalescing (a later state replaced them within the window)"),
                ("livequery_coalesced_frames_sent", coalescing.sent, "Frames sent for classes with coalescing"),
                ("livequery_coalesced_updates_dropped", coalescing.dropped,
                 "Pending updates dropped because their subscription ended within the window")):
            yield CounterMetricFamily(name, help_text, value=value)
        health = self._bus.health()
        connected = GaugeMetricFamily("livequery_bus_connected", "1 when the event bus is connected",
                                      labels=["bus"])
        connected.add_metric([str(health.get("bus", ""))], 1 if health.get("connected") else 0)
        yield connected
        for key, help_text in (("dropped", "Events the bus could not publish or deliver"),
                               ("reconnects", "Times the bus reconnected"),
                               ("undecodable", "Bus messages that could not be decoded")):
            if isinstance(health.get(key), int):
                yield CounterMetricFamily(f"livequery_bus_{key}", help_text, value=health[key])


def _allowed(request: Request, services: Services) -> bool:
    mode = services.settings.metrics
    if mode == "public":
        return True
    if mode != "master":
        return False
    given = request.headers.get("x-parse-master-key") or ""
    authorization = request.headers.get("authorization") or ""
    if authorization.lower().startswith("bearer "):  # what Prometheus' `authorization` scrape setting sends
        given = given or authorization[7:].strip()
    key = services.settings.master_key
    return bool(key) and hmac.compare_digest(given.encode(), key.encode())


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: 404 when `--metrics off`, 403 without the master key when `--metrics master`."""
    services: Services = request.app.state.services
    if services.settings.metrics == "off":
        return Response("Not Found", status_code=404, media_type="text/plain")
    if not _allowed(request, services):
        return Response('{"error":"unauthorized: master key is required"}', status_code=403,
                        media_type="application/json")
    encoder, content_type = choose_encoder(request.headers.get("accept") or "")
    return Response(encoder(services.metrics.registry), media_type=content_type)
