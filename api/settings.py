"""Server settings: one frozen struct, read from flags and `LIVEQUERY_*` environment variables once at start."""
from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True):
    app_id: str = "livequery"
    master_key: str = ""
    javascript_key: str | None = None
    rest_api_key: str | None = None
    client_key: str | None = None
    read_only_master_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 1337
    mount_path: str = "/parse"
    public_url: str | None = None
    database_uri: str = ""
    redis_url: str = ""
    data_dir: str = "./data"
    live_classes: tuple[str, ...] | None = None  # None = every class
    allow_client_class_creation: bool = False
    enforce_private_users: bool = True
    session_length_seconds: int = 31_536_000
    max_body_bytes: int = 20 * 1024 * 1024
    default_limit: int = 100
    max_limit: int | None = None
    websocket_ping_seconds: float = 10.0
    client_queue_frames: int = 1000
    example: str | None = None  # an app folder to serve: a name under examples/ or a path (api/examples.py)
    schema_file: str = ""  # a schema file imported at start-up (`livequery schema import` semantics)
    cloud: str = ""  # the cloud code module (a .py file); empty: none
    dev: bool = False  # reload the cloud module when its file changes
    cloud_after_timeout: float = 10.0  # seconds an after-trigger may take before it is abandoned (and logged)
    cloud_route_prefix: str = "/cloud"  # where @cloud.route endpoints are served
    webhook_key: str | None = None  # sent as X-Parse-Webhook-Key to webhooks registered through /hooks

    @property
    def server_url(self) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + self.mount_path

    def has_client_keys(self) -> bool:
        return any((self.javascript_key, self.rest_api_key, self.client_key))

    def resolved_database_uri(self) -> str:
        return self.database_uri or f"sqlite:///{Path(self.data_dir) / 'livequery.db'}"


_OPTIONS: list[tuple[str, str, type, str]] = [
    ("host", "--host", str, "interface to listen on"),
    ("port", "--port", int, "TCP port"),
    ("mount_path", "--mount-path", str, "URL prefix of the Parse API"),
    ("app_id", "--app-id", str, "application id clients send"),
    ("master_key", "--master-key", str, "master key (generated once and kept in the data folder if unset)"),
    ("javascript_key", "--javascript-key", str, "client key for the JS SDK (unset: not required)"),
    ("rest_api_key", "--rest-api-key", str, "REST API key (unset: not required)"),
    ("client_key", "--client-key", str, "client key for iOS/Android SDKs (unset: not required)"),
    ("read_only_master_key", "--read-only-master-key", str, "a master key that may read but not write"),
    ("database_uri", "--database-uri", str, "sqlite:///path.db (default: data folder) or mongodb://..."),
    ("redis_url", "--redis-url", str, "redis://host:port to share LiveQuery events between processes"),
    ("data_dir", "--data-dir", str, "folder for the embedded database and the generated master key"),
    ("public_url", "--public-url", str, "the URL clients use, if not http://host:port"),
    ("live_classes", "--live-classes", str, "comma-separated classes that publish LiveQuery events (default all)"),
    ("schema_file", "--schema", str, "a schema file (JSON) whose classes are created or updated at start-up"),
    ("example", "--example", str, "serve an example app (event_registration, ...) with its schema, cloud code, "
     "permissions, seed data and page, on a fresh data folder unless --data-dir is given"),
    ("cloud", "--cloud", str, "cloud code module (path/to/cloud.py) defining `cloud = Cloud()`"),
    ("webhook_key", "--webhook-key", str, "key sent as X-Parse-Webhook-Key to webhooks (/hooks)"),
    ("cloud_after_timeout", "--cloud-after-timeout", float,
     "seconds an after_save/after_delete/after_login hook may run before it is abandoned (default 10)"),
]
_FLAGS = [
    ("allow_client_class_creation", "--allow-client-class-creation",
     "let clients create classes on first write (default: master key only, as Parse 7)"),
    ("dev", "--dev", "development: reload the --cloud module whenever its file changes"),
]


def parse_settings(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Flags win over `LIVEQUERY_<NAME>` environment variables, which win over defaults."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="livequery serve", description="Serve the Parse-compatible API.")
    for name, flag, kind, help_text in _OPTIONS:
        parser.add_argument(flag, dest=name, type=kind, default=None, help=help_text)
    for name, flag, help_text in _FLAGS:
        parser.add_argument(flag, dest=name, action="store_true", default=None, help=help_text)
    args = parser.parse_args(argv)
    values: dict[str, object] = {}
    for name, _flag, kind, _help in _OPTIONS:
        raw = getattr(args, name)
        if raw is None and f"LIVEQUERY_{name.upper()}" in env:
            raw = kind(env[f"LIVEQUERY_{name.upper()}"])
        if raw is not None:
            values[name] = raw
    for name, _flag, _help in _FLAGS:
        raw = getattr(args, name)
        if raw is None and f"LIVEQUERY_{name.upper()}" in env:
            raw = env[f"LIVEQUERY_{name.upper()}"].lower() in ("1", "true", "yes", "on")
        if raw is not None:
            values[name] = raw
    if isinstance(values.get("live_classes"), str):
        listed = tuple(c.strip() for c in str(values["live_classes"]).split(",") if c.strip())
        values["live_classes"] = listed or None
    if values.get("example") and "data_dir" not in values:
        values["data_dir"] = ""  # a fresh folder, made by the CLI at start (see `fresh_data_dir`)
    mount = str(values.get("mount_path", "/parse"))
    values["mount_path"] = "/" + mount.strip("/") if mount.strip("/") else ""
    return Settings(**values)  # type: ignore[arg-type]


def with_master_key(settings: Settings) -> Settings:
    """A master key that is not given is generated once and kept in the data folder, never a fixed default."""
    if settings.master_key:
        return settings
    key_file = Path(settings.data_dir) / "master.key"
    if key_file.exists():
        key = key_file.read_text().strip()
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return msgspec.structs.replace(settings, master_key=key)
