"""Schema files: the three template pages' JSON schemas imported as they are, idempotently, all or nothing; exported
in the same format; Parse's own `/schemas` answer imported too; `--schema` at start-up."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.schema_import import export_schema, import_schema
from storage.errors import ErrorCode
from storage.schema_file import SchemaFileError
from tests.api.conftest import ParseClient, make_settings
from tests.storage.mongo_server import switched_database

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
SEED_PAGES = sorted(SEEDS.glob("0*.txt"))


def seed_schema(page: Path) -> dict[str, Any]:
    """The JSON block under a page's "Schema (JSON)" heading, read as a user would copy it."""
    text = page.read_text(encoding="utf-8")
    start = text.index("{", text.index("Schema (JSON)"))
    return json.JSONDecoder().raw_decode(text, start)[0]


def stored_name(name: str) -> str:
    return "_User" if name == "User" else name


@pytest.fixture
def store(app: Any) -> Any:
    return app.state.services.store


async def get_fields(client: ParseClient, class_name: str) -> dict[str, Any]:
    response = await client.request("GET", f"/schemas/{class_name}", master=True)
    assert response.status_code == 200, response.text
    return response.json()["fields"]


def test_the_three_seed_pages_are_there() -> None:
    assert len(SEED_PAGES) == 3, f"expected the template pages in {SEEDS}"


@pytest.mark.parametrize("page", SEED_PAGES, ids=lambda page: page.name)
async def test_a_seed_schema_imports_as_it_is(client: ParseClient, store: Any, page: Path) -> None:
    schema = seed_schema(page)
    report = await import_schema(schema, store)
    assert report.changed
    for entry in schema["classes"]:
        fields = await get_fields(client, stored_name(entry["className"]))
        for name, spec in entry["fields"].items():
            if name in ("objectId", "createdAt", "updatedAt", "password"):
                continue
            expected = {"type": spec["type"]}
            if "targetClass" in spec:
                expected["targetClass"] = stored_name(spec["targetClass"])
            if spec["required"]:
                expected["required"] = True
            assert fields[name] == expected, (entry["className"], name)
    created = {line.split(":")[0] for line in report.lines() if ": created with" in line}
    assert created == {stored_name(e["className"]) for e in schema["classes"]} - {"_User"}
    assert "skipped the fields Parse manages itself: createdAt, objectId, password, updatedAt" in report.lines()


@pytest.mark.parametrize("page", SEED_PAGES, ids=lambda page: page.name)
async def test_importing_a_seed_schema_twice_changes_nothing(client: ParseClient, store: Any, page: Path) -> None:
    await import_schema(seed_schema(page), store)
    before = (await client.request("GET", "/schemas", master=True)).json()
    again = await import_schema(seed_schema(page), store)
    assert not again.changed
    assert "nothing to change: the database already has this schema" in again.lines()
    assert (await client.request("GET", "/schemas", master=True)).json() == before


async def test_all_three_seed_schemas_import_into_one_database(client: ParseClient, store: Any) -> None:
    for page in SEED_PAGES:
        await import_schema(seed_schema(page), store)
    user = await get_fields(client, "_User")
    assert user["role"] == {"type": "String", "required": True}
    assert user["profilePicture"] == {"type": "String"}
    assert (await get_fields(client, "Session"))["speaker"] == {"type": "String", "required": True}
    assert "sessionToken" not in await get_fields(client, "Session")  # the seeds' Session is not Parse's _Session
    assert (await client.request("GET", "/schemas/_Session", master=True)).json()["code"] == 103


@pytest.mark.parametrize("page", SEED_PAGES, ids=lambda page: page.name)
async def test_an_exported_schema_is_the_seed_schema(store: Any, page: Path) -> None:
    schema = seed_schema(page)
    await import_schema(schema, store)
    exported = await export_schema(store)
    assert {e["className"]: e for e in exported["classes"]} == {e["className"]: e for e in schema["classes"]}


