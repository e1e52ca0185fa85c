"""Stored documents to what a client may see: internal keys, secrets and protected fields removed."""
from __future__ import annotations

from typing import Any, Iterable

from auth.principal import Principal
from storage.required import is_delete

_USER_SECRETS = ("password", "sessionToken", "authData")


def to_rest(document: dict[str, Any], class_name: str, principal: Principal,
            hidden: Iterable[str] = (), files_url: str | None = None) -> dict[str, Any]:
    """A copy of `document` fit for `principal`. Never mutates its input (events share one document).

    A File stored by name only (as Parse Server stores them in MongoDB) gets its URL under `files_url`.
    """
    out = {key: value for key, value in document.items() if not key.startswith("_")}
    if files_url is not None:
        for key, value in out.items():
            if isinstance(value, dict) and value.get("__type") == "File" and "url" not in value:
                out[key] = {**value, "url": f"{files_url}/{value.get('name')}"}
    for key in hidden:
        out.pop(key, None)
    if class_name == "_User":
        out.pop("password", None)
        is_self = principal.user_id is not None and principal.user_id == document.get("objectId")
        if not is_self:
            out.pop("sessionToken", None)
            if not principal.is_master:
                out.pop("authData", None)
    return out


_CREATE_ANSWERED = frozenset({"objectId", "createdAt", "updatedAt", "ACL"})


def set_by_server(document: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """Fields of a created object whose value the client did not send (defaults, also for a `Delete` op):
    Parse answers them with `objectId` and `createdAt` so the SDK's object holds them too."""
    return {key: value for key, value in document.items()
            if key not in _CREATE_ANSWERED and not key.startswith("_")
            and (key not in sent or is_delete(sent[key]))}



def project(document: dict[str, Any], keys: list[str] | None, exclude: list[str] | None) -> dict[str, Any]:
    """Parse's `keys` / `excludeKeys`: the four system fields always stay."""
    if keys is None and not exclude:
        return document
    always = ("objectId", "createdAt", "updatedAt", "ACL")
    if keys is not None:
        wanted = {k.split(".")[0] for k in keys}
        document = {k: v for k, v in document.items() if k in wanted or k in always}
    if exclude:
        document = {k: v for k, v in document.items() if k not in exclude or k in always}
    return document
