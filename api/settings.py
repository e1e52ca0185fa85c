"""Server settings: one frozen struct, read from flags and `LIVEQUERY_*` environment variables once at start."""
from __future__ import annotations

import argparse
import os
import re
import secrets
from pathlib import Path
from typing import Callable

import msgspec

from api.files.policy import DEFAULT_FILE_EXTENSIONS, parse_size


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
    # (class, window ms): LiveQuery updates of these classes are coalesced (livequery/coalesce.py); they win over
    # cloud code's live_query_options for the same class, and 0 turns a class's coalescing off
    coalesce: tuple[tuple[str, float], ...] = ()
    allow_client_class_creation: bool = False
    enforce_private_users: bool = True
    session_length_seconds: int = 31_536_000
    max_body_bytes: int = 20 * 1024 * 1024
    default_limit: int = 100
    max_limit: int | None = None
    websocket_ping_seconds: float = 10.0
    # An idle HTTP connection is closed by the server after this long. Longer than the idle expiry of clients'
    # connection pools (httpx 5 s) and of load balancers (AWS ALB 60 s): whoever closes an idle connection must
    # be the client, since a server closing it as the client sends a request fails that request.
    keep_alive_seconds: float = 75.0
    # LiveQuery resumes (livequery/resume.py): the history kept per class, by age and count, and how often
    # clients are asked (by a websocket ping) to acknowledge what they read
    live_history_seconds: float = 120.0
    live_history_events: int = 10_000
    live_ack_seconds: float = 1.0
    client_queue_frames: int = 1000
    # A LiveQuery client may hold this many bytes of undelivered events (queued here and in the socket's
    # write buffer) before it is closed with 4008: a reader that stopped never grows the server.
    client_buffer_bytes: int = 1 << 20
    max_subscriptions_per_client: int = 1000
    # Request bounds (storage.limits bounds `where`): Parse 9's requestComplexity.includeDepth/.includeCount,
    # the keys a query may name, the requests of one /batch, and the bytes of one response.
    include_depth: int = 10
    include_count: int = 100
    max_keys: int = 1000
    batch_limit: int = 100
    max_response_bytes: int = 64 << 20
    example: str | None = None  # an app folder to serve: a name under examples/ or a path (api/examples.py)
    schema_file: str = ""  # a schema file imported at start-up (`livequery schema import` semantics)
    # files (Parse's maxUploadSize and fileUpload options, Parse 9 defaults)
    max_upload_size: int = 20 * 1024 * 1024
    file_upload_public: bool = False
    file_upload_anonymous: bool = False
    file_upload_authenticated: bool = True
    file_extensions: tuple[str, ...] = DEFAULT_FILE_EXTENSIONS
    graphql_path: str = "/graphql"
    no_graphql: bool = False
    graphql_max_depth: int = 20  # -1: no limit
    graphql_max_fields: int = 500
    graphql_public_introspection: bool = False

    @property
    def graphql_url(self) -> str | None:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return None if self.no_graphql else base.rstrip("/") + self.graphql_path
    workers: int = 1
    shutdown_seconds: float = 5.0  # SIGTERM: in-flight requests get this long, then the process exits anyway
    log_format: str = "text"  # or "json": one object per line
    log_requests: bool = False
    log_buffer_lines: int = 1000  # recent lines kept for /scriptlog
    metrics: str = "master"  # GET /metrics: "master" (master key), "public", or "off"
    cloud: str = ""  # the cloud code module (a .py file); empty: none
    dev: bool = False  # reload the cloud module when its file changes
    cloud_after_timeout: float = 10.0  # seconds an after-trigger may take before it is abandoned (and logged)
    cloud_route_prefix: str = "/cloud"  # where @cloud.route endpoints are served
    webhook_key: str | None = None  # sent as X-Parse-Webhook-Key to webhooks registered through /hooks

    @property
    def server_url(self) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/") + self.mount_path

    @property
    def files_url(self) -> str:
        """Where files are served: `<server url>/files/<app id>/<name>`, as Parse Server's file adapters say."""
        return f"{self.server_url}/files/{self.app_id}"

    def has_client_keys(self) -> bool:
        return any((self.javascript_key, self.rest_api_key, self.client_key))

    def resolved_database_uri(self) -> str:
        return self.database_uri or f"sqlite:///{Path(self.data_dir) / 'livequery.db'}"


