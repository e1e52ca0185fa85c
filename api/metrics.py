"""`GET /metrics` in Prometheus' text format: REST requests by route and status, store operations, LiveQuery
fan-out latency and bus lag (histograms), and the hub and the bus as they are at scrape time.

One process: the hub's figures are read when Prometheus scrapes (a collector over counters the hub keeps anyway),
so the fan-out pays one cheap call per event, never per client. `--workers N`: prometheus_client's multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set by the supervisor): counters and histograms are summed over every worker,
the hub's gauges are reported per live worker (label `pid`), whichever worker answers the scrape.
"""
from __future__ import annotations

import asyncio
import gc
import hmac
import os
import time
from typing import TYPE_CHECKING, Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from api.services import Services
    from livequery.bus import Bus, ChangeEvent
    from livequery.hub import Hub

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to multiprocess mode
# REST and store latency buckets (seconds): a cached read is well under a millisecond, a slow store seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# fan-out and bus lag: a local event is out in a fraction of a millisecond, a backlog takes seconds
FANOUT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED = "unmatched"  # the route label of a call no route answers: paths themselves would be unbounded
SAMPLE_SECONDS = 1.0  # how often a worker copies its hub's figures to the shared files (multiprocess mode)

# The hub's and bus's figures: (name without `livequery_`, help). Gauges, then counters (exposed with `_total`).
HUB_GAUGES = (
    ("clients", "Connected LiveQuery websockets"),
    ("queries", "Distinct live queries (subscriptions to one query share it)"),
    ("outbox_frames", "Frames waiting in clients' outboxes, all clients"),
    ("outbox_frames_max", "Frames waiting in the fullest client outbox"),
    ("gc_full_pause_longest_seconds", "The longest full garbage collection of this process, which held its event "
     "loop that long"),
)
HUB_COUNTERS = (
    ("events_received", "Change events the hub took from the bus"),
    ("events_delivered", "Event frames queued to subscribers"),
    ("frames_dropped", "Frames dropped because their client was closed before they were written"),
    ("slow_clients_closed", "Clients closed (4008) for falling behind"),
    ("bus_dropped", "Events the bus could not publish or deliver"),
    ("bus_reconnects", "Times the bus reconnected"),
    ("bus_undecodable", "Bus messages that could not be decoded"),
    ("coalesced_updates", "Updates of coalesced classes merged into a later one within their window"),
    ("coalesced_updates_sent", "Updates of coalesced classes fanned out (each once, to all its subscribers)"),
    ("gc_full_collections", "Full garbage collections (CPython's generation 2)"),
    ("gc_full_pause_seconds", "Time spent in full garbage collections, each holding the event loop"),
)
SUBSCRIPTIONS_HELP = "Live subscriptions by class"
CONNECTED_HELP = "1 when the event bus is connected"


class FullCollections:
    """Times CPython's full garbage collections (a gc.callbacks entry while some app's metrics are on). A full
    collection walks every tracked object holding the GIL, so nothing else in the process runs meanwhile, and it
    grows with the sockets and subscriptions held (README, Several machines behind a load balancer). Plain
    numbers, no lock: a callback that took prometheus_client's (non-reentrant) locks could be called by a
    collection started inside one of them."""

    __slots__ = ("count", "seconds", "longest", "_started", "_users")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.longest = 0.0
        self._started = 0.0
        self._users = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.count += 1
        self.seconds += pause
        if pause > self.longest:
            self.longest = pause

    def follow(self) -> None:
        self._users += 1
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def leave(self) -> None:
        self._users = max(0, self._users - 1)
        if not self._users and self in gc.callbacks:
            gc.callbacks.remove(self)


FULL_COLLECTIONS = FullCollections()  # the process's: collections are too


def hub_figures(hub: Hub, bus: Bus) -> tuple[dict[str, float], dict[str, int], dict[str, Any]]:
    """(HUB_GAUGES and HUB_COUNTERS values by name, subscriptions by class, the bus's health)."""
    depths = hub.outbox_depths()
    health = bus.health()
    values: dict[str, float] = {
        "clients": hub.client_count, "queries": hub.index.query_count, "outbox_frames": sum(depths),
        "outbox_frames_max": max(depths, default=0), "events_received": hub.events_seen,
        "events_delivered": hub.frames_sent, "frames_dropped": hub.frames_dropped,
        "slow_clients_closed": hub.slow_clients}
    coalescing = hub.coalesce_stats  # classes with coalesced delivery (serve --coalesce, live_query_options)
    values["coalesced_updates"] = coalescing.coalesced
    values["coalesced_updates_sent"] = coalescing.sent
    values["gc_full_collections"] = FULL_COLLECTIONS.count
    values["gc_full_pause_seconds"] = FULL_COLLECTIONS.seconds
    values["gc_full_pause_longest_seconds"] = FULL_COLLECTIONS.longest
    for key in ("dropped", "reconnects", "undecodable"):
        if isinstance(health.get(key), int):
            values[f"bus_{key}"] = health[key]
    return values, hub.index.subscriptions_by_class(), health


