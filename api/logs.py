"""The server's log lines: a filter that scrubs secrets from every record, text or JSON lines, and a bounded
buffer of recent lines that `/scriptlog` serves as Parse Server's logs route does."""
from __future__ import annotations

import collections
import datetime
import logging
import re
import sys
import threading
from typing import Any, Iterable

import msgspec

from api.settings import Settings

REDACTED = "***"
MAX_MESSAGE_CHARS = 2000  # a line kept for /scriptlog; longer ones are cut (Parse truncates its lines too)
_TRUNCATED = "... (truncated)"

# A value after a secret-looking key, in JSON, Python reprs, headers or query strings. Linear: no nested
# quantifiers, each alternative consumes at least one character.
_SECRET_KEY = (r"_?hashed_password|password|new_?password|session_?token|_session_token|master_?key|"
               r"x-parse-session-token|x-parse-master-key|access_?token|id_?token|refresh_?token|auth_?token|"
               r"client_?secret|api_?key|secret")
_KEYED_SECRET = re.compile(
    r"""(?i)(["']?\b(?:""" + _SECRET_KEY + r""")["']?\s*[:=]\s*)"""
    r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s"',;&}\])]+)""")
_SESSION_TOKEN = re.compile(r"\br:[0-9a-fA-F]{32}\b")
_PASSWORD_HASH = re.compile(r"\$(?:argon2(?:id|i|d)|2[abxy]?)\$[^\s\"'}]+")
# The extra fields a record may carry (set through `log.info(..., extra={...})`) that JSON lines show.
_EXTRA_FIELDS = ("request_id", "method", "route", "path", "status", "duration_ms", "client")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


class SecretScrubber(logging.Filter):
    """Rewrites a record's message and traceback with secrets replaced by `***`: the configured keys, session
    tokens, password hashes, and any value under a secret-looking key (`password`, `sessionToken`, ...).

    Installed on every handler, so no log line a handler writes (console, file, `/scriptlog`) carries a secret."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        # longest first: a key that contains another is replaced whole
        known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(s) for s in known)) if known else None

    def scrub(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        text = _SESSION_TOKEN.sub(REDACTED, text)
        text = _PASSWORD_HASH.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _KEYED_SECRET.sub(lambda m: m.group(1) + REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_scrubbed_by", None) is self:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is rather than lose the line
            message = str(record.msg)
        record.msg, record.args = self.scrub(message), None
        for name in _EXTRA_FIELDS:  # a path may hold a token (`/sessions/r:...`, a mistyped URL)
            value = record.__dict__.get(name)
            if isinstance(value, str):
                record.__dict__[name] = self.scrub(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
            record.exc_info = None  # formatters use exc_text; the raw exception could be formatted unscrubbed
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        record._scrubbed_by = self  # type: ignore[attr-defined]
        return True


def _timestamp(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")



class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, the request fields, and the traceback."""

    _encode = msgspec.json.Encoder().encode

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"timestamp": _timestamp(record.created), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return self._encode(line).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str, scrubber: SecretScrubber, level: int = logging.INFO) -> None:
    """The process's console logging (stderr): `text` (human lines) or `json` (one object per line)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(scrubber)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines go through the same (scrubbing) handler
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # No access log from uvicorn (`--log-requests` is ours: scrubbed, with the route and request id). uvicorn
    # writes one for each request whenever that logger has a handler, its ancestors' included, and works out
    # its arguments (the client address, the path) even when the level then drops the line: a logger with no
    # handler that does not propagate is what turns it off.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


class LogEntry(msgspec.Struct, frozen=True):
    """One line as `/scriptlog` answers it (Parse's winston entries: level, message, timestamp)."""

    level: str
    message: str
    timestamp: str
    created: float = 0.0


class RecentLogs(logging.Handler):
    """The last `capacity` log lines of this process, secrets scrubbed, for `/scriptlog`. Bounded in lines and in
    characters per line, so no request can grow it."""

    def __init__(self, scrubber: SecretScrubber, capacity: int = 1000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.addFilter(scrubber)
        self.capacity = capacity
        self._lines: collections.deque[LogEntry] = collections.deque(maxlen=capacity)
        self._guard = threading.Lock()  # records may come from worker threads (SQLite, password hashing)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + _TRUNCATED
        entry = LogEntry(_level_name(record.levelno), message, _timestamp(record.created), record.created)
        with self._guard:
            self._lines.append(entry)

    def query(self, *, level: str = "info", size: int = 10, order: str = "desc",
              since: float | None = None, until: float | None = None) -> list[LogEntry]:
        """Parse's log query: `level` "error" gives errors only, anything else every line (info and up);
        newest first unless `order` is "asc"; at most `size` lines between `since` and `until` (epoch seconds)."""
        with self._guard:
            lines = list(self._lines)
        if level == "error":
            lines = [e for e in lines if e.level == "error"]
        if since is not None:
            lines = [e for e in lines if e.created >= since]
        if until is not None:
            lines = [e for e in lines if e.created <= until]
        if order != "asc":
            lines.reverse()
        return lines[:max(0, size)]

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)


def _level_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def scrubber_for(settings: Settings) -> SecretScrubber:
    """The scrubber for this server's configured keys (the master keys first of all)."""
    return SecretScrubber((settings.master_key, settings.read_only_master_key, settings.javascript_key,
                           settings.rest_api_key, settings.client_key))
