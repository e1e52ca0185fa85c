"""`livequery serve` as a real process: SIGTERM ends it gracefully (LiveQuery sockets closed with 1012, nothing
acknowledged lost) and always within its deadline, even when MongoDB and Redis stop answering."""
from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from api.serving import GracefulServer, hard_deadline, uvicorn_config
from api.settings import Settings
from tests.conftest import RedisServer, free_port
from tests.storage.mongo_server import SecantusServer, switched_database_uri

ROOT = Path(__file__).resolve().parents[2]
APP_ID, MASTER_KEY = "ops-app", "ops-master-key"
SHUTDOWN_SECONDS = 1.0
# what api.serving.hard_deadline gives --shutdown-seconds 1 (1 + 3 closes of 2s + 1), and a margin for a busy machine
EXIT_WITHIN_SECONDS = 8.0 + 5.0


class ServerProcess:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/parse"
        self.log_path = data_dir / f"server-{self.port}.log"
        store = switched_database_uri(data_dir)  # MongoDB under LIVEQUERY_TEST_STORE=mongodb, else SQLite
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--app-id", APP_ID,
                   "--master-key", MASTER_KEY, "--data-dir", str(data_dir), "--allow-client-class-creation",
                   "--shutdown-seconds", str(SHUTDOWN_SECONDS), *(("--database-uri", store) if store else ()),
                   *extra]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def _request(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "X-Parse-Application-Id": APP_ID, "X-Parse-Master-Key": MASTER_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_sigterm_closes_live_query_sockets_with_service_restart(servers: list[ServerProcess],
                                                                 tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    servers.append(server)
    server.wait_healthy()

    async def scenario() -> int | None:
        async with connect(server.url.replace("http://", "ws://"), open_timeout=5) as socket_:
            await socket_.send(json.dumps({"op": "connect", "applicationId": APP_ID}))
            assert json.loads(await asyncio.wait_for(socket_.recv(), 5))["op"] == "connected"
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket_.recv(), 10)
            return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(scenario()) == 1012  # "service restart": the SDKs reconnect
    server.process.wait(EXIT_WITHIN_SECONDS)


def test_sigterm_during_a_write_stream_loses_nothing_acknowledged(servers: list[ServerProcess],
                                                                  tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    servers.append(server)
    server.wait_healthy()
    acknowledged: list[str] = []
    failures: list[str] = []
    guard = threading.Lock()

    def writer(number: int) -> None:
        for sequence in range(10_000):
            try:
                status, body = _request("POST", f"{server.url}/classes/Stream", {"writer": number, "seq": sequence})
            except OSError as error:  # refused or reset once the server stopped accepting: not acknowledged
                failures.append(repr(error))
                return
            if status != 201:
                failures.append(f"{status} {body}")
                return
            with guard:
                acknowledged.append(body["objectId"])

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 50 and server.process.poll() is None:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(EXIT_WITHIN_SECONDS)
    for thread in threads:
        thread.join(10)
    assert "SIGTERM: shutting down" in server.log()

    again = ServerProcess(tmp_path)
    servers.append(again)
    again.wait_healthy()
    status, body = _request("GET", f"{again.url}/classes/Stream?limit=100000&keys=objectId")
    stored = {row["objectId"] for row in body["results"]}
    assert status == 200 and len(acknowledged) >= 50
    assert set(acknowledged) <= stored


def test_ready_fails_and_sigterm_exits_within_the_deadline_while_mongodb_and_redis_hang(servers: list[ServerProcess],
                                                                        tmp_path: Path,
                                                                        redis_executable: str) -> None:
    mongo = SecantusServer(tmp_path)
    redis = RedisServer(redis_executable, tmp_path)
    mongo.start()
    redis.start()
    paused: list[int] = []
    try:
        server = ServerProcess(tmp_path, "--database-uri", mongo.uri + "ops", "--redis-url", redis.url)
        servers.append(server)
        server.wait_healthy()
        assert _request("POST", f"{server.url}/classes/Note", {"text": "before"})[0] == 201
        for pid in (mongo.pid, redis.pid):
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # both still accept connections but never answer: the worst case
            paused.append(pid)

        def hanging_request() -> None:
            try:
                _request("POST", f"{server.url}/classes/Note", {"text": "during"}, timeout=60)
            except (OSError, ValueError):  # reset, or a non-JSON 500 when the grace period ends the request
                pass

        status, body = _request("GET", f"{server.url}/ready", timeout=10)  # the load balancer's view
        assert status == 503 and body["store"]["ok"] is False
        for _ in range(3):
            threading.Thread(target=hanging_request, daemon=True).start()
        time.sleep(0.5)  # the requests are in flight, waiting on MongoDB
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(EXIT_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after SIGTERM:\n{server.log()}") from None
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        redis.stop()
        mongo.stop()


def test_a_second_sigterm_exits_at_once(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "--shutdown-seconds", "60")  # the later flag wins: a long grace
    servers.append(server)
    server.wait_healthy()

    async def hold_a_request_open() -> None:
        # a request whose body never finishes keeps the server waiting for it during the grace period
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /parse/classes/Note HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Parse-Application-Id: " + APP_ID.encode() + b"\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert server.process.poll() is None  # still waiting for the open request
        server.process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, server.process.wait, 10)
        writer.close()

    asyncio.run(asyncio.wait_for(hold_a_request_open(), 30))
    assert "second SIGTERM during shutdown: exiting now" in server.log()


def test_a_request_in_flight_at_sigterm_is_finished(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "--shutdown-seconds", "10")
    servers.append(server)
    server.wait_healthy()

    async def scenario() -> bytes:
        body = json.dumps({"text": "sent across the signal"}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /parse/classes/Note HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Parse-Application-Id: " + APP_ID.encode() + b"\r\nX-Parse-Master-Key: " +
                     MASTER_KEY.encode() + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
                     body[:5])
        await writer.drain()
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        writer.write(body[5:])
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)  # the server closes the connection after answering
        writer.close()
        return reply

    reply = asyncio.run(scenario())
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    server.process.wait(EXIT_WITHIN_SECONDS)


def test_requests_cut_off_at_the_end_of_the_grace_are_counted_in_one_quiet_line(servers: list[ServerProcess],
                                                                                  tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)  # a grace of SHUTDOWN_SECONDS
    servers.append(server)
    server.wait_healthy()

    async def hold_two_requests_open() -> None:
        writers = []
        for _ in range(2):  # bodies that never finish: still running when the grace is over
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /parse/classes/Note HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"X-Parse-Application-Id: " + APP_ID.encode() + b"\r\nContent-Length: 100\r\n\r\n{")
            await writer.drain()
            writers.append(writer)
        await asyncio.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, server.process.wait, EXIT_WITHIN_SECONDS)
        for writer in writers:
            writer.close()

    asyncio.run(asyncio.wait_for(hold_two_requests_open(), 30))
    log = server.log()
    assert log.count("2 request(s) still running after the 1.0s grace were cut off") == 1, log
    assert "Traceback" not in log and "CancelledError" not in log and "ERROR" not in log, log


async def test_start_up_objects_are_left_out_of_garbage_collections(tmp_path: Path) -> None:
    """A full collection holds the event loop while it walks every tracked object: what start-up made (modules,
    the app, its routes and schemas) lives as long as the process, so the server takes it out of their walk."""
    app = create_app(Settings(app_id="gc", master_key="gc-master", data_dir=str(tmp_path), port=free_port(),
                              database_uri=f"sqlite:///{tmp_path / 'gc.db'}"))
    settings = app.state.services.settings
    server = GracefulServer(uvicorn_config(app, settings, lifespan="on"), hard_deadline(settings))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        assert server.started, "the server did not start"
        assert not any(tracked is app for tracked in gc.get_objects())  # the app is in none of the generations
        assert gc.get_freeze_count() > 10_000
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        gc.unfreeze()  # this test process's objects are collected again
