"""The cloud module: loaded from `--cloud path.py`, its mistakes reported with file and line at start-up, and
reloaded on change with `--dev`."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from api.cloud.loader import CloudLoadError, load_cloud, watch
from api.settings import Settings, parse_settings
from livequery.cloud import Cloud
from tests.api.cloud_app import serving

GOOD = """\
from livequery.cloud import Cloud, CloudError

cloud = Cloud()


@cloud.define("hello")
def hello(request):
    return "hello " + request.params.get("name", "world")
"""


def write(tmp_path: Path, source: str, name: str = "cloud_main.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_the_module_cloud_attribute_is_loaded(tmp_path: Path) -> None:
    cloud = load_cloud(write(tmp_path, GOOD))
    assert cloud.names("function") == ["hello"]


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\ndef broken(:\n")
    with pytest.raises(CloudLoadError, match=rf"{path}:10: SyntaxError"):
        load_cloud(path)


def test_a_bad_decorator_names_the_line_of_the_decorator(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '\n\n@cloud.before_save("Review", require_usr=True)\ndef f(request):\n    pass\n')
    with pytest.raises(CloudLoadError, match=rf"{path}:11: CloudDefinitionError: .*unknown validator option"):
        load_cloud(path)


def test_a_trigger_on_session_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '\n@cloud.before_save("_Session")\ndef f(request):\n    pass\n')
    with pytest.raises(CloudLoadError, match=r"not allowed on _Session"):
        load_cloud(path)


def test_a_module_without_cloud_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CloudLoadError, match=r"no `cloud = Cloud\(\)`"):
        load_cloud(write(tmp_path, "x = 1\n"))


def test_an_unknown_field_type_is_refused_at_load() -> None:
    cloud = Cloud()
    with pytest.raises(TypeError, match="has type 'Datetime'; use one of String, Number, .*Date, Pointer"):
        cloud.before_save("Review", fields={"when": {"type": "Datetime"}})


def test_serve_stops_at_start_up_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\nundefined_name()\n")
    result = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--cloud", str(path), "--data-dir",
                             str(tmp_path), "--port", "1"], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert f"{path}:10: NameError" in result.stderr


def test_the_cloud_flag_and_its_environment_variable() -> None:
    assert parse_settings(["--cloud", "app/cloud.py", "--dev"]).cloud == "app/cloud.py"
    assert parse_settings([], {"LIVEQUERY_CLOUD": "c.py"}).cloud == "c.py"


async def test_a_server_serves_the_module_named_in_settings(settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    async with serving(msgspec.structs.replace(settings, cloud=str(path)), None) as client:  # type: ignore[arg-type]
        response = await client.request("POST", "/functions/hello", {"name": "you"})
        assert response.json() == {"result": "hello you"}


async def test_dev_reload_picks_up_a_change_and_keeps_the_last_good_module(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded: asyncio.Queue[Cloud] = asyncio.Queue()
    task = asyncio.create_task(watch(path, loaded.put_nowait, interval=0.02))
    try:
        await asyncio.sleep(0.05)
        path.write_text(GOOD + "\ndef broken(:\n")  # logged, not used
        await asyncio.sleep(0.1)
        path.write_text(GOOD.replace('"hello"', '"hi"') + "\n# edited\n")
        cloud = await asyncio.wait_for(loaded.get(), 10)
        assert cloud.names("function") == ["hi"]
        assert loaded.empty()
    finally:
        task.cancel()
