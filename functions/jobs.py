"""Jobs for ServiceNow and operators: status, the one-time TAP retrieval, and an attributed retry."""

from __future__ import annotations

import json

import azure.functions as func

from functions.http import json_response, problem, problems
from shared.bootstrap import container
from shared.errors import InvalidTransitionError, JobNotFoundError, TapGoneError, TapNotFoundError
from shared.jobs.view import job_view

bp = func.Blueprint()


@bp.route(route="jobs/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def get_job(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params.get("job_id", "")
    try:
        job = await container().job_store().get(job_id)
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    return json_response(job_view(job))


@bp.route(route="jobs/{job_id}/tap", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def get_job_tap(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params.get("job_id", "")
    try:
        tap = await container().tap_drop().take(job_id)
    except TapNotFoundError:
        return problem(404, "No Temporary Access Pass", f"job {job_id!r} issued none")
    except TapGoneError as exc:
        return problem(410, "Gone", str(exc))
    return json_response({"job_id": job_id, "temporaryAccessPass": tap.value.reveal(),
                          "expires": tap.expires.isoformat(), "usable_once": tap.usable_once},
                         headers={"Cache-Control": "no-store"})


@bp.route(route="jobs/{job_id}/retry", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def retry_job(req: func.HttpRequest) -> func.HttpResponse:
    job_id = req.route_params.get("job_id", "")
    try:
        body = json.loads(req.get_body() or b"{}")
    except json.JSONDecodeError:
        return problem(415, "Unsupported media type", "send a JSON object")
    by = body.get("by") if isinstance(body, dict) else None
    if not isinstance(by, str) or "@" not in by:
        return problem(400, "Invalid request", "by: the UPN of who approves the retry is required", field="by")
    try:
        job = await container().reset_service().retry(job_id, by=by, reason=str(body.get("reason", ""))[:500])
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    except InvalidTransitionError as exc:
        return problem(409, "Conflict", str(exc))
    return json_response(job_view(job), status=202)
