"""Running the app under uvicorn: one process or N workers on one port, and a shutdown that always ends.

SIGTERM (or Ctrl-C): stop accepting, close LiveQuery sockets with 1012 "service restart" (the SDKs reconnect,
to another process behind the load balancer), let in-flight requests finish within `--shutdown-seconds`, close
the bus and the store (each bounded), exit. A second signal exits at once, and a watchdog ends the process when
the deadline has passed whatever is still running (a store or Redis that does not answer, a stuck thread).
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import glob
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import msgspec
import uvicorn

from api.logs import configure_logging, scrubber_for
from api.metrics import MULTIPROCESS_VARIABLE
from api.services import CLOSE_SECONDS
from api.settings import Settings

log = logging.getLogger(__name__)

SETTINGS_VARIABLE = "LIVEQUERY_WORKER_SETTINGS"  # how the supervisor hands Settings to spawned workers
STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start
RESPAWN_PAUSE_SECONDS = 1.0


def hard_deadline(settings: Settings) -> float:
    """Seconds from the first SIGTERM to a forced exit: the requests' grace, then the closes, then a margin."""
    return settings.shutdown_seconds + 3 * CLOSE_SECONDS + 1.0


def _exit_now(reason: str, code: int = 1) -> None:
    log.warning("%s: exiting now", reason)
    logging.shutdown()
    os._exit(code)


class QuietCutOff(logging.Filter):
    """On uvicorn's logger during shutdown: the requests still running when the grace is over are cancelled by
    uvicorn, which logs each one's CancelledError as a traceback. One warning saying how many is what an operator
    needs; other errors pass unchanged."""

    def __init__(self, grace_seconds: float) -> None:
        super().__init__()
        self.grace_seconds = grace_seconds

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncio.CancelledError):
            return False  # a request cut off at the end of the grace: counted in the line below
        if isinstance(record.msg, str) and record.msg.startswith("Cancel %s running task(s)") and record.args:
            count = record.args[0] if isinstance(record.args, tuple) else record.args
            record.msg = "shutdown: %s request(s) still running after the %.1fs grace were cut off"
            record.args = (count, self.grace_seconds)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class GracefulServer(uvicorn.Server):
    """uvicorn's server whose shutdown is bounded: a second signal or the deadline ends the process."""

    def __init__(self, config: uvicorn.Config, deadline_seconds: float) -> None:
        super().__init__(config)
        self.deadline_seconds = deadline_seconds

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        freeze_start_up_objects()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            _exit_now(f"second {signal.Signals(sig).name} during shutdown")
        log.info("%s: shutting down (in-flight requests get %.1fs)", signal.Signals(sig).name,
                 self.config.timeout_graceful_shutdown or 0.0)
        logging.getLogger("uvicorn.error").addFilter(QuietCutOff(self.config.timeout_graceful_shutdown or 0.0))
        super().handle_exit(sig, frame)
        watchdog = threading.Timer(self.deadline_seconds, _exit_now,
                                   args=(f"shutdown took more than {self.deadline_seconds:.0f}s",))
        watchdog.daemon = True
        watchdog.start()


