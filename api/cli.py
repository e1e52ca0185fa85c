"""`livequery serve`: the console entry point."""
from __future__ import annotations

import logging
import sys

from api.settings import Settings, parse_settings, with_master_key


def _banner(settings: Settings) -> str:
    ws_url = settings.server_url.replace("http://", "ws://").replace("https://", "wss://")
    store = settings.resolved_database_uri()
    bus = settings.redis_url or "in-process (set --redis-url to share events between processes)"
    return "\n".join([
        "LiveQuery Server",
        f"  REST API      {settings.server_url}",
        f"  LiveQuery     {ws_url}",
        f"  health        {settings.server_url}/health",
        f"  app id        {settings.app_id}",
        f"  master key    kept in {settings.data_dir}/master.key (or --master-key / LIVEQUERY_MASTER_KEY)",
        f"  database      {store}",
        f"  event bus     {bus}",
        *([f"  cloud code    {settings.cloud}" + (" (reloaded on change: --dev)" if settings.dev else "")]
          if settings.cloud else []),
    ])


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: livequery serve [options]   (livequery serve --help for the options)")
        raise SystemExit(0 if args else 2)
    if args[0] != "serve":
        print(f"unknown command {args[0]!r}; try: livequery serve --help", file=sys.stderr)
        raise SystemExit(2)
    settings = with_master_key(parse_settings(args[1:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(_banner(settings), flush=True)

    import uvicorn

    from api.app import create_app
    from api.cloud.loader import CloudLoadError

    try:
        app = create_app(settings)
    except CloudLoadError as error:  # at start-up, never at the first request
        print(f"livequery serve: cloud code error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                loop="auto", http="auto", ws="websockets-sansio", proxy_headers=False,
                # permessage-deflate compresses every frame once per client: with it on, a fan-out event is
                # re-encoded for each subscriber (a sixth of the server's CPU in benchmarks/fanout.py)
                ws_per_message_deflate=False,
                ws_ping_interval=settings.websocket_ping_seconds, ws_ping_timeout=settings.websocket_ping_seconds)


if __name__ == "__main__":
    main()
