"""What every example's demo shares: a refusal shown with its code, and the command line that plays the demo
against a running server (`--server`) or serves the example itself on a free port for the demo."""
from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import IO, Awaitable, Callable

from examples.client import LiveSubscriber, ParseClient, ParseFailure

Say = Callable[[str], None]
Play = Callable[[ParseClient, Say], Awaitable[None]]


async def refused(say: Say, what: str, attempt: object) -> None:
    try:
        await attempt  # type: ignore[misc]
    except ParseFailure as failure:
        say(f"{what}: refused {failure.code} {failure.error}")
        return
    raise AssertionError(f"{what} was not refused")


async def show(say: Say, inboxes: dict[str, LiveSubscriber]) -> None:
    for name, inbox in inboxes.items():
        for frame in await inbox.events():
            message = frame.get("object", {}).get("message", "")
            say(f"  live -> {name}: {frame['op']} Notification {message!r}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_example(name: str, port: int, master_key: str, app_id: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`livequery serve --example NAME` (on a fresh data folder), once it answers /health."""
    command = [sys.executable, "-m", "api.cli", "serve", "--example", name, "--port", str(port),
               f"--master-key={master_key}", "--app-id", app_id]
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/parse/health", timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                log.seek(0)
                raise SystemExit(f"the server exited:\n{log.read().decode(errors='replace')[-3000:]}") from None
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start within 60 s")


def main(name: str, play: Play, description: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server", help="the REST URL of a running server (default: serve one for the demo)")
    parser.add_argument("--app-id", default="livequery")
    parser.add_argument("--master-key", help="the server's master key")
    args = parser.parse_args(argv)

    async def run() -> None:
        async with ParseClient(args.server, args.app_id, master_key=args.master_key) as parse:
            await play(parse, lambda line: print(line, flush=True))

    if args.server is not None:
        asyncio.run(run())
        return
    port, args.master_key = free_port(), secrets.token_hex(16)  # never starts with '-' (argparse)
    args.server = f"http://127.0.0.1:{port}/parse"
    with tempfile.TemporaryFile() as log:
        server = serve_example(name, port, args.master_key, args.app_id, log)
        try:
            asyncio.run(run())
        finally:
            server.terminate()
            server.wait(timeout=15)
