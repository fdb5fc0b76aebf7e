"""Jobs for ServiceNow and operators: status, the one-time TAP retrieval, and an attributed retry.

Every route here takes its caller from Entra authentication (App Service Authentication's principal header)
and checks the route's app role; the job records the caller, never a name from the body.
"""

from __future__ import annotations

import azure.functions as func

from functions.http import caller, is_json_media_type, json_response, problem, problems
from shared.bootstrap import container
from shared.errors import (
    InvalidTransitionError,
    JobNotFoundError,
    NotIndependentError,
    TapDeliveredElsewhereError,
    TapGoneError,
    TapNotFoundError,
)
from shared.identity.principal import Role
from shared.jobs.view import job_view

bp = func.Blueprint()
MAX_REASON_CHARS = 500


@bp.route(route="jobs/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def get_job(req: func.HttpRequest) -> func.HttpResponse:
    caller(req, Role.JOBS_READ)
    job_id = req.route_params.get("job_id", "")
    try:
        job = await container().job_store().get(job_id)
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    return json_response(job_view(job))


@bp.route(route="jobs/{job_id}/tap", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def get_job_tap(req: func.HttpRequest) -> func.HttpResponse:
    who = caller(req, Role.TAP_RETRIEVE)
    job_id = req.route_params.get("job_id", "")
    try:
        tap = await container().reset_service().retrieve_tap(job_id, by=who.by)
    except (JobNotFoundError, TapNotFoundError):
        return problem(404, "No Temporary Access Pass", f"job {job_id!r} issued none")
    except TapGoneError as exc:
        return problem(410, "Gone", str(exc))
    except TapDeliveredElsewhereError as exc:
        return problem(409, "Conflict", str(exc), code="tap_delivered_elsewhere")
    return json_response({"job_id": job_id, "temporaryAccessPass": tap.value.reveal(),
                          "expires": tap.expires.isoformat(), "usable_once": tap.usable_once},
                         headers={"Cache-Control": "no-store"})


@bp.route(route="jobs/{job_id}/retry", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def retry_job(req: func.HttpRequest) -> func.HttpResponse:
    # pydantic, imported when the route first runs rather than at cold start
    from shared.reset.request import RequestError, load_json
    who = caller(req, Role.JOBS_RETRY)
    job_id = req.route_params.get("job_id", "")
    raw = req.get_body() or b"{}"
    if req.get_body() and not is_json_media_type(req.headers.get("content-type")):
        return problem(415, "Unsupported media type", "send application/json")
    try:
        body = load_json(raw)
    except RequestError as exc:
        return problem(400, "Invalid request", str(exc), field="body")
    if not isinstance(body, dict):
        return problem(400, "Invalid request", "the body must be a JSON object", field="body")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        return problem(400, "Invalid request", f"reason: printable text of at most {MAX_REASON_CHARS} characters",
                       field="reason")
    over = body.get("allow_over_limit", False)
    if not isinstance(over, bool):
        return problem(400, "Invalid request", "allow_over_limit: true or false", field="allow_over_limit")
    try:
        job = await container().reset_service().retry(job_id, by=who.by, by_id=who.object_id, reason=reason,
                                                      allow_over_limit=over)
    except NotIndependentError as exc:
        return problem(403, "Forbidden", str(exc))
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    except InvalidTransitionError as exc:
        return problem(409, "Conflict", str(exc))
    return json_response(job_view(job), status=202)
