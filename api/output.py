"""Stored documents to what a client may see: internal keys, secrets and protected fields removed."""
from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import quote

from auth.principal import Principal
from storage.schema import ClassSchema
from storage.required import is_delete

_USER_SECRETS = ("password", "sessionToken", "authData")


def to_rest(document: dict[str, Any], class_name: str, principal: Principal,
            hidden: Iterable[str] = (), files_url: str | None = None,
            file_fields: Iterable[str] | None = None) -> dict[str, Any]:
    """A copy of `document` fit for `principal`. Never mutates its input (events share one document).

    Files get their URL under `files_url` (see `with_file_urls`): those of `file_fields` (the schema's, from
    `file_fields_of`), or of any field when not given.
    """
    out = {key: value for key, value in document.items() if key[:1] != "_"}
    if files_url is not None and file_fields != ():
        out = with_file_urls(out, files_url, out if file_fields is None else file_fields)
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

_FILE_FIELDS: dict[str, tuple[ClassSchema, tuple[str, ...]]] = {}


def file_fields_of(schema: ClassSchema) -> tuple[str, ...]:
    """The class's File fields, remembered per schema version (a class without any costs one look-up)."""
    known = _FILE_FIELDS.get(schema.class_name)
    if known is None or known[0] is not schema:
        known = _FILE_FIELDS[schema.class_name] = (
            schema, tuple(name for name, kind in schema.fields.items() if kind.type == "File"))
    return known[1]


def file_url(files_url: str, name: str) -> str:
    return f"{files_url}/{quote(name, safe='')}"


def with_file_urls(document: dict[str, Any], files_url: str, fields: Iterable[str]) -> dict[str, Any]:
    """`document` with each File among `fields` given its URL under `files_url`, as Parse Server computes it on
    every read: a stored or client-sent URL is never trusted (and `--public-url` may have changed since). Returns
    `document` itself when it holds no File, else a copy."""
    out = document
    for key in fields:
        value = document.get(key)
        if isinstance(value, dict) and value.get("__type") == "File" and isinstance(value.get("name"), str):
            if out is document:
                out = dict(document)
            out[key] = {"__type": "File", "name": value["name"], "url": file_url(files_url, value["name"])}
    return out


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
