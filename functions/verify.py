"""Proof before reset: the manager's page and decision, the TAP shown once to the manager, and the agent's
call-back attestation.

The manager's routes take no function key (a browser following a link in a mail cannot send one) and no app role
(the signed-in principal's object id must be the user's manager: that is the check). Bicep excludes them from App
Service Authentication's 401 rule, so the page itself redirects an anonymous browser to the sign-in. The POST
takes only application/json and refuses a foreign Origin, so a cross-site form or script cannot decide."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import azure.functions as func

from functions.http import caller, html_page, json_object, json_response, problem, problems, refused, tap_response
from shared.bootstrap import container
from shared.errors import JobNotFoundError, VerificationError
from shared.identity.principal import PRINCIPAL_HEADER, Principal, PrincipalError, Role, parse_principal
from shared.jobs.view import job_view
from shared.verify.model import MAX_REASON_CHARS
from shared.verify.page import manager_page, message_page

bp = func.Blueprint()
def _signed_in(req: func.HttpRequest) -> Principal | None:
    try:
        return parse_principal(req.headers.get(PRINCIPAL_HEADER))
    except PrincipalError:
        return None


@bp.route(route="verify/manager/{verification_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def manager_verification_page(req: func.HttpRequest) -> func.HttpResponse:
    vid = req.route_params.get("verification_id", "")
    who = _signed_in(req)
    if who is None or who.is_app:
        # App Service Authentication's own sign-in, back to this page after it.
        target = quote(f"/api/verify/manager/{vid}", safe="/")
        return func.HttpResponse(status_code=302, headers={
            "Location": f"/.auth/login/aad?post_login_redirect_uri={target}", "Cache-Control": "no-store"})
    service = container().verification_service()
    try:
        job, verification = await service.by_verification(vid)
    except VerificationError as exc:
        title = "No such approval" if exc.status == 404 else "This approval is over"
        return html_page(message_page(title, str(exc)), exc.status)
    if who.object_id != verification.manager_id:
        return html_page(message_page("Not yours to decide", "Only the manager of the user to be reset may approve "
                                  "or deny this request."), 403)
    return html_page(manager_page(job, viewer=who.by))


@bp.route(route="verify/manager/{verification_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def manager_decision(req: func.HttpRequest) -> func.HttpResponse:
    who = parse_principal(req.headers.get(PRINCIPAL_HEADER))
    origin = req.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() not in _own_origins(req):
        return problem(403, "Forbidden", "a decision must come from the approval page itself", code="foreign_origin")
    body = json_object(req, {"decision", "reason"}, '{"decision": "approve"|"deny", "reason": "..."}')
    if isinstance(body, func.HttpResponse):
        return body
    decision, reason = body.get("decision"), body.get("reason", "")
    if decision not in ("approve", "deny"):
        return problem(400, "Invalid request", "decision: approve or deny", field="decision")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS or not reason.isprintable():
        return problem(400, "Invalid request", f"reason: printable text of at most {MAX_REASON_CHARS} characters",
                       field="reason")
    try:
        job = await container().verification_service().decide_manager(
            req.route_params.get("verification_id", ""), by=who.by, by_id=who.object_id,
            approve=decision == "approve", reason=reason.strip())
    except VerificationError as exc:
        return refused(exc)
    return json_response({"job_state": job.state.value,
                          "verification": job.verification.view() if job.verification else None})


@bp.route(route="verify/manager/{verification_id}/tap", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def manager_tap(req: func.HttpRequest) -> func.HttpResponse:
    who = parse_principal(req.headers.get(PRINCIPAL_HEADER))
    try:
        tap = await container().verification_service().manager_tap(
            req.route_params.get("verification_id", ""), by=who.by, by_id=who.object_id)
    except VerificationError as exc:
        return refused(exc)
    return tap_response(tap)


@bp.route(route="jobs/{job_id}/verify/callback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@problems
async def callback_attestation(req: func.HttpRequest) -> func.HttpResponse:
    who = caller(req, Role.JOBS_VERIFY)
    body = json_object(req, {"number_last4", "confirmed"}, '{"number_last4": "0101", "confirmed": true|false}')
    if isinstance(body, func.HttpResponse):
        return body
    last4, confirmed = body.get("number_last4"), body.get("confirmed")
    if not isinstance(last4, str):
        return problem(400, "Invalid request", "number_last4: the last four digits, as a string", field="number_last4")
    if not isinstance(confirmed, bool):
        return problem(400, "Invalid request", "confirmed: true or false", field="confirmed")
    job_id = req.route_params.get("job_id", "")
    try:
        job = await container().verification_service().attest_callback(job_id, by=who.by, last4=last4,
                                                                         confirmed=confirmed)
    except JobNotFoundError:
        return problem(404, "Job not found", f"no job with id {job_id!r}")
    except VerificationError as exc:
        return refused(exc)
    return json_response(job_view(job))


def _own_origins(req: func.HttpRequest) -> set[str]:
    parts = urlsplit(req.url)
    own = {f"{parts.scheme}://{parts.netloc}".lower()}
    base = container().settings.public_base_url
    if base:
        here = urlsplit(base)
        own.add(f"{here.scheme}://{here.netloc}".lower())
    return own
