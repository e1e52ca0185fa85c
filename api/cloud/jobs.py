"""Jobs: `POST /jobs/<name>` starts one in the background and answers at once with its `_JobStatus` id.

The row goes running → succeeded / failed with its message; `request.message(text)` updates it while the job
runs (in call order). Jobs left `running` by a stopped server are marked failed at start-up, and a server that
stops while jobs run marks them failed on its way out.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from api.cloud.runner import Caller, HookRunner, hook_name
from api.cloud.values import encode_result
from auth.principal import MASTER
from livequery.cloud import Hook
from storage.errors import ErrorCode, ParseError
from storage.query import Compare, Field
from storage.values import date_json

if TYPE_CHECKING:
    from api.services import Services

log = logging.getLogger("livequery.cloud.jobs")

JOB_STATUS = "_JobStatus"
STOPPED = "The server stopped while this job was running."


class JobRunner:
    def __init__(self, services: Services, hooks: HookRunner) -> None:
        self._services = services
        self._hooks = hooks
        self._tasks: set[asyncio.Task[Any]] = set()

    def names(self) -> list[str]:
        return self._hooks.names("job")

    async def start(self, caller: Caller, name: str, params: dict[str, Any]) -> str:
        """Create the job's `_JobStatus` row (running) and start the job; returns the row's objectId."""
        hook = self._hooks.find("job", name)
        if hook is None:
            raise ParseError(ErrorCode.SCRIPT_FAILED, "Invalid job.")
        row = await self._services.objects.create(MASTER, JOB_STATUS, {
            "jobName": name, "status": "running", "source": "api", "params": encode_result(params), "ACL": {}})
        job_id = row["objectId"]
        self._own(asyncio.create_task(self._run(hook, job_id, caller, params), name=f"cloud-job-{name}-{job_id}"))
        return job_id

    async def _run(self, hook: Hook, job_id: str, caller: Caller, params: dict[str, Any]) -> None:
        messages: list[asyncio.Task[Any]] = []

        def message(text: Any) -> asyncio.Task[Any]:
            previous = messages[-1] if messages else None

            async def write() -> None:
                if previous is not None:
                    with contextlib.suppress(Exception):
                        await previous
                await self._set(job_id, {"message": str(text)})

            task = self._own(asyncio.create_task(write()))
            messages.append(task)
            return task

        status, final = "failed", None
        try:
            request = await self._hooks.request_for(hook, caller, job_id=job_id, job_name=hook.target,
                                                    params=params, trigger_name=None)
            request.message = message  # type: ignore[method-assign]
            result = await self._hooks.call(hook, request)
            status, final = "succeeded", result if isinstance(result, str) else None
        except ParseError as error:
            final = error.message
        except asyncio.CancelledError:
            final = STOPPED
            raise
        finally:
            for task in messages:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
            changes: dict[str, Any] = {"status": status, "finishedAt": date_json(datetime.now(timezone.utc))}
            if final is not None:
                changes["message"] = final
            try:
                await self._set(job_id, changes)
            except Exception:
                log.exception("cloud job %s: recording its end (%s) failed", hook_name(hook), status)

    async def _set(self, job_id: str, changes: dict[str, Any]) -> None:
        await self._services.objects.update(MASTER, JOB_STATUS, job_id, changes)

    def _own(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def recover(self) -> int:
        """Mark failed the jobs a previous run of the server left `running`; returns how many."""
        if await self._services.schemas.get(JOB_STATUS) is None:
            return 0
        running = await self._services.store.find(JOB_STATUS, Field(("status",), (Compare("$eq", "running"),)))
        for row in running:
            await self._set(row["objectId"], {"status": "failed", "message": STOPPED,
                                              "finishedAt": date_json(datetime.now(timezone.utc))})
        if running:
            log.warning("marked %d job(s) left running by a previous server as failed", len(running))
        return len(running)

    async def stop(self) -> None:
        """Cancel running jobs; each records itself failed before the store closes."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
