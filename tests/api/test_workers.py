"""`livequery serve --workers 2 --redis-url ...`: two processes on one port, each serving REST and LiveQuery, each
delivering the events of writes the other one made."""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tests.api.test_serving import APP_ID, MASTER_KEY, ROOT, ServerProcess

MAX_TRIES = 60  # connections opened until each worker has one (the kernel picks the worker of each)


def _metrics(connection: http.client.HTTPConnection) -> list[Any]:
    connection.request("GET", "/metrics", headers={"X-Parse-Master-Key": MASTER_KEY})
    reply = connection.getresponse()
    text = reply.read().decode()
    assert reply.status == 200, text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _scrape(connection: http.client.HTTPConnection) -> tuple[str, float]:
    """(worker pid, its LiveQuery clients) from /metrics over a kept-alive connection, i.e. always the same
    worker: the one named by `livequery_worker`; every live worker's clients are listed, labelled by pid."""
    samples = _metrics(connection)
    pid = next(sample.labels["pid"] for sample in samples if sample.name == "livequery_worker")
    clients = [sample.value for sample in samples
               if sample.name == "livequery_clients" and sample.labels.get("pid") == pid]
    return pid, clients[0] if clients else -1.0


def _total(samples: list[Any], name: str, **labels: str) -> float:
    return sum(sample.value for sample in samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def _post(connection: http.client.HTTPConnection, body: dict[str, Any]) -> None:
    connection.request("POST", "/parse/classes/Reaction", body=json.dumps(body), headers={
        "X-Parse-Application-Id": APP_ID, "Content-Type": "application/json"})
    reply = connection.getresponse()
    assert reply.status == 201, reply.read()
    reply.read()


@pytest.fixture
def workers(tmp_path: Path, redis_server: str) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path, "--workers", "2", "--redis-url", redis_server)
    try:
        server.wait_healthy()
        yield server
    finally:
        if server.process.poll() is None:  # SIGTERM, which the supervisor passes on to its workers
            server.process.terminate()
            try:
                server.process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        server.stop()


def _one_connection_per_worker(port: int) -> dict[str, http.client.HTTPConnection]:
    pinned: dict[str, http.client.HTTPConnection] = {}
    for _ in range(MAX_TRIES):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        pid, _clients = _scrape(connection)
        if pid in pinned:
            connection.close()
        else:
            pinned[pid] = connection
        if len(pinned) == 2:
            return pinned
    raise AssertionError(f"only workers {list(pinned)} answered {MAX_TRIES} new connections")


async def _subscriber(url: str) -> ClientConnection:
    socket_ = await connect(url, open_timeout=5)
    await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "connected"
    await socket_.send(json.dumps({"op": "subscribe", "requestId": 1,
                                   "query": {"className": "Reaction", "where": {"room": "r1"}}}))
    assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "subscribed"
    return socket_


async def _exchange(server: ServerProcess) -> None:
    pinned = _one_connection_per_worker(server.port)
    ws_url = server.url.replace("http://", "ws://")
    sockets: dict[str, ClientConnection] = {}
    spare: list[ClientConnection] = []
    for _ in range(MAX_TRIES):  # a subscriber on each worker: see whose client count grew
        before = {pid: _scrape(c)[1] for pid, c in pinned.items()}
        socket_ = await _subscriber(ws_url)
        grown = [pid for pid, c in pinned.items() if _scrape(c)[1] > before[pid]]
        if len(grown) == 1 and grown[0] not in sockets:
            sockets[grown[0]] = socket_
        else:
            spare.append(socket_)
        if len(sockets) == 2:
            break
    assert len(sockets) == 2, "the kernel gave every websocket to one worker"
    for writer_pid, connection in pinned.items():
        _post(connection, {"room": "r1", "by": writer_pid})
        for reader_pid, socket_ in sockets.items():
            frame = json.loads(await asyncio.wait_for(socket_.recv(), 5))
            assert (frame["op"], frame["object"]["by"]) == ("create", writer_pid), (reader_pid, frame)
    for socket_ in [*sockets.values(), *spare]:
        await socket_.close()
    for connection in pinned.values():
        connection.close()


