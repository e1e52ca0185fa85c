"""What happens after each REST request: its metrics, its log line (with `--log-requests`), and a warning for a
call no route answers (once per path, a bounded number of paths, so no client can flood the log)."""
from __future__ import annotations

import logging
import secrets
import time

from api.metrics import UNMATCHED, Metrics
from api.settings import Settings

log = logging.getLogger("livequery.requests")
MAX_UNKNOWN_PATHS_LOGGED = 200


class RequestObserver:
    def __init__(self, settings: Settings, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._log_requests = settings.log_requests
        self._unknown_logged: set[str] = set()

    def done(self, method: str, path: str, route: str, status: int, started: float,
             request_id: str | None) -> None:
        """`path` is below the mount path and has no query string (a GET /login carries the password there)."""
        seconds = time.perf_counter() - started
        if self._metrics is not None:
            self._metrics.observe_request(method, route, status, seconds)
        if route == UNMATCHED and status == 404:
            self._warn_unknown(method, path)
        if self._log_requests:
            log.info("%s %s %d %.1fms", method, path, status, seconds * 1000.0, extra={
                "request_id": request_id or secrets.token_hex(8), "method": method, "route": route, "path": path,
                "status": status, "duration_ms": round(seconds * 1000.0, 2)})

    def _warn_unknown(self, method: str, path: str) -> None:
        key = f"{method} {path[:200]}"
        if key in self._unknown_logged or len(self._unknown_logged) >= MAX_UNKNOWN_PATHS_LOGGED:
            return
        self._unknown_logged.add(key)
        log.warning("no route answers %s (answered 404 as Parse Server does)", key)
