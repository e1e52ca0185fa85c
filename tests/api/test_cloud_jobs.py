"""Jobs: started by the master key, run in the background, tracked in `_JobStatus`, recovered after a restart."""
from __future__ import annotations

import asyncio
from typing import Any

from api.settings import Settings
from livequery.cloud import Cloud, CloudError
from tests.api.cloud_app import serving


def job_cloud(release: asyncio.Event) -> Cloud:
    cloud = Cloud()

    @cloud.job("recount")
    async def recount(request: Any) -> str:
        await request.message("started")
        request.message(f"counting for {request.params['who']}")  # without await: still recorded, in order
        await release.wait()
        await request.api.create("Audit", {"job": request.job_id, "name": request.job_name})
        return "done"

    @cloud.job("fail")
    def fail(request: Any) -> None:
        raise CloudError("nothing to do")

    @cloud.job("forever")
    async def forever(request: Any) -> None:
        await asyncio.sleep(3600)

    return cloud


async def _status(client: Any, job_id: str) -> dict[str, Any]:
    response = await client.request("GET", f"/classes/_JobStatus/{job_id}", master=True)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _until(client: Any, job_id: str, status: str, field: str = "status") -> dict[str, Any]:
    for _ in range(1000):
        row = await _status(client, job_id)
        if row.get(field) == status:
            return row
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never had {field} {status}: {row}")


async def test_job_answers_at_once_and_goes_running_to_succeeded(settings: Settings) -> None:
    release = asyncio.Event()
    async with serving(settings, job_cloud(release)) as client:
        at = {"__type": "Date", "iso": "2024-01-02T03:04:05.678Z"}
        response = await client.request("POST", "/jobs/recount", {"who": "ann", "at": at}, master=True)
        assert response.status_code == 200 and response.json() == {}
        job_id = response.headers["X-Parse-Job-Status-Id"]
        running = await _until(client, job_id, "running")
        assert running["jobName"] == "recount" and running["source"] == "api"
        assert running["params"] == {"who": "ann", "at": at}
        await _until(client, job_id, "counting for ann", "message")  # the later message, after the earlier one
        assert (await _status(client, job_id))["status"] == "running"
        release.set()
        done = await _until(client, job_id, "succeeded")
        assert done["message"] == "done" and done["finishedAt"]["__type"] == "Date"
        audit = await client.find("Audit", master=True)
        assert audit[0]["job"] == job_id and audit[0]["name"] == "recount"


async def test_failing_job_is_failed_with_its_message(settings: Settings) -> None:
    async with serving(settings, job_cloud(asyncio.Event())) as client:
        response = await client.request("POST", "/jobs/fail", {}, master=True)
        failed = await _until(client, response.headers["X-Parse-Job-Status-Id"], "failed")
        assert failed["message"] == "nothing to do"


async def test_jobs_need_the_master_key_and_a_known_name(settings: Settings) -> None:
    async with serving(settings, job_cloud(asyncio.Event())) as client:
        refused = await client.request("POST", "/jobs/recount", {})
        assert refused.status_code == 403 and refused.json() == {"error": "Permission denied"}
        unknown = await client.request("POST", "/jobs/nope", {}, master=True)
        assert unknown.json() == {"code": 141, "error": "Invalid job."}
        status = await client.request("GET", "/classes/_JobStatus")
        assert status.json()["code"] == 119


async def test_job_listing_as_the_dashboard_reads_it(settings: Settings) -> None:
    async with serving(settings, job_cloud(asyncio.Event())) as client:
        assert (await client.request("GET", "/cloud_code/jobs", master=True)).json() == []
        data = (await client.request("GET", "/cloud_code/jobs/data", master=True)).json()
        assert data == {"in_use": [], "jobs": ["fail", "forever", "recount"]}
        assert (await client.request("GET", "/cloud_code/jobs/data")).status_code == 403


async def test_jobs_left_running_by_a_stop_are_failed_and_stay_failed_after_restart(settings: Settings) -> None:
    async with serving(settings, job_cloud(asyncio.Event())) as client:
        response = await client.request("POST", "/jobs/forever", {}, master=True)
        job_id = response.headers["X-Parse-Job-Status-Id"]
        await _until(client, job_id, "running")
    async with serving(settings, job_cloud(asyncio.Event())) as client:
        row = await _status(client, job_id)
        assert row["status"] == "failed" and "stopped" in row["message"]


async def test_a_row_left_running_by_a_crash_is_marked_failed_at_start_up(settings: Settings) -> None:
    async with serving(settings, Cloud()) as client:  # as if a crashed server had left it running
        await client.create("_JobStatus", {"jobName": "x", "status": "running", "source": "api"}, master=True)
    async with serving(settings, Cloud()) as client:
        rows = await client.find("_JobStatus", master=True)
        assert [r["status"] for r in rows] == ["failed"]
