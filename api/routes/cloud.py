"""Cloud Code over REST: `/functions/{name}`, `/jobs[/{name}]`, `/cloud_code/jobs[/data]`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.cloud.runner import caller_of
from api.cloud.values import decode_params, encode_result
from api.request import Call, Unauthorized
from api.router import Reply, Router
from api.routes.system import require_master

if TYPE_CHECKING:
    from api.services import Services


def _params(call: Call) -> dict[str, Any]:
    """Parse's params: the body merged with the query string (which wins), dates decoded."""
    return decode_params({**call.body, **call.params})  # type: ignore[no-any-return]


async def run_function(call: Call, s: Services) -> Reply:
    result = await s.functions.call(caller_of(call), call.path_params["name"], _params(call))
    return Reply({"result": encode_result(result)})


async def start_job(call: Call, s: Services) -> Reply:
    if not call.principal.is_master:
        raise Unauthorized("Permission denied")
    params = _params(call)
    name = call.path_params.get("name") or params.pop("jobName", None)
    job_id = await s.jobs.start(caller_of(call), str(name or ""), params)
    return Reply({}, 200, {"X-Parse-Job-Status-Id": job_id})


async def list_job_schedules(call: Call, s: Services) -> Reply:
    """`_JobSchedule` rows, as the dashboard reads them (Parse Server stores schedules and never runs them)."""
    require_master(call)
    if await s.schemas.get("_JobSchedule") is None:
        return Reply([])
    return Reply((await s.queries.find(call.principal, "_JobSchedule", {}))["results"])


async def job_names(call: Call, s: Services) -> Reply:
    require_master(call)
    return Reply({"in_use": [], "jobs": s.jobs.names()})


def register(router: Router) -> None:
    router.add("/functions/{name}", "POST", run_function)
    router.add("/functions/{name}", "GET", run_function)
    router.add("/jobs/{name}", "POST", start_job)
    router.add("/jobs", "POST", start_job)
    router.add("/cloud_code/jobs", "GET", list_job_schedules)
    router.add("/cloud_code/jobs/data", "GET", job_names)
