"""Credentials to a Principal: application id, keys and session token, checked as Parse checks them."""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable

from api.request import Credentials, Unauthorized
from api.settings import Settings
from auth.principal import ANONYMOUS, MASTER, Principal

ResolveSession = Callable[[str], Awaitable[Principal]]


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())  # type: ignore[union-attr]


class Authenticator:
    def __init__(self, settings: Settings, resolve_session: ResolveSession) -> None:
        self._settings = settings
        self._resolve_session = resolve_session

    def check_app(self, credentials: Credentials) -> None:
        if not _same(credentials.app_id, self._settings.app_id):
            raise Unauthorized()

    async def principal(self, credentials: Credentials, *, use_session: bool = True) -> Principal:
        """Raises Unauthorized (403) for a wrong app id or key, ParseError 209 for a bad session token."""
        self.check_app(credentials)
        settings = self._settings
        if credentials.master_key:
            if _same(credentials.master_key, settings.master_key):
                return MASTER
            if _same(credentials.master_key, settings.read_only_master_key):
                return Principal(is_master=True, is_read_only_master=True)
            raise Unauthorized()
        if settings.has_client_keys():
            key = credentials.client_key
            if not any(_same(key, k) for k in (settings.javascript_key, settings.rest_api_key, settings.client_key)):
                raise Unauthorized()
        if use_session and credentials.session_token:
            return await self._resolve_session(credentials.session_token)
        return ANONYMOUS
