"""Fixtures for the example apps: the app served by a real server on loopback, a client, headless chromium.

`served_example(name)` starts what `livequery serve --example NAME` starts (schema, cloud code, permissions, seed
data, page) in uvicorn on a free port, on SQLite in a folder of its own or, under LIVEQUERY_TEST_STORE=mongodb, on
the MongoDB database of the test (dropped afterwards). `browser` is one headless chromium per test
(tests/examples/browser.py). `world` is the event registration example, seeded, with its people logged in.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import uvicorn

from api.app import create_app
from api.serving import uvicorn_config
from api.settings import Settings
from auth.passwords import Passwords, PasswordSettings
from examples.client import ParseClient
from tests.conftest import free_port
from tests.examples.browser import CHROMIUM_MISSING, Browser, chromium_path
from tests.storage.mongo_server import switched_database, switched_database_uri

APP_ID = "example-app"
MASTER_KEY = "example-master-key"
CHEAP_PASSWORDS = PasswordSettings(time_cost=1, memory_cost=8, parallelism=1)


class ServedExample(msgspec.Struct):
    """A running example: its URLs, its settings, and a REST client that holds the master key."""

    name: str
    settings: Settings
    parse: ParseClient

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}/apps/{self.name}/"


EXAMPLES_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Three minutes per example test: each starts a served example (schema, cloud code, seed), some a chromium
    or a server process with real password hashing, and a busy machine makes that slow."""
    for item in items:
        if EXAMPLES_DIR in Path(str(item.fspath)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(180))


@pytest.fixture(autouse=True)
def test_store(tmp_path: Path) -> Iterator[None]:
    """The store switch: under LIVEQUERY_TEST_STORE=mongodb, the test's database is dropped afterwards."""
    with switched_database(tmp_path):
        yield


@pytest.fixture
async def served_example(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[ServedExample]]]:
    """`await served_example("event_registration", **settings)`: the example, served until the test ends."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], ParseClient]] = []

    async def serve(name: str, **overrides: Any) -> ServedExample:
        folder = tmp_path / f"{name}-{len(servers)}"
        folder.mkdir()
        values: dict[str, Any] = dict(app_id=APP_ID, master_key=MASTER_KEY, data_dir=str(folder), example=name,
                                      port=free_port(), database_uri=switched_database_uri(tmp_path))
        settings = Settings(**{**values, **overrides})
        app = create_app(settings)
        # argon2 at a test cost: the seed and the tests sign up and log in dozens of people, and at the real
        # cost (64 MiB, 3 passes) each one takes seconds on a busy 2-core machine. Hashing is tested in tests/auth.
        app.state.services.passwords = Passwords(CHEAP_PASSWORDS)
        config = uvicorn_config(app, settings, lifespan="on")  # as `livequery serve` runs it
        server = uvicorn.Server(config)

        async def run() -> None:
            try:
                await server.serve()
            except SystemExit as stopped:  # uvicorn exits when the start-up (schema, cloud, seed) fails
                raise RuntimeError(f"the {name} example failed to start (exit {stopped.code}): see the log") from None

        task = asyncio.create_task(run(), name=f"example-{name}")
        parse = ParseClient(f"http://127.0.0.1:{settings.port}{settings.mount_path}", settings.app_id,
                            master_key=settings.master_key, javascript_key=settings.javascript_key)
        servers.append((server, task, parse))
        for _ in range(1200):  # start-up seeds the example through its cloud code: allow for a busy machine
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        if not server.started:
            raise RuntimeError(f"the {name} example did not start" + (f": {task.exception()}" if task.done()
                                                                       else " within 30 s"))
        return ServedExample(name, settings, parse)

    try:
        yield serve
    finally:
        for server, task, parse in servers:
            await parse.close()
            server.should_exit = True
            with contextlib.suppress(RuntimeError):  # a start-up failure, reported above
                await asyncio.wait_for(task, 15)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if chromium_path() is None:
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    async with Browser.launch() as launched:
        yield launched


@pytest.fixture
async def world(served_example: Callable[..., Awaitable[ServedExample]]) -> Any:
    """The event registration example served and seeded, its people logged in (event_registration_world.py)."""
    from tests.examples.event_registration_world import World

    seeded = World(await served_example("event_registration"))
    await seeded.login("olivia", "oscar", "ann", "ben", "cara", "dan")
    return seeded


@pytest.fixture
async def booking(served_example: Callable[..., Awaitable[ServedExample]]) -> Any:
    """The appointment booking example served and seeded, its people logged in (appointment_booking_world.py)."""
    from tests.examples.appointment_booking_world import Booking

    seeded = Booking(await served_example("appointment_booking"))
    await seeded.login("paula", "peter", "ann", "ben", "cara")
    return seeded


@pytest.fixture
async def video(served_example: Callable[..., Awaitable[ServedExample]]) -> Any:
    """The live video example served and seeded, its people logged in (live_video_world.py)."""
    from tests.examples.live_video_world import VideoWorld

    seeded = VideoWorld(await served_example("live_video"))
    await seeded.login("hana", "vic", "wes", "xena")
    return seeded
