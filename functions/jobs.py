"""Job status for ServiceNow and operators: ``GET /api/jobs/{job_id}``."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response, problem
from shared.bootstrap import container
from shared.errors import JobNotFoundError
from shared.jobs.view import job_view

bp = func.Blueprint()


@bp.route(route="jobs/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_job(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params.get("job_id", "")
    try:
        job = await container().job_store().get(job_id)
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    return json_response(job_view(job))
