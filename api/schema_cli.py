"""`livequery schema import FILE` and `livequery schema export [FILE]`: schema files against the database that
`livequery serve` would use (same `--database-uri` / `--data-dir` flags and `LIVEQUERY_*` variables)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from api.schema_import import export_schema, import_schema, load_schema_file
from api.services import open_store
from api.settings import Settings
from storage.adapter import StorageAdapter
from storage.errors import ParseError

USAGE = "livequery schema import FILE [--dry-run] | livequery schema export [FILE] [--format seed|parse]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livequery schema", description="Import or export class schemas.",
                                     usage=USAGE)
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="create or update classes from a schema file (idempotent)")
    importing.add_argument("file", help='a JSON file {"classes": [...]} or Parse\'s GET /schemas answer')
    importing.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    exporting = commands.add_parser("export", help="write every class as a schema file")
    exporting.add_argument("file", nargs="?", default="-", help="where to write (default: standard output)")
    exporting.add_argument("--format", choices=("seed", "parse"), default="seed",
                           help='seed: {"classes": [...]} as the template pages; parse: GET /schemas\'s answer')
    for sub in (importing, exporting):
        sub.add_argument("--database-uri", default=None, help="sqlite:///path.db or mongodb://... (as serve)")
        sub.add_argument("--data-dir", default=None, help="folder of the embedded database (as serve)")
    return parser


def database_uri(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The database `livequery serve` would open with the same flags and environment."""
    uri = args.database_uri or environ.get("LIVEQUERY_DATABASE_URI", "")
    data_dir = args.data_dir or environ.get("LIVEQUERY_DATA_DIR") or Settings().data_dir
    return Settings(database_uri=uri, data_dir=data_dir).resolved_database_uri()


def _opened_store(uri: str) -> StorageAdapter:
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return open_store(uri)


def check_schema_file(path: str, uri: str) -> None:
    """What `serve --schema` runs before starting: the whole import, dry, against the database; a
    SchemaFileError names every problem."""
    async def dry_run() -> None:
        data = load_schema_file(path)
        store = _opened_store(uri)
        await store.open()
        try:
            await import_schema(data, store, dry_run=True)
        finally:
            await store.close()

    asyncio.run(dry_run())


async def _run(args: argparse.Namespace, uri: str) -> list[str]:
    data = load_schema_file(args.file) if args.command == "import" else None
    store = _opened_store(uri)
    await store.open()
    try:
        if args.command == "import":
            report = await import_schema(data, store, dry_run=args.dry_run)
            return report.lines()
        exported: Any = await export_schema(store, parse_format=args.format == "parse")
    finally:
        await store.close()
    text = json.dumps(exported, indent=2) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
        return []
    Path(args.file).write_text(text, encoding="utf-8")
    return [f"wrote {len(exported.get('classes', exported.get('results', [])))} classes to {args.file}"]


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> None:
    args = _parser().parse_args(argv)
    uri = database_uri(args, os.environ if environ is None else environ)
    try:
        lines = asyncio.run(_run(args, uri))
    except ParseError as error:
        print(f"livequery schema {args.command}: {error.message}", file=sys.stderr)
        raise SystemExit(1) from None
    for line in lines:
        print(line, file=sys.stderr if args.command == "export" else sys.stdout)
