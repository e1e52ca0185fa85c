"""File triggers as the files endpoint will call them (api.cloud.files.FileTriggers; /files is another
branch's, so these drive the entry points directly on a real app)."""
from __future__ import annotations

from typing import Any

import pytest

from api.cloud.runner import Caller
from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from storage.errors import ParseError
from tests.api.cloud_app import serving


async def test_before_save_file_renames_or_refuses_and_after_save_file_sees_the_result(settings: Settings) -> None:
    cloud = Cloud()
    saved: list[dict[str, Any]] = []

    @cloud.before_save_file()
    def check(request: Any) -> None:
        if request.object.get("size", 0) > 10:
            raise CloudError(130, "too big")
        request.object["name"] = "safe-" + request.object["name"]

    @cloud.after_save_file()
    def record(request: Any) -> None:
        saved.append(request.object)

    async with serving(settings, cloud) as client:
        triggers = client.app.state.services.file_triggers  # type: ignore[attr-defined]
        file = await triggers.before_save(Caller(), {"__type": "File", "name": "a.txt", "size": 3})
        assert file["name"] == "safe-a.txt"
        await triggers.after_save(Caller(), file)
        assert saved == [file]
        with pytest.raises(ParseError) as refused:
            await triggers.before_save(Caller(), {"__type": "File", "name": "b.bin", "size": 11})
        assert (refused.value.code, refused.value.message) == (130, "too big")


async def test_without_file_triggers_the_file_passes_unchanged(settings: Settings) -> None:
    async with serving(settings, Cloud()) as client:
        triggers = client.app.state.services.file_triggers  # type: ignore[attr-defined]
        file = {"__type": "File", "name": "a.txt"}
        assert await triggers.before_save(Caller(), file) is file