async def test_imported_required_fields_hold_on_rest_writes(client: ParseClient, store: Any) -> None:
    await import_schema(seed_schema(SEED_PAGES[0]), store)
    refused = await client.request("POST", "/classes/Event", {"description": "d"})
    assert refused.json() == {"code": 142, "error": "title is required"}
    event = await client.create("Event", {"title": "t", "description": "d",
                                          "date": {"__type": "Date", "iso": "2025-05-01T10:00:00.000Z"}})
    wrong_pointer = await client.request("POST", "/classes/Registration", {
        "event": {"__type": "Pointer", "className": "Event", "objectId": event["objectId"]},
        "user": {"__type": "Pointer", "className": "Event", "objectId": event["objectId"]}, "status": "ok"})
    assert wrong_pointer.json()["code"] == 111  # user points to _User, as the file's "User" means


async def test_an_existing_class_gets_the_missing_fields_and_options(client: ParseClient, store: Any) -> None:
    await client.request("POST", "/schemas/Event", {"fields": {
        "title": {"type": "String"}, "extra": {"type": "Number", "required": True}}}, master=True)
    report = await import_schema(seed_schema(SEED_PAGES[0]), store)
    assert "Event: added description (String, required); added date (Date, required); added location (String); " \
        "title now required" in report.lines()
    fields = await get_fields(client, "Event")
    assert fields["title"] == {"type": "String", "required": True}
    assert fields["extra"] == {"type": "Number", "required": True}  # fields the file does not list stay
    relaxed = copy.deepcopy(seed_schema(SEED_PAGES[0]))
    relaxed["classes"][1]["fields"]["title"]["required"] = False
    report = await import_schema(relaxed, store)
    assert "Event: title now optional" in report.lines()
    assert (await get_fields(client, "Event"))["title"] == {"type": "String"}


def broken(schema: dict[str, Any], class_index: int, field: str, spec: Any) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    schema["classes"][class_index]["fields"][field] = spec
    return schema


@pytest.mark.parametrize("field, spec, problem", [
    ("date", {"type": "Datetime", "required": True}, "class Event, field date: unknown type 'Datetime'"),
    ("host", {"type": "Pointer", "required": True}, "class Event, field host: type Pointer needs a class name"),
    ("host", {"type": "Pointer", "targetClass": "Not A Class"}, "class Event, field host: Invalid classname"),
    ("bad-name", {"type": "String"}, "class Event, field bad-name: Invalid field name: bad-name."),
    ("title", {"type": "String", "required": "yes"}, "class Event, field title: required of Event.title must be"),
    ("title", {"type": "String", "requird": True}, "class Event, field title: unknown key 'requird'"),
    ("title", "String", 'class Event, field title: expected an object like {"type": "String"}'),
    ("rank", {"type": "Number", "defaultValue": "high"}, "class Event, field rank: schema mismatch for "
                                                         "Event.rank default value; expected Number but got String"),
])
async def test_an_invalid_file_names_the_class_and_field_and_writes_nothing(
        client: ParseClient, store: Any, field: str, spec: Any, problem: str) -> None:
    schema = broken(seed_schema(SEED_PAGES[0]), 1, field, spec)
    with pytest.raises(SchemaFileError) as caught:
        await import_schema(schema, store)
    assert caught.value.code == ErrorCode.INVALID_JSON
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert (await client.request("GET", "/schemas/Registration", master=True)).json()["code"] == 103
    assert "profilePicture" not in await get_fields(client, "_User")


async def test_every_problem_of_a_file_is_reported_at_once(store: Any) -> None:
    schema = broken(seed_schema(SEED_PAGES[0]), 1, "date", {"type": "Time"})
    schema = broken(schema, 4, "rating", {"type": "Float"})
    schema["classes"].append({"className": "Event", "fields": {}})
    with pytest.raises(SchemaFileError) as caught:
        await import_schema(schema, store)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "class Event, field date", "class Feedback, field rating", "class Event"]


