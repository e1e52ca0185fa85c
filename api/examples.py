"""App folders (`livequery serve --example NAME`): an app's schema, permissions, cloud code, seed data and web
page, put on the server at start-up.

A folder holds `schema.json` (the seeds' JSON schema format), `cloud.py` (Cloud Code), `app.json` (class-level
permissions, roles and unique fields), `seed.py` (`async def seed(parse)`, run once on an empty database through
the REST API) and `web/` (served at `/apps/NAME/`). The examples of the repository live in examples/NAME/.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.settings import Settings
from examples.client import ParseClient
from storage.query import MATCH_ALL
from storage.values import FieldType

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
VENDOR_DIR = EXAMPLES_DIR / "vendor"
COMMON_WEB_DIR = EXAMPLES_DIR / "web"  # what every example page shares
APPS_PATH = "/apps"


class AppFolder(msgspec.Struct, frozen=True):
    """An app folder on disk; `name` is its URL segment under /apps/."""

    name: str
    path: Path

    @property
    def schema_file(self) -> Path | None:
        return self._optional("schema.json")

    @property
    def cloud_file(self) -> Path | None:
        return self._optional("cloud.py")

    @property
    def page_url_path(self) -> str:
        return f"{APPS_PATH}/{self.name}/"

    def setup(self) -> AppSetup:
        file = self._optional("app.json")
        if file is None:
            return AppSetup()
        try:
            return msgspec.json.decode(file.read_bytes(), type=AppSetup)
        except msgspec.DecodeError as error:
            raise ValueError(f"{file}: {error}") from None

    def seed_summary(self) -> str:
        """What the seed module says a visitor can log in as (its `SUMMARY`), or ''."""
        module = self.seed_module()
        return str(getattr(module, "SUMMARY", "")) if module else ""

    def seed_module(self) -> Any:
        file = self._optional("seed.py")
        if file is None:
            return None
        spec = importlib.util.spec_from_file_location(f"livequery_app_seed_{self.name}", file)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {file}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def _optional(self, name: str) -> Path | None:
        file = self.path / name
        return file if file.exists() else None


class AppSetup(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """app.json: what the schema format does not say. `unique_fields` are String fields the store keeps unique
    (a second object with the same value is refused with 137, also when both are written at the same moment)."""

    class_level_permissions: dict[str, dict[str, Any]] = {}
    roles: list[str] = []
    unique_fields: dict[str, list[str]] = {}


def available_examples() -> list[str]:
    return sorted(p.name for p in EXAMPLES_DIR.iterdir()
                  if p.is_dir() and (p / "schema.json").exists() and not p.name.startswith(("_", ".")))


def find_app_folder(name_or_path: str) -> AppFolder:
    """An example of the repository by name, or any app folder by path. ValueError names the examples."""
    candidate = Path(name_or_path)
    if "/" not in name_or_path and (EXAMPLES_DIR / name_or_path / "schema.json").exists():
        return AppFolder(name_or_path, EXAMPLES_DIR / name_or_path)
    if candidate.is_dir() and (candidate / "schema.json").exists():
        return AppFolder(candidate.resolve().name, candidate.resolve())
    raise ValueError(f"no example app {name_or_path!r}: choose one of {', '.join(available_examples())} "
                     "or give the path of a folder with a schema.json")


def with_app_folder(settings: Settings, folder: AppFolder) -> Settings:
    """The folder's schema file and cloud code, unless --schema / --cloud name others."""
    values: dict[str, Any] = {}
    if not settings.schema_file and folder.schema_file:
        values["schema_file"] = str(folder.schema_file)
    if not settings.cloud and folder.cloud_file:
        values["cloud"] = str(folder.cloud_file)
    return msgspec.structs.replace(settings, **values) if values else settings


# --- start-up --------------------------------------------------------------------------------------------------

async def prepare(app: Any, services: Services, folder: AppFolder) -> None:
    """Unique fields, roles and permissions, then the seed data if the database has no user yet."""
    setup = folder.setup()
    for class_name, fields in setup.unique_fields.items():
        await services.store.ensure_fields(class_name, {name: FieldType("String") for name in fields})
        for name in fields:
            await services.store.ensure_unique(class_name, name)
        await services.schemas.all()  # the classes just made are known to the cache
    is_fresh = await services.store.count("_User", MATCH_ALL) == 0
    async with in_process_client(app, services.settings) as parse:
        for role in setup.roles:
            if not await parse.find("_Role", {"name": role}, master=True):
                await parse.request("POST", "/roles", {"name": role, "ACL": {"*": {"read": True}}}, master=True)
        for class_name, clp in setup.class_level_permissions.items():
            await parse.request("PUT", f"/schemas/{class_name}", {"classLevelPermissions": clp}, master=True)
        if is_fresh:
            module = folder.seed_module()
            if module is not None:
                log.info("seeding the %s example", folder.name)
                await module.seed(parse)


def in_process_client(app: Any, settings: Settings) -> ParseClient:
    """A REST client that calls this app in-process, through the same HTTP handling as any client."""
    return ParseClient(f"http://in-process{settings.mount_path}", settings.app_id, master_key=settings.master_key,
                       javascript_key=settings.javascript_key, transport=httpx.ASGITransport(app=app))


# --- the web page ----------------------------------------------------------------------------------------------

def web_routes(settings: Settings, folder: AppFolder) -> list[BaseRoute]:
    """`/apps/NAME/` (the folder's web/), its `config.js` (how the page reaches this server) and the vendored
    Parse JS SDK under `/apps/vendor/` and the pages' shared scripts under `/apps/common/`, so the page loads
    nothing from the internet."""
    page = folder.path / "web"

    async def config(request: Request) -> Response:
        values = {"appId": settings.app_id, "javascriptKey": settings.javascript_key or "",
                  "mountPath": settings.mount_path}
        return Response(f"window.LIVEQUERY_CONFIG = {json.dumps(values)};\n", media_type="text/javascript",
                        headers={"Cache-Control": "no-store"})

    async def to_page(request: Request) -> Response:
        return RedirectResponse(folder.page_url_path)

    return [
        Route(f"{APPS_PATH}/{folder.name}/config.js", config),
        Route(f"{APPS_PATH}/{folder.name}", to_page),
        Mount(f"{APPS_PATH}/vendor", StaticFiles(directory=VENDOR_DIR)),
        Mount(f"{APPS_PATH}/common", StaticFiles(directory=COMMON_WEB_DIR)),
        Mount(f"{APPS_PATH}/{folder.name}", StaticFiles(directory=page, html=True)),
    ]
