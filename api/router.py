"""Routes Parse calls by method and path, for HTTP and for `/batch` sub-requests alike."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import msgspec

from api.request import Call

if TYPE_CHECKING:
    from api.services import Services


class Reply(msgspec.Struct):
    body: Any
    status: int = 200
    headers: dict[str, str] | None = None


Handler = Callable[[Call, "Services"], Awaitable[Reply]]


class NoRoute(Exception):
    pass


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler], str]] = []
        self.public_paths: set[str] = set()  # answered without an application id (health)

    def add(self, pattern: str, method: str, handler: Handler) -> None:
        """`pattern` uses `{name}` for one path segment, e.g. `/classes/{className}/{objectId}`."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")
        for existing, methods, _pattern in self._routes:
            if existing.pattern == regex.pattern:
                methods.setdefault(method, handler)  # the first registration of a route wins
                return
        self._routes.append((regex, {method: handler}, pattern))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        handler, params, _pattern = self.match(method, path)
        return handler, params

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str], str]:
        """The handler, path parameters and route pattern (`/classes/{className}`) for a call."""
        # A specific route may define only some methods (`/classes/_Role` POST/PUT): the others fall through to
        # the general route (`/classes/{className}`) registered after it.
        for regex, methods, pattern in self._routes:
            handler = methods.get(method)
            if handler is None:
                continue
            found = regex.match(path)
            if found is not None:
                return handler, found.groupdict(), pattern
        raise NoRoute(f"Cannot {method} {path}")

    def handles(self, method: str, path: str) -> bool:
        """Whether some route answers `method path` (e.g. `handles("GET", "/cloud_code/jobs")`)."""
        try:
            self.match(method, path)
        except NoRoute:
            return False
        return True
