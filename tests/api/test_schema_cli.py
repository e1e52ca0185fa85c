"""`livequery schema import|export` as a user runs it: a real process on the database `serve` would use."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api import cli
from tests.api.test_schema_import import SEED_PAGES, seed_schema
from tests.storage.mongo_server import switched_database_uri

REPO = Path(__file__).resolve().parents[2]


def livequery(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def database(tmp_path: Path) -> list[str]:
    """`--database-uri` of this test's database (SQLite, or MongoDB under LIVEQUERY_TEST_STORE=mongodb)."""
    return ["--database-uri", switched_database_uri(tmp_path) or f"sqlite:///{tmp_path / 'cli.db'}"]


def test_import_of_a_seed_page_prints_what_it_changed_and_a_second_run_nothing(database: list[str]) -> None:
    first = livequery("schema", "import", str(SEED_PAGES[1]), *database)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "Appointment: created with service (Pointer<Service>, required), customer (Pointer<_User>, required), " \
           "provider (Pointer<_User>, required), appointmentDate (Date, required), status (String, required)" in lines
    assert any(line.startswith("_User: created with username (String, required)") for line in lines)
    second = livequery("schema", "import", str(SEED_PAGES[1]), *database)
    assert second.returncode == 0, second.stderr
    assert "nothing to change: the database already has this schema" in second.stdout.splitlines()


def test_export_writes_the_seed_format(database: list[str], tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(seed_schema(SEED_PAGES[2])))
    assert livequery("schema", "import", str(schema_file), *database).returncode == 0
    exported = livequery("schema", "export", *database)
    assert exported.returncode == 0, exported.stderr
    classes = {entry["className"]: entry for entry in json.loads(exported.stdout)["classes"]}
    assert classes == {entry["className"]: entry for entry in seed_schema(SEED_PAGES[2])["classes"]}
    as_parse = livequery("schema", "export", str(tmp_path / "parse.json"), "--format", "parse", *database)
    assert as_parse.returncode == 0, as_parse.stderr
    results = json.loads((tmp_path / "parse.json").read_text())["results"]
    assert {"VideoEvent", "Participant", "EngagementLog", "_User"} <= {r["className"] for r in results}


def test_an_invalid_file_exits_1_naming_class_and_field(database: list[str], tmp_path: Path) -> None:
    schema: dict[str, Any] = seed_schema(SEED_PAGES[0])
    schema["classes"][2]["fields"]["status"] = {"type": "Text"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(schema))
    result = livequery("schema", "import", str(bad), *database)
    assert result.returncode == 1
    assert "class Registration, field status: unknown type 'Text'" in result.stderr
    exported = json.loads(livequery("schema", "export", *database).stdout)
    assert [entry["className"] for entry in exported["classes"]] == []  # nothing half-imported


def test_a_file_that_is_not_json_is_refused_with_its_position(database: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"classes": [}')
    result = livequery("schema", "import", str(bad), *database)
    assert result.returncode == 1
    assert "not JSON" in result.stderr and "line 1" in result.stderr
    missing = livequery("schema", "import", str(tmp_path / "nowhere.json"), *database)
    assert missing.returncode == 1 and "cannot read it" in missing.stderr


def test_import_uses_the_data_dir_as_serve_does(tmp_path: Path) -> None:
    result = livequery("schema", "import", str(SEED_PAGES[0]), "--data-dir", str(tmp_path / "data"),
                       env={"PATH": "/usr/bin:/bin", "LIVEQUERY_DATABASE_URI": ""})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "livequery.db").exists()


def test_serve_refuses_an_invalid_schema_file_before_starting(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classes": [{"className": "Event", "fields": {"when": {"type": "Pointer"}}}]}))
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--schema", str(bad), "--data-dir", str(tmp_path)])
    assert exited.value.code == 1
    assert "class Event, field when: type Pointer needs a class name" in capsys.readouterr().err


def test_serve_refuses_a_schema_file_that_conflicts_with_the_database(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    stored = tmp_path / "stored.json"
    stored.write_text(json.dumps({"classes": [{"className": "Feedback", "fields": {"rating": {"type": "String"}}}]}))
    assert livequery("schema", "import", str(stored), "--data-dir", str(tmp_path)).returncode == 0
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--schema", str(SEED_PAGES[0]), "--data-dir", str(tmp_path)])
    assert exited.value.code == 1
    assert "class Feedback, field rating: the database has it as String, the file says Number" in \
        capsys.readouterr().err
