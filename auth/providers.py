"""Third-party log-in (`authData`): the provider seam and the providers this server has.

A provider checks the auth data a client sends for it and answers the user's id at that provider; `authData` is
stored on `_User` keyed by provider (`_auth_data_<provider>` in MongoDB, as Parse stores it), and a user is
found again by `authData.<provider>.id`. Providers that check a token with their issuer (Apple, Google,
Facebook, ...) plug in by implementing `AuthProvider`; only `anonymous` exists today.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from storage.errors import ErrorCode, ParseError


class AuthProvider(Protocol):
    name: str

    async def validate(self, data: Mapping[str, Any]) -> str:
        """The user's id at this provider if `data` proves it; ParseError otherwise."""
        ...


class AnonymousProvider:
    """`Parse.AnonymousUtils.logIn()`: the client makes up a random id; whoever holds it is that user."""

    name = "anonymous"

    async def validate(self, data: Mapping[str, Any]) -> str:
        identifier = data.get("id")
        if not isinstance(identifier, str) or not identifier:
            raise ParseError(ErrorCode.OBJECT_NOT_FOUND, "Invalid anonymous auth data: id is required.")
        return identifier


class AuthProviders:
    """The providers a server accepts, by name."""

    def __init__(self, providers: list[AuthProvider] | None = None) -> None:
        chosen = providers if providers is not None else [AnonymousProvider()]
        self._providers = {provider.name: provider for provider in chosen}

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    async def validate(self, auth_data: Any) -> dict[str, str]:
        """{provider: id} for every provider given auth data (a `null` entry means unlink and is skipped);
        252 for a provider this server does not have, 101 for auth data its provider refuses."""
        if not isinstance(auth_data, dict):
            raise ParseError(ErrorCode.INVALID_JSON, "authData must be an object")
        ids: dict[str, str] = {}
        for name, data in auth_data.items():
            if data is None:
                continue
            provider = self._providers.get(name)
            if provider is None:
                raise ParseError(ErrorCode.UNSUPPORTED_SERVICE, "This authentication method is unsupported.")
            if not isinstance(data, dict):
                raise ParseError(ErrorCode.INVALID_JSON, f"authData.{name} must be an object")
            ids[name] = await provider.validate(data)
        return ids
