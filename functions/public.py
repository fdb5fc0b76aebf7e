"""The verified_id proof's public routes: the user's own page (they cannot sign in: they lost their methods), its
state and the TAP for the browser that opened it, and the Request Service's callback.

Anonymous at the platform (excluded from App Service Authentication) and at the Functions host (no function key):
the page binds to the first browser that opens it (an HttpOnly, Secure, SameSite=Strict cookie), and the callback
is authenticated by its `api-key` header (the Request Service sends only `api-key` or `Authorization` headers)."""

from __future__ import annotations

import azure.functions as func

from functions.http import cookie_value, html_page, json_response, problem, problems, refused, tap_response
from shared.bootstrap import container
from shared.errors import VerificationError
from shared.verify.page import message_page
from shared.verify.user_page import recover_form, user_page

bp = func.Blueprint()
COOKIE = "mfaops_verify"
MAX_CALLBACK_BYTES = 256 * 1024


def _browser(req: func.HttpRequest) -> str:
    return cookie_value(req.headers.get("cookie"), COOKIE)


def _client(req: func.HttpRequest) -> str:
    # App Service's front end puts the caller's address first in X-Forwarded-For.
    forwarded = str(req.headers.get("x-forwarded-for", "")).split(",")[0].strip()
    return (forwarded or str(req.headers.get("x-client-ip", "")))[:64]


@bp.route(route="public/verify/{verification_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def user_verification_page(req: func.HttpRequest) -> func.HttpResponse:
    vid = req.route_params.get("verification_id", "")
    service = container().verified_id_service()
    try:
        opened = await service.open_page(vid, browser=_browser(req), client=_client(req))
    except VerificationError as exc:
        decoy = await service.decoy(vid, browser=_browser(req)) if exc.status == 404 else None
        if decoy is not None:  # a self-service page for a name that cannot recover: it looks like any other
            return html_page(user_page(url=decoy.url, state="pending", organisation=await service.organisation(),
                                   display_name=""))
        if exc.code == "opened_elsewhere":
            return html_page(message_page("Opened elsewhere", "This page was opened in another browser. Only that "
                                      "browser can use it; call your service desk if that was not you."), 403)
        if exc.status == 503:
            return html_page(message_page("Not available", "Verified ID could not start. Call your service desk."), 503)
        return html_page(message_page("Link expired", "This link has expired or was used. Call your service desk for "
                                  "a new one."), 404)
    cookie = ""
    if opened.browser:
        cookie = (f"{COOKIE}={opened.browser}; Path=/api/public/verify/{vid}; HttpOnly; Secure; SameSite=Strict; "
                  f"Max-Age={24 * 3600}")
    organisation = await service.organisation()
    v = opened.job.verification
    # A self-service page never names the user: it must look the same whatever name was typed.
    name = v.display_name if v is not None and opened.job.kind.value != "self_service" else ""
    page = user_page(url=str(opened.proof.data.get("url", "")), state=opened.proof.state, organisation=organisation,
                     display_name=name)
    return html_page(page, cookie=cookie)


@bp.route(route="public/verify/{verification_id}/status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def user_verification_status(req: func.HttpRequest) -> func.HttpResponse:
    try:
        state = await container().verified_id_service().status(req.route_params.get("verification_id", ""),
                                                               browser=_browser(req))
    except VerificationError as exc:
        return refused(exc)
    return json_response(state, headers={"Cache-Control": "no-store"})


@bp.route(route="public/verify/{verification_id}/tap", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def user_verification_tap(req: func.HttpRequest) -> func.HttpResponse:
    try:
        tap = await container().verified_id_service().tap(req.route_params.get("verification_id", ""),
                                                          browser=_browser(req))
    except VerificationError as exc:
        return refused(exc)
    return tap_response(tap)


@bp.route(route="public/verify/callback", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def verified_id_callback(req: func.HttpRequest) -> func.HttpResponse:
    # pydantic, imported when the route first runs rather than at cold start
    from shared.reset.request import RequestError, load_json
    raw = req.get_body() or b""
    if len(raw) > MAX_CALLBACK_BYTES:
        return problem(413, "Payload too large", f"at most {MAX_CALLBACK_BYTES} bytes")
    api_key = req.headers.get("api-key", "")
    service = container().verified_id_service()
    try:
        body = load_json(raw)
    except RequestError as exc:
        if not service.authentic(api_key):
            return problem(401, "Unauthorized", "the api-key is missing or wrong", code="unauthorized")
        return problem(400, "Invalid request", str(exc), field="body")
    try:
        job = await service.callback(api_key, body)
    except VerificationError as exc:
        return refused(exc)
    proof = job.verification.proof("verified_id") if job.verification else None
    return json_response({"state": proof.state if proof else None})


@bp.route(route="public/recover", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def recover_page(req: func.HttpRequest) -> func.HttpResponse:
    """Self-service recovery's first page: the user types their user principal name."""
    if not container().settings.self_service_recovery:
        return html_page(message_page("Not available", "Self-service recovery is not offered. Call your service desk."),
                     404)
    return html_page(recover_form())


@bp.route(route="public/recover", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@problems
async def recover_start(req: func.HttpRequest) -> func.HttpResponse:
    """Every name gets the same answer in the same time: a redirect to a page with a QR code, bound to this
    browser. Only a user whose tier allows self-service can finish there."""
    from urllib.parse import parse_qs

    if not container().settings.self_service_recovery:
        return html_page(message_page("Not available", "Self-service recovery is not offered. Call your service desk."),
                     404)
    raw = req.get_body() or b""
    if len(raw) > 4096 or req.headers.get("content-type", "").split(";")[0].strip().lower() != \
            "application/x-www-form-urlencoded":
        return html_page(message_page("Not understood", "Type your sign-in name in the form."), 400)
    try:
        fields = parse_qs(raw.decode("utf-8"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return html_page(message_page("Not understood", "Type your sign-in name in the form."), 400)
    name = (fields.get("upn") or [""])[0]
    try:
        started = await container().recovery_service().start(name, client=_client(req))
    except VerificationError:
        return html_page(message_page("Not available", "Self-service recovery is not offered. Call your service desk."),
                     404)
    if started.limited:
        return html_page(message_page("Too many attempts", "Try again in an hour, or call your service desk."), 429)
    target = f"/api/public/verify/{started.page_id}"
    response = func.HttpResponse(status_code=303, headers={"Location": target, "Cache-Control": "no-store"})
    response.headers["Set-Cookie"] = (f"{COOKIE}={started.browser}; Path={target}; HttpOnly; Secure; "
                                      f"SameSite=Strict; Max-Age={24 * 3600}")
    return response