class Metrics:
    """This server process's metrics, in a registry of its own; `exposed` is what `/metrics` answers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_VARIABLE) or None
        self.requests = Counter("livequery_http_requests", "REST requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("livequery_http_request_duration_seconds", "REST request latency by route",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.store_latency = Histogram("livequery_store_operation_duration_seconds",
                                       "Store operation latency, by operation (find, insert, update, ...)",
                                       ["operation"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.fanout_latency = Histogram(
            "livequery_fanout_latency_seconds",
            "From a write's commit to its LiveQuery frames written to the subscribers' sockets, per event",
            buckets=FANOUT_BUCKETS, registry=self.registry)
        self.bus_lag = Histogram("livequery_bus_lag_seconds",
                                 "From another process's publish to this process's hub taking the event "
                                 "(wall clocks: hosts must keep time)", buckets=FANOUT_BUCKETS,
                                 registry=self.registry)
        # the labelled children per key, found once: `labels()` takes a lock and builds keys. Bounded: routes are
        # the registered patterns (or UNMATCHED), methods, statuses and store operations few.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._store_children: dict[str, Any] = {}
        self._local_origin: str | None = None
        self._sampler: HubSampler | None = None
        if self.multiprocess_dir is not None:
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed, self.multiprocess_dir)
            self.exposed.register(WorkerCollector())
        else:
            self.exposed = self.registry
            self.registry.register(WorkerCollector())
            ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open file descriptors

    def follow(self, hub: Hub, bus: Bus) -> None:
        """Report `hub` and `bus`, and time the hub's fan-out (one call per event)."""
        self._local_origin = getattr(bus, "origin", None)  # None: an in-process bus, where no event is foreign
        hub.observer = self
        if self.multiprocess_dir is not None:
            self._sampler = HubSampler(hub, bus, self.registry)
        else:
            self.registry.register(LiveQueryCollector(hub, bus))

    def start(self) -> None:
        FULL_COLLECTIONS.follow()

    def stop(self) -> None:
        FULL_COLLECTIONS.leave()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def observe_store(self, operation: str, seconds: float) -> None:
        child = self._store_children.get(operation)
        if child is None:
            child = self._store_children[operation] = self.store_latency.labels(operation)
        child.observe(seconds)

    def received(self, event: ChangeEvent) -> None:
        """The hub took `event` from the bus: its lag, when another process published it."""
        if self._local_origin is not None and event.origin != self._local_origin and event.published_at:
            self.bus_lag.observe(max(0.0, time.time() - event.published_at))

    def written(self, event: ChangeEvent) -> None:
        if event.published_at:
            self.fanout_latency.observe(max(0.0, time.time() - event.published_at))

    def sample(self) -> None:
        """Multiprocess mode: copy this worker's hub figures to the shared files now (before answering a scrape)."""
        if self._sampler is not None:
            self._sampler.sample()

    async def sample_forever(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            self.sample()


class WorkerCollector(Collector):
    """`livequery_worker{pid}`: the process that answered this scrape (workers share a port)."""

    def collect(self) -> Iterator[Metric]:
        worker = GaugeMetricFamily("livequery_worker", "The server process that answered this scrape, by pid",
                                   labels=["pid"])
        worker.add_metric([str(os.getpid())], 1)
        yield worker


class LiveQueryCollector(Collector):
    """The hub's clients, subscriptions and delivery counters and the bus's state, read at scrape time."""

    def __init__(self, hub: Hub, bus: Bus) -> None:
        self._hub = hub
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        values, by_class, health = hub_figures(self._hub, self._bus)
        for name, help_text in HUB_GAUGES:
            yield GaugeMetricFamily(f"livequery_{name}", help_text, value=values[name])
        for name, help_text in HUB_COUNTERS:
            if name in values:
                yield CounterMetricFamily(f"livequery_{name}", help_text, value=values[name])
        subscriptions = GaugeMetricFamily("livequery_subscriptions", SUBSCRIPTIONS_HELP, labels=["class"])
        for class_name, count in sorted(by_class.items()):
            subscriptions.add_metric([class_name], count)
        yield subscriptions
        connected = GaugeMetricFamily("livequery_bus_connected", CONNECTED_HELP, labels=["bus"])
        connected.add_metric([str(health.get("bus", ""))], 1 if health.get("connected") else 0)
        yield connected


class HubSampler:
    """Multiprocess mode: the hub's figures as metrics in the shared files, copied from the hub on `sample`.
    Gauges are per live worker (`pid` label); counters grow by what the hub counted since the last sample, so
    the sum over workers stays true when a worker is replaced."""

    def __init__(self, hub: Hub, bus: Bus, registry: CollectorRegistry) -> None:
        self._hub = hub
        self._bus = bus
        self._gauges = {name: Gauge(f"livequery_{name}", text, registry=registry, multiprocess_mode="liveall")
                        for name, text in HUB_GAUGES}
        self._counters = {name: Counter(f"livequery_{name}", text, registry=registry)
                          for name, text in HUB_COUNTERS}
        self._counted: dict[str, float] = {}
        self._subscriptions = Gauge("livequery_subscriptions", SUBSCRIPTIONS_HELP, ["class"], registry=registry,
                                    multiprocess_mode="liveall")
        self._classes: set[str] = set()
        self._connected = Gauge("livequery_bus_connected", CONNECTED_HELP, ["bus"], registry=registry,
                                multiprocess_mode="liveall")

    def sample(self) -> None:
        values, by_class, health = hub_figures(self._hub, self._bus)
        for name, gauge in self._gauges.items():
            gauge.set(values[name])
        for name, counter in self._counters.items():
            grown = values.get(name, 0) - self._counted.get(name, 0)
            if grown > 0:
                counter.inc(grown)
                self._counted[name] = values[name]
        for class_name in self._classes - by_class.keys():  # a gone class reads 0 (its file entry stays)
            self._subscriptions.labels(class_name).set(0)
        for class_name, count in by_class.items():
            self._subscriptions.labels(class_name).set(count)
        self._classes = set(by_class)
        self._connected.labels(str(health.get("bus", ""))).set(1 if health.get("connected") else 0)


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
    services.metrics.sample()
    return Response(encoder(services.metrics.exposed), media_type=content_type)
