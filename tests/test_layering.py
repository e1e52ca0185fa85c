"""The packages build on each other in one direction: storage ← auth ← livequery ← api (the composition root).
Read from the source with `ast`, so every import counts: lazy ones inside functions and TYPE_CHECKING ones too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "auth", "livequery", "api", "examples")

# What each package may import of ours (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "storage": frozenset(),
    "auth": frozenset({"storage"}),
    "livequery": frozenset({"storage", "auth"}),
    "api": frozenset(PACKAGES),
    "examples": frozenset(PACKAGES),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of the modules `source` imports; relative imports are resolved against `module`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
                continue
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            names.add(".".join([*base, node.module] if node.module else base))
    return names


def our_modules(root: Path = ROOT) -> list[Path]:
    return sorted(path for package in PACKAGES if (root / package).is_dir()
                  for path in (root / package).rglob("*.py"))


def violations(package: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in our_modules(root):
        module = module_name(path, root)
        if module.split(".")[0] != package:
            continue
        for imported in imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            top = imported.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                found.append(f"{path.relative_to(root)} imports {imported}")
    return found


def test_the_rules_see_the_modules() -> None:
    modules = {module_name(path) for path in our_modules()}
    assert {"storage", "auth", "livequery"} <= modules, "the layering test found none of our packages"


@pytest.mark.parametrize("package", ["storage", "auth", "livequery"])
def test_package_imports_only_the_layers_below_it(package: str) -> None:
    allowed = ", ".join(sorted(ALLOWED[package])) or "nothing of ours"
    assert violations(package) == [], f"{package} may import {allowed}"


def test_imports_are_resolved_to_absolute_names() -> None:
    source = "import storage.query\nfrom auth import acl\nfrom . import memory\nfrom ..api.app import x\n" \
             "def later():\n    from api import cli\n"
    assert imported_modules(source, "livequery.bus.redis", is_package=False) == {
        "storage.query", "auth", "livequery.bus", "livequery.api.app", "api",
    }
    assert imported_modules("from .redis import RedisBus", "livequery.bus", is_package=True) == {
        "livequery.bus.redis"
    }


def test_an_import_against_the_layers_is_reported(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "sqlite.py").write_text("def f():\n    from auth.acl import check\n")
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "__init__.py").write_text("from livequery.hub import Hub\nimport storage\n")
    assert violations("storage", tmp_path) == ["storage/sqlite.py imports auth.acl"]
    assert violations("auth", tmp_path) == ["auth/__init__.py imports livequery.hub"]
