"""Loading the user's cloud module (`--cloud path.py` / LIVEQUERY_CLOUD) and, with `--dev`, reloading it.

Any error while importing it (a syntax error, a bad decorator, a failing import) is a CloudLoadError naming the
file and line, so `livequery serve` stops at start-up instead of failing at the first request.
"""
from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import sys
import traceback
from pathlib import Path
from typing import Callable

from livequery.cloud import Cloud

log = logging.getLogger("livequery.cloud")

_loads = itertools.count(1)


class CloudLoadError(Exception):
    """The cloud module cannot be used; the message starts with `file:line:`."""


def load_cloud(path: str | Path) -> Cloud:
    """Import the module at `path` afresh and return its `cloud` attribute (a livequery.cloud.Cloud)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise CloudLoadError(f"{file}: no such cloud code file")
    # a fresh module name per load, so a reload never sees the previous run's globals
    name = f"livequery_cloud_module_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise CloudLoadError(f"{file}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.parent)
    if folder not in sys.path:  # the module may import its neighbours
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise CloudLoadError(f"{error.filename or file}:{error.lineno}: SyntaxError: {error.msg}") from None
    except Exception as error:
        raise CloudLoadError(f"{_where(error, file)}: {type(error).__name__}: {error}") from None
    cloud = getattr(module, "cloud", None)
    if not isinstance(cloud, Cloud):
        raise CloudLoadError(f"{file}:1: the module has no `cloud = Cloud()` (from livequery.cloud import Cloud)")
    return cloud


def _where(error: BaseException, file: Path) -> str:
    """The deepest frame of the traceback in the user's file (else in any of their files, else the file)."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if Path(frame.filename).resolve() == file:
            return f"{file}:{frame.lineno}"
    for frame in reversed(frames):
        if Path(frame.filename).resolve().is_relative_to(file.parent):
            return f"{frame.filename}:{frame.lineno}"
    return f"{file}:1"


async def watch(path: str | Path, use: Callable[[Cloud], None], interval: float = 0.5) -> None:
    """`--dev`: reload the module whenever its file changes; a broken edit is logged and the last good module
    stays in force. Runs until cancelled."""
    file = Path(path).resolve()
    seen = _stamp(file)
    while True:
        await asyncio.sleep(interval)
        stamp = _stamp(file)
        if stamp == seen:
            continue
        seen = stamp
        try:
            cloud = load_cloud(file)
        except CloudLoadError as error:
            log.error("cloud code not reloaded: %s", error)
            continue
        use(cloud)
        log.info("cloud code reloaded from %s", file)


def _stamp(file: Path) -> tuple[int, int] | None:
    try:
        info = file.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
