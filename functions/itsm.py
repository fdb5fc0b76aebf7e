"""ServiceNow's door: ``POST /api/itsm/servicenow`` (signed webhook) -> a queued reset job."""

from __future__ import annotations

import logging
import time

import azure.functions as func

from functions.http import is_json_media_type, json_response, problem, problems
from shared.bootstrap import container
from shared.jobs.view import job_view
from shared.queue.port import QueueUnavailableError
from shared.reset.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from shared.telemetry.spans import job_span

bp = func.Blueprint()
log = logging.getLogger("mfaops.webhook")


# The one route outside App Service Authentication (Bicep: globalValidation.excludedPaths): ServiceNow holds no
# Entra token; the function key and the HMAC signature are its credentials.
@bp.route(route="itsm/servicenow", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def servicenow_webhook(req: func.HttpRequest) -> func.HttpResponse:
    with job_span("http servicenow_webhook", trigger="http"):
        return await _webhook(req)


async def _webhook(req: func.HttpRequest) -> func.HttpResponse:
    # pydantic, imported when the route first runs rather than at cold start
    from shared.reset.request import MAX_BODY_BYTES, RequestError, parse_request
    body = req.get_body()
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Payload too large", f"the limit is {MAX_BODY_BYTES} bytes")
    settings = container().settings
    try:
        verify(settings.servicenow_webhook_secret.get_secret_value(), req.headers.get(TIMESTAMP_HEADER),
               req.headers.get(SIGNATURE_HEADER), body, now=time.time(), max_skew_s=settings.webhook_max_skew_s)
    except SignatureError as exc:
        log.warning("webhook refused: %s", exc)
        return problem(401, "Invalid signature", str(exc))
    if not is_json_media_type(req.headers.get("content-type")):
        return problem(415, "Unsupported media type", "send application/json")
    try:
        request = parse_request(body)
    except RequestError as exc:
        return problem(exc.status, "Invalid request", str(exc), **({"field": exc.field} if exc.field else {}))
    try:
        accepted = await container().reset_service().accept(
            request, correlation_id=req.headers.get("x-correlation-id", ""))
    except QueueUnavailableError as exc:
        log.error("could not queue %s: %s", request.number, exc)
        response = problem(503, "Queue unavailable", "the request was recorded; send it again shortly")
        response.headers["Retry-After"] = "30"
        return response
    if accepted.created:
        return json_response({"job_id": accepted.job.job_id, "status": accepted.job.state.value}, status=202)
    return json_response(job_view(accepted.job), status=200)