@pytest.mark.parametrize("data", [{"classes": "Event"}, [], {"className": 3}, "text", {"results": [1]}])
async def test_a_file_of_another_shape_is_refused(store: Any, data: Any) -> None:
    if data == []:
        assert not (await import_schema(data, store)).changed  # an empty list of classes is valid
        return
    with pytest.raises(SchemaFileError):
        await import_schema(data, store)


async def test_a_type_stored_differently_is_refused_before_anything_is_written(client: ParseClient,
                                                                                store: Any) -> None:
    await client.create("Feedback", {"rating": "five"}, master=True)
    with pytest.raises(SchemaFileError) as caught:
        await import_schema(seed_schema(SEED_PAGES[0]), store)
    assert caught.value.problems == [
        "class Feedback, field rating: the database has it as String, the file says Number "
        "(change it by hand: this would lose data)"]
    assert (await client.request("GET", "/schemas/Event", master=True)).json()["code"] == 103


async def test_dry_run_reports_and_writes_nothing(client: ParseClient, store: Any) -> None:
    report = await import_schema(seed_schema(SEED_PAGES[1]), store, dry_run=True)
    assert "dry run: nothing was written" in report.lines()
    assert any(line.startswith("Appointment: created with service (Pointer<Service>, required), customer")
               for line in report.lines())
    assert (await client.request("GET", "/schemas/Appointment", master=True)).json()["code"] == 103


async def test_parse_schemas_answer_imports_with_permissions_and_indexes(client: ParseClient, store: Any,
                                                                         tmp_path: Path) -> None:
    clp = {"find": {"*": True}, "get": {"*": True}, "count": {}, "create": {"requiresAuthentication": True},
           "update": {}, "delete": {}, "addField": {}, "protectedFields": {"*": ["secret"]}}
    await client.request("POST", "/schemas/Note", {"fields": {
        "body": {"type": "String", "required": True}, "secret": {"type": "String"},
        "rank": {"type": "Number", "defaultValue": 0}},
        "classLevelPermissions": clp, "indexes": {"by_rank": {"rank": -1}}}, master=True)
    answer = (await client.request("GET", "/schemas", master=True)).json()
    (tmp_path / "other").mkdir()
    target = create_app(make_settings(tmp_path / "other"))
    with switched_database(tmp_path / "other"):
        await copy_into(target, answer, await client.request("GET", "/schemas/Note", master=True))


async def copy_into(target: Any, answer: dict[str, Any], original: Any) -> None:
    await target.state.services.start()
    try:
        report = await import_schema(answer, target.state.services.store)
        assert "Note: created with body (String, required), secret (String), rank (Number, optional, default 0)" \
            in report.lines()
        copied = await target.state.services.store.get_schema("Note")
        assert copied.to_json() == original.json()
        assert not (await import_schema(answer, target.state.services.store)).changed
    finally:
        await target.state.services.stop()


async def test_a_bad_permission_in_a_parse_answer_is_refused(store: Any) -> None:
    answer = {"results": [{"className": "Note", "fields": {}, "classLevelPermissions": {"find": {"*": "yes"}}}]}
    with pytest.raises(SchemaFileError) as caught:
        await import_schema(answer, store)
    assert caught.value.problems[0].startswith("class Note: classLevelPermissions:")


async def test_serve_with_a_schema_file_imports_it_at_start_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, schema_file=str(SEED_PAGES[2]))
    for _start in range(2):  # the second start finds everything in place
        app = create_app(settings)
        await app.state.services.start()
        try:
            schema = await app.state.services.schemas.get("EngagementLog")
            assert schema is not None and schema.options["engagementType"].required
        finally:
            await app.state.services.stop()


async def test_an_import_through_the_running_server_applies_at_once(client: ParseClient, app: Any) -> None:
    await client.create("Event", {"title": "cached before the import"}, master=True)
    report = await app.state.services.import_schema(seed_schema(SEED_PAGES[0]))
    assert report.changed
    refused = await client.request("POST", "/classes/Event", {"title": "no description"})
    assert refused.json() == {"code": 142, "error": "description is required"}
