"""`livequery serve`: the console entry point."""
from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from typing import Iterator

import msgspec

from api.examples import AppFolder, find_app_folder, with_app_folder
from api.logs import configure_logging, scrubber_for
from api.settings import Settings, parse_settings, with_master_key


@contextlib.contextmanager
def fresh_data_dir(settings: Settings) -> Iterator[Settings]:
    """An example without --data-dir gets a new empty folder, removed when the server stops."""
    if settings.data_dir:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="livequery-example-") as folder:
        yield msgspec.structs.replace(settings, data_dir=folder)


def _example_lines(settings: Settings, folder: AppFolder) -> list[str]:
    base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    lines = [f"  example       {folder.name} ({folder.path})", f"  page          {base}{folder.page_url_path}"]
    summary = folder.seed_summary()
    if summary:
        lines.append(f"  try           {summary}")
    return lines


def _banner(settings: Settings, folder: AppFolder | None = None) -> str:
    ws_url = settings.server_url.replace("http://", "ws://").replace("https://", "wss://")
    store = settings.resolved_database_uri()
    bus = settings.redis_url or "in-process (set --redis-url to share events between processes)"
    return "\n".join([
        "LiveQuery Server",
        f"  REST API      {settings.server_url}",
        f"  LiveQuery     {ws_url}",
        *([f"  GraphQL       {settings.graphql_url}"] if settings.graphql_url else []),
        f"  health        {settings.server_url}/health",
        f"  app id        {settings.app_id}",
        f"  master key    kept in {settings.data_dir}/master.key (or --master-key / LIVEQUERY_MASTER_KEY)",
        f"  database      {store}",
        f"  event bus     {bus}",
        f"  workers       {settings.workers}",
        f"  metrics       {settings.server_url.removesuffix(settings.mount_path)}/metrics ({settings.metrics})",
        *([f"  cloud code    {settings.cloud}" + (" (reloaded on change: --dev)" if settings.dev else "")]
          if settings.cloud else []),
        *(_example_lines(settings, folder) if folder else []),
    ])


def _check_schema_file(settings: Settings) -> None:
    """A `--schema` file that cannot be imported stops the server before it starts, naming every problem."""
    from api.schema_cli import check_schema_file
    from storage.errors import ParseError

    try:
        check_schema_file(settings.schema_file, settings.resolved_database_uri())
    except ParseError as error:
        print(f"livequery serve --schema {settings.schema_file}: {error.message}", file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: livequery serve [options]   (livequery serve --help for the options)\n"
              "       livequery schema import FILE | livequery schema export [FILE]   (livequery schema --help)")
        raise SystemExit(0 if args else 2)
    if args[0] == "schema":
        from api import schema_cli

        schema_cli.main(args[1:])
        return
    if args[0] != "serve":
        print(f"unknown command {args[0]!r}; try: livequery serve --help", file=sys.stderr)
        raise SystemExit(2)
    settings = parse_settings(args[1:])
    folder = None
    if settings.example:
        try:
            folder = find_app_folder(settings.example)
        except ValueError as error:
            print(f"livequery serve: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        settings = with_app_folder(settings, folder)
    if settings.workers > 1 and not settings.redis_url:
        # each worker has its own hub and auth caches: without a shared bus, a write in one worker would reach
        # only that worker's subscribers, and a log-out only that worker's sessions
        print("--workers above 1 needs --redis-url: workers share LiveQuery events and log-outs through Redis",
              file=sys.stderr)
        raise SystemExit(2)
    with fresh_data_dir(settings) as served:
        if served.schema_file:  # checked against the database the server will use
            _check_schema_file(served)
        _serve(with_master_key(served), folder)


def _serve(settings: Settings, folder: AppFolder | None) -> None:
    configure_logging(settings.log_format, scrubber_for(settings))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the example's seed calls the app in-process, by httpx
    print(_banner(settings, folder), flush=True)

    from api.cloud.loader import CloudLoadError, load_cloud
    from api.serving import serve

    try:
        if settings.cloud and settings.workers > 1:
            load_cloud(settings.cloud)  # once here: a broken module must not send the workers into a respawn loop
        serve(settings)
    except CloudLoadError as error:  # at start-up, never at the first request
        print(f"livequery serve: cloud code error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