def test_two_workers_on_one_port_deliver_each_others_events(workers: ServerProcess) -> None:
    asyncio.run(asyncio.wait_for(_exchange(workers), 60))
    workers.process.send_signal(signal.SIGTERM)
    workers.process.wait(20)  # the supervisor passes SIGTERM on to both workers and exits after them


def test_metrics_are_summed_over_the_workers_whichever_answers_the_scrape(workers: ServerProcess) -> None:
    pinned = _one_connection_per_worker(workers.port)
    created = {"method": "POST", "route": "/classes/{className}", "status": "201"}
    before = _total(_metrics(next(iter(pinned.values()))), "livequery_http_requests_total", **created)
    for connection in pinned.values():  # two writes through each worker
        for number in range(2):
            _post(connection, {"room": "r2", "n": number})
    deadline = time.monotonic() + 20
    while True:  # each write reaches the other worker's hub through Redis: its lag is observed there
        scrapes = {pid: _metrics(connection) for pid, connection in pinned.items()}
        lagged = [_total(samples, "livequery_bus_lag_seconds_count") for samples in scrapes.values()]
        if min(lagged) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid, samples in scrapes.items():
        assert _total(samples, "livequery_http_requests_total", **created) - before == 4, pid
        assert _total(samples, "livequery_bus_lag_seconds_count") == 4, pid
        assert _total(samples, "livequery_store_operation_duration_seconds_count", operation="insert") >= 4, pid
        listed = {sample.labels["pid"] for sample in samples if sample.name == "livequery_clients"}
        assert listed == set(pinned), (pid, listed)  # one gauge per live worker
        assert _total(samples, "livequery_bus_connected", bus="redis") == 2
    for connection in pinned.values():
        connection.close()


def test_workers_do_not_log_a_line_per_request(workers: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", workers.port, timeout=10)
    for index in range(20):
        _post(connection, {"n": index})
    connection.close()
    time.sleep(0.5)  # what a worker logs reaches the file unbuffered; give it a moment all the same
    log = workers.log()
    assert "/parse/classes/Reaction" not in log, log  # uvicorn's access lines (`--log-requests` is off)


def test_a_worker_that_dies_is_replaced(workers: ServerProcess) -> None:
    first = _one_connection_per_worker(workers.port)
    victim = next(iter(first))
    os.kill(int(victim), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # new connections until a worker that was not there before answers
        connection = http.client.HTTPConnection("127.0.0.1", workers.port, timeout=10)
        try:
            pid, _clients = _scrape(connection)
        except OSError:
            pid = ""
        finally:
            connection.close()
        if pid and pid not in first:
            break
        assert time.monotonic() < deadline, f"no worker replaced {victim}:\n{workers.log()}"
        time.sleep(0.2)
    for kept in first.values():
        kept.close()
    workers.process.send_signal(signal.SIGTERM)
    workers.process.wait(20)  # the supervisor passes SIGTERM on to both workers and exits after them


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited orphan may stay a zombie until its new parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_shut_down_when_their_supervisor_is_killed_outright(workers: ServerProcess) -> None:
    # SIGKILL (or the OOM killer) gives the supervisor no chance to pass SIGTERM on: its workers, orphans still
    # holding the port, once served on for ever (one outlived a CI run by 40 minutes)
    pinned = _one_connection_per_worker(workers.port)
    for connection in pinned.values():
        connection.close()
    workers.process.kill()
    workers.process.wait(10)
    deadline = time.monotonic() + 30
    while any(_running(int(pid)) for pid in pinned):
        assert time.monotonic() < deadline, f"workers {sorted(pinned)} still run:\n{workers.log()}"
        time.sleep(0.2)
    with pytest.raises(OSError):  # nobody holds the port any more
        http.client.HTTPConnection("127.0.0.1", workers.port, timeout=2).request("GET", "/parse/health")


def test_workers_without_redis_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--data-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--workers above 1 needs --redis-url" in done.stderr