def _listed(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _coalescing(text: str) -> tuple[tuple[str, float], ...]:
    """`ReactionCount=250,Score=100`: each class's coalescing window in milliseconds (0: off)."""
    windows = []
    for part in _listed(text):
        class_name, _, milliseconds = part.partition("=")
        class_name = class_name.strip()
        try:
            window = float(milliseconds)
        except ValueError:
            window = -1.0
        if not _CLASS_NAME.fullmatch(class_name) or not 0 <= window <= 60_000:
            raise argparse.ArgumentTypeError(
                f"{part!r}: use CLASS=MS, a class name and a window of 0 (off) to 60000 milliseconds")
        windows.append((class_name, window))
    return tuple(windows)


_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _yes(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"not true or false: {text!r}")
    return lowered in ("1", "true", "yes", "on")


_OPTIONS: list[tuple[str, str, Callable[[str], object], str]] = [
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
    ("coalesce", "--coalesce", _coalescing, "coalesce LiveQuery updates: CLASS=MS[,CLASS=MS...], at most one "
     "update per subscriber and object per MS milliseconds, the latest (wins over cloud code; 0: off)"),
    ("schema_file", "--schema", str, "a schema file (JSON) whose classes are created or updated at start-up"),
    ("max_upload_size", "--max-upload-size", parse_size, "largest file upload, e.g. 20mb (default), 512kb"),
    ("file_upload_public", "--file-upload-public", _yes, "true: anyone may upload files (default false)"),
    ("file_upload_anonymous", "--file-upload-anonymous", _yes, "true: anonymous users may upload (default false)"),
    ("file_upload_authenticated", "--file-upload-authenticated", _yes,
     "false: signed-in users may not upload (default true)"),
    ("file_extensions", "--file-extensions", str,
     "comma-separated regexes an upload's extension must match, * = any (default: refuse html, svg, xml...)"),
    ("websocket_ping_seconds", "--websocket-ping-seconds", float,
     "seconds between pings of LiveQuery sockets; one not answered within as long is closed (default 10)"),
    ("keep_alive_seconds", "--keep-alive-seconds", float,
     "seconds an idle HTTP connection is kept open (default 75: longer than clients' and load balancers')"),
    ("live_history_seconds", "--live-history-seconds", float,
     "seconds of LiveQuery events kept per class for clients that reconnect (default 120; 0: no resumes)"),
    ("live_history_events", "--live-history-events", int,
     "LiveQuery events kept per class for clients that reconnect (default 10000)"),
    ("live_ack_seconds", "--live-ack-seconds", float,
     "seconds between pings by which LiveQuery clients acknowledge what they read (default 1)"),
    ("graphql_path", "--graphql-path", str, "path of the GraphQL endpoint (default /graphql)"),
    ("graphql_max_depth", "--graphql-max-depth", int, "deepest GraphQL selection allowed (default 20, -1: any)"),
    ("graphql_max_fields", "--graphql-max-fields", int, "most GraphQL fields in one request (default 500, -1: any)"),
    ("workers", "--workers", int, "server processes sharing the port (more than 1 needs --redis-url)"),
    ("shutdown_seconds", "--shutdown-seconds", float, "on SIGTERM, how long in-flight requests may take"),
    ("log_format", "--log-format", str, "text (default) or json: one JSON object per log line"),
    ("log_buffer_lines", "--log-buffer-lines", int, "recent log lines kept in memory for /scriptlog"),
    ("metrics", "--metrics", str, "GET /metrics (Prometheus): master (needs the master key), public, or off"),
    ("example", "--example", str, "serve an example app (event_registration, ...) with its schema, cloud code, "
     "permissions, seed data and page, on a fresh data folder unless --data-dir is given"),
    ("cloud", "--cloud", str, "cloud code module (path/to/cloud.py) defining `cloud = Cloud()`"),
    ("webhook_key", "--webhook-key", str, "key sent as X-Parse-Webhook-Key to webhooks (/hooks)"),
    ("cloud_after_timeout", "--cloud-after-timeout", float,
     "seconds an after_save/after_delete/after_login hook may run before it is abandoned (default 10)"),
    ("batch_limit", "--batch-limit", int, "requests one /batch may hold (default 100)"),
    ("include_depth", "--include-depth", int, "dotted levels of one `include` path (default 10)"),
    ("include_count", "--include-count", int, "`include` paths of one query (default 100)"),
    ("max_subscriptions_per_client", "--max-subscriptions", int,
     "LiveQuery subscriptions one socket may hold (default 1000)"),
    ("client_buffer_bytes", "--client-buffer-bytes", int,
     "undelivered LiveQuery bytes a client may hold before it is closed with 4008 (default 1 MiB)"),
]
_FLAGS = [
    ("allow_client_class_creation", "--allow-client-class-creation",
     "let clients create classes on first write (default: master key only, as Parse 7)"),
    ("no_graphql", "--no-graphql", "do not serve the GraphQL API"),
    ("graphql_public_introspection", "--graphql-public-introspection",
     "let clients without the master key introspect the GraphQL schema"),
    ("log_requests", "--log-requests", "log one line per request (method, route, status, duration, request id)"),
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
        values["live_classes"] = _listed(str(values["live_classes"])) or None
    if isinstance(values.get("file_extensions"), str):
        values["file_extensions"] = _listed(str(values["file_extensions"]))
    _check_choice(parser, values, "log_format", ("text", "json"))
    _check_choice(parser, values, "metrics", ("master", "public", "off"))
    if values.get("example") and "data_dir" not in values:
        values["data_dir"] = ""  # a fresh folder, made by the CLI at start (see `fresh_data_dir`)
    mount = str(values.get("mount_path", "/parse"))
    values["mount_path"] = "/" + mount.strip("/") if mount.strip("/") else ""
    if "graphql_path" in values:
        values["graphql_path"] = "/" + str(values["graphql_path"]).strip("/")
    return Settings(**values)  # type: ignore[arg-type]


def _check_choice(parser: argparse.ArgumentParser, values: dict[str, object], name: str,
                  choices: tuple[str, ...]) -> None:
    if name in values and values[name] not in choices:
        parser.error(f"--{name.replace('_', '-')} must be one of {', '.join(choices)}")


def with_master_key(settings: Settings) -> Settings:
    """A master key that is not given is generated once and kept in the data folder, never a fixed default."""
    if settings.master_key:
        return settings
    key_file = Path(settings.data_dir) / "master.key"
    if key_file.exists():
        key = key_file.read_text().strip()
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)  # hex: never starts with "-", so `--master-key KEY` always parses
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return msgspec.structs.replace(settings, master_key=key)
