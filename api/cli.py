"""`livequery serve`: the console entry point."""
from __future__ import annotations

import sys

from api.logs import configure_logging, scrubber_for
from api.settings import Settings, parse_settings, with_master_key


def _banner(settings: Settings) -> str:
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
    settings = with_master_key(parse_settings(args[1:]))
    if settings.schema_file:
        _check_schema_file(settings)
    if settings.workers > 1 and not settings.redis_url:
        # each worker has its own hub and auth caches: without a shared bus, a write in one worker would reach
        # only that worker's subscribers, and a log-out only that worker's sessions
        print("--workers above 1 needs --redis-url: workers share LiveQuery events and log-outs through Redis",
              file=sys.stderr)
        raise SystemExit(2)
    configure_logging(settings.log_format, scrubber_for(settings))
    print(_banner(settings), flush=True)

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
