"""A MongoDB server for the tests: SecantusDB (a wire-compatible server on WiredTiger, test-only dependency)
started on a free loopback port in a temporary directory, or the real server named by MONGODB_URI.

One server per session (`SHARED`, started on first use, stopped at exit); each test takes a database of its own
(`fresh_database()`, or `fresh_database_uri()` from the contract suite's store factory), so tests never see each
other's data. `LIVEQUERY_TEST_STORE=mongodb` switches the API and LiveQuery endpoint tests onto it too
(`switched_database_uri`).
"""
from __future__ import annotations

import atexit
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo
import pytest

SECANTUS_MISSING = (
    "SecantusDB is not installed: the MongoDB tests need it (or MONGODB_URI naming a real server). "
    "Install the test extra: `pip install -e .[test]`."
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SecantusServer:
    """`secantusd-py` as a child process: `start()` waits until it answers `ping`, `stop()` ends it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "secantus.log"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (a test may SIGSTOP it to make it hang)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self, timeout: float = 30.0) -> None:
        config = self.workdir / "secantusd.toml"
        config.write_text("")  # an explicit, empty config: no auto-discovery of ./secantusd.toml or ~/.secantus
        command = [sys.executable, "-m", "secantus", "--config", str(config), "--host", "127.0.0.1",
                   "--port", str(self.port), "--storage-path", str(self.workdir / "data"),
                   "--log-level", "WARNING"]
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while not self._answers_ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with {self._process.returncode}: {self._tail_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"SecantusDB did not answer ping within {timeout}s: {self._tail_log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _answers_ping(self) -> bool:
        client: pymongo.MongoClient = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500, directConnection=True)
        try:
            return client.admin.command("ping").get("ok") == 1.0
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()

    def _tail_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def with_database(base_uri: str, database: str) -> str:
    """`base_uri` with its path set to `database` (query options kept)."""
    head, _, query = base_uri.partition("?")
    scheme, _, rest = head.partition("://")
    hosts = rest.split("/", 1)[0]
    return f"{scheme}://{hosts}/{database}" + (f"?{query}" if query else "")


def drop_database(uri: str, database: str) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(database)
    finally:
        client.close()


class SharedServer:
    """The one MongoDB server of a test session, started on first use (from a fixture or from the contract
    suite's store factory, which takes no fixtures) and stopped when the session's process exits."""

    def __init__(self) -> None:
        self._uri: str | None = None
        self._server: SecantusServer | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def base_uri(self) -> str:
        if self._uri is None:
            self._uri = os.environ.get("MONGODB_URI") or self._start()
        return self._uri

    @property
    def is_started(self) -> bool:
        return self._uri is not None

    def fresh_database_uri(self) -> str:
        """A URI naming a database no test used before (left for the throwaway server to discard; on a real
        MONGODB_URI server, `database_uri` drops its own)."""
        return with_database(self.base_uri(), f"lq_test_{uuid.uuid4().hex[:12]}")

    def _start(self) -> str:
        try:
            import secantus  # noqa: F401
        except ImportError:
            pytest.fail(SECANTUS_MISSING, pytrace=False)
        self._workdir = tempfile.TemporaryDirectory(prefix="lq-secantus-")
        server = SecantusServer(Path(self._workdir.name))
        server.start()
        self._server = server
        atexit.register(self.stop)
        return server.uri

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self._uri = None


SHARED = SharedServer()

# Contract cases SecantusDB (the stand-in for MongoDB here) cannot pass, by test function name. They are skipped
# only on SecantusDB: with MONGODB_URI naming a real server they run.
SECANTUS_GAPS = {
    "test_within_box_includes_its_edges":
        "SecantusDB tests $geoWithin $box with shapely's `within`, which leaves points on the edge out; "
        "MongoDB's $box (R2Box::inside) includes them",
    "test_geo_within_polygon_and_center_sphere":
        "SecantusDB tests $geoWithin $polygon with shapely's `within`, which leaves points on the edge out",
}


def _current_test_name() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.split("::")[-1].split(" ")[0].split("[")[0]


def skip_secantus_gap(gaps: dict[str, str] = SECANTUS_GAPS) -> None:
    """Skip the running test if it is one of `gaps` and the server is SecantusDB."""
    name = _current_test_name()
    if is_secantus() and name in gaps:
        pytest.skip(gaps[name])


def fresh_database_uri() -> str:
    """For the contract suite's store factory: a fresh database, or a skip for a known SecantusDB gap."""
    skip_secantus_gap()
    return SHARED.fresh_database_uri()


@contextmanager
def fresh_database() -> Iterator[str]:
    """A URI naming a database of its own on the session's server, dropped afterwards."""
    uri = SHARED.fresh_database_uri()
    try:
        yield uri
    finally:
        drop_database(SHARED.base_uri(), uri.split("?")[0].rsplit("/", 1)[-1])


def is_secantus() -> bool:
    """Whether the tests run against SecantusDB (no MONGODB_URI), to skip what it lacks."""
    return not os.environ.get("MONGODB_URI")


# --- the store switch of the API and LiveQuery endpoint tests ---------------------------------------------------

TEST_STORE_VARIABLE = "LIVEQUERY_TEST_STORE"
_TEST_STORES = ("sqlite", "mongodb")

# API and endpoint tests SecantusDB cannot pass under the switch, by test function name (skipped only on
# SecantusDB; with MONGODB_URI naming a real server they run).
SECANTUS_SERVER_GAPS: dict[str, str] = {}


def is_switched_to_mongodb() -> bool:
    """Whether LIVEQUERY_TEST_STORE=mongodb asks the API and endpoint tests to serve from MongoDB (default: SQLite)."""
    chosen = os.environ.get(TEST_STORE_VARIABLE, "sqlite").strip().lower() or "sqlite"
    if chosen not in _TEST_STORES:
        pytest.fail(f"{TEST_STORE_VARIABLE}={chosen!r}: use one of {', '.join(_TEST_STORES)}", pytrace=False)
    return chosen == "mongodb"


def _database_name(tmp_path: Path) -> str:
    # named after the test's tmp_path: each test has its own, and the fixture that drops it finds it again
    return "lq_api_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:16]


def switched_database_uri(tmp_path: Path) -> str:
    """The `database_uri` a server built for this test uses: under the switch, a database of the test's own on
    the session's MongoDB server; otherwise "" (the default SQLite file in `tmp_path`)."""
    if not is_switched_to_mongodb():
        return ""
    return with_database(SHARED.base_uri(), _database_name(tmp_path))


@contextmanager
def switched_database(tmp_path: Path) -> Iterator[None]:
    """Around one API or endpoint test: under the switch, skip a known SecantusDB gap, and drop the test's
    database afterwards."""
    if not is_switched_to_mongodb():
        yield
        return
    skip_secantus_gap(SECANTUS_SERVER_GAPS)
    try:
        yield
    finally:
        if SHARED.is_started:
            drop_database(SHARED.base_uri(), _database_name(tmp_path))