def freeze_start_up_objects() -> None:
    """Move what start-up made (modules, the app, routes, schemas, cloud code: ~50,000 objects) out of the
    garbage collector's reach. CPython's full collection walks every tracked object and holds the event loop
    while it does; these live as long as the process, and walking them cost each full collection ~60 ms on
    this machine. Start-up garbage is collected first. Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    return uvicorn.Config(
        # uvicorn's access log is off (api.logs.configure_logging says how; a spawned worker unpickles this Config
        # without the logging set-up its __init__ did, so its level alone had `--workers N` log every request)
        app, host=settings.host, port=settings.port, log_config=None, log_level="warning", access_log=False,
        loop="auto", http="auto", ws="websockets-sansio", proxy_headers=False,
        # permessage-deflate compresses every frame once per client: with it on, a fan-out event is
        # re-encoded for each subscriber (a sixth of the server's CPU in benchmarks/fanout.py)
        ws_per_message_deflate=False,
        ws_ping_interval=settings.websocket_ping_seconds, ws_ping_timeout=settings.websocket_ping_seconds,
        timeout_keep_alive=max(0.1, settings.keep_alive_seconds),
        timeout_graceful_shutdown=max(0.1, settings.shutdown_seconds), **extra)


def serve(settings: Settings) -> None:
    """Serve in this process, or supervise `settings.workers` processes sharing one listening socket."""
    if settings.workers <= 1:
        from api.app import create_app

        GracefulServer(uvicorn_config(create_app(settings), settings), hard_deadline(settings)).run()
        return
    os.environ[SETTINGS_VARIABLE] = msgspec.json.encode(settings).decode()
    config = uvicorn_config("api.serving:app_from_environment", settings, factory=True)
    with metrics_directory():
        Supervisor(config, settings).run()


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """Where the workers keep their metrics for `/metrics` to sum (prometheus_client's multiprocess mode): the
    operator's PROMETHEUS_MULTIPROC_DIR emptied of a previous run's files, else a temporary directory."""
    given = os.environ.get(MULTIPROCESS_VARIABLE)
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):  # a previous run's counts would be added in
            os.remove(stale)
        yield
        return
    with tempfile.TemporaryDirectory(prefix="livequery-metrics-") as directory:
        os.environ[MULTIPROCESS_VARIABLE] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_VARIABLE]


def _forget_worker_gauges(pid: int | None) -> None:
    """A worker gone: its per-worker gauges (clients, subscriptions) leave `/metrics`; its counts stay summed."""
    directory = os.environ.get(MULTIPROCESS_VARIABLE)
    if directory and pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


def app_from_environment() -> Any:
    """The app factory each worker process runs (spawned: nothing is inherited but the environment)."""
    from api.app import create_app

    settings = msgspec.json.decode(os.environ[SETTINGS_VARIABLE], type=Settings)
    configure_logging(settings.log_format, scrubber_for(settings))
    return create_app(settings)


PARENT_CHECK_SECONDS = 1.0


def run_worker(server: GracefulServer, sockets: list[Any], supervisor_pid: int) -> None:
    """A worker's life: serve until told to stop, or until its supervisor is gone. A supervisor killed outright
    (SIGKILL, the OOM killer) cannot pass SIGTERM on: its workers, orphans still holding the port, served on for
    ever and kept a restarted server from binding it. Each watches its parent and shuts down gracefully."""
    def watch() -> None:
        while os.getppid() == supervisor_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        log.warning("the supervisor (pid %d) is gone: shutting down", supervisor_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
    server.run(sockets=sockets)


class Supervisor:
    """N worker processes on one socket bound here (the kernel spreads connections between them). A worker that
    dies is replaced; SIGTERM is passed on to every worker and waited for within the deadline."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.count = settings.workers
        self.workers: list[multiprocessing.process.BaseProcess] = []
        self._signals: list[int] = []

    def _spawn(self, sockets: list[Any]) -> multiprocessing.process.BaseProcess:
        # spawned, not forked: a worker starts clean (no event loop, threads or connections of the supervisor);
        # the listening socket is handed over by multiprocessing, the settings through the environment
        server = GracefulServer(self.config, hard_deadline(self.settings))
        worker = multiprocessing.get_context("spawn").Process(target=run_worker, args=(server, sockets, os.getpid()))
        worker.start()
        return worker

    def run(self) -> None:
        sockets = [self.config.bind_socket()]
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda sig, frame: self._signals.append(sig))
        self.workers = [self._spawn(sockets) for _ in range(self.count)]
        log.info("supervising %d workers: %s", self.count, ", ".join(str(w.pid) for w in self.workers))
        failed = False
        while not self._signals and not failed:
            time.sleep(0.2)
            for index, worker in enumerate(self.workers):
                if worker.is_alive():
                    continue
                if worker.exitcode == STARTUP_FAILURE:
                    log.error("worker %s could not start: stopping", worker.pid)
                    failed = True
                    break
                log.warning("worker %s exited (%s): starting another", worker.pid, worker.exitcode)
                _forget_worker_gauges(worker.pid)
                time.sleep(RESPAWN_PAUSE_SECONDS)
                self.workers[index] = self._spawn(sockets)
        self._stop_workers()
        for sock in sockets:
            sock.close()
        if failed:
            sys.exit(STARTUP_FAILURE)

    def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + hard_deadline(self.settings) + 1.0
        seen = len(self._signals)
        for worker in self.workers:
            while worker.is_alive() and time.monotonic() < deadline and len(self._signals) <= max(seen, 1):
                worker.join(0.1)  # a second signal (or the deadline) kills the rest at once
        for worker in self.workers:
            if worker.is_alive():
                worker.kill()
                worker.join(5)
