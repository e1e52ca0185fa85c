"""File triggers through FileTriggers, the cloud side of the files service's FileHooks seam. This branch has no
files service, so a struct of the same shape as its FileTrigger stands in for the one it passes."""
from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api.settings import Settings
from auth.principal import ANONYMOUS, Principal
from livequery.cloud import Cloud, CloudError
from storage.errors import ParseError
from tests.api.cloud_app import serving


class StandInFileTrigger(msgspec.Struct, frozen=True):
    """The shape of api.files.hooks.FileTrigger."""

    name: str
    principal: Principal
    content_type: str | None = None
    size: int | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: dict[str, Any] = msgspec.field(default_factory=dict)
    url: str | None = None


async def test_file_triggers_rename_refuse_and_see_the_stored_file_with_a_stand_in_file(settings: Settings) -> None:
    cloud = Cloud()
    seen: list[dict[str, Any]] = []

    @cloud.before_save_file()
    def check(request: Any) -> None:
        if (request.object["size"] or 0) > 10:
            raise CloudError(130, "too big")
        request.object["name"] = "safe-" + request.object["name"]
        request.object["metadata"]["checked"] = True

    @cloud.after_save_file()
    def record(request: Any) -> None:
        seen.append(request.object)

    async with serving(settings, cloud) as client:
        triggers = client.app.state.services.file_triggers  # type: ignore[attr-defined]
        file = StandInFileTrigger("a.txt", ANONYMOUS, "text/plain", 3)
        changed = await triggers.before_save_file(file)
        assert (changed.name, changed.metadata, changed.size) == ("safe-a.txt", {"checked": True}, 3)
        await triggers.after_save_file(msgspec.structs.replace(changed, url="http://x/safe-a.txt"))
        assert seen[0]["name"] == "safe-a.txt" and seen[0]["url"] == "http://x/safe-a.txt"
        with pytest.raises(ParseError) as refused:
            await triggers.before_save_file(StandInFileTrigger("b.bin", ANONYMOUS, size=11))
        assert (refused.value.code, refused.value.message) == (130, "too big")


async def test_without_file_triggers_the_file_is_kept_with_a_stand_in_file(settings: Settings) -> None:
    async with serving(settings, Cloud()) as client:
        triggers = client.app.state.services.file_triggers  # type: ignore[attr-defined]
        assert await triggers.before_save_file(StandInFileTrigger("a.txt", ANONYMOUS)) is None
        await triggers.before_delete_file(StandInFileTrigger("a.txt", ANONYMOUS))
