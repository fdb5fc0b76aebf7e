"""HTTP helpers shared by the blueprints: JSON and RFC 9457 problem responses, and the caller's identity."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.errors import ConfigurationError
from shared.identity.principal import PRINCIPAL_HEADER, Principal, PrincipalError, Role, parse_principal

log = logging.getLogger("mfaops.http")
Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json",
                             headers=headers)


def tap_response(tap: Any) -> func.HttpResponse:
    """A TAP handed over once: its value, when it expires, whether it works once; never cached."""
    return json_response({"temporaryAccessPass": tap.value.reveal(), "expires": tap.expires.isoformat(),
                          "usable_once": tap.usable_once}, headers={"Cache-Control": "no-store"})


# A page a person looks at: never cached, never framed, no Referer (its address may hold an id), no sniffing.
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff"}
_REFUSALS = {400: "Invalid request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 409: "Conflict",
             410: "Gone", 422: "Unprocessable content", 503: "Unavailable"}


def html_page(page: Any, status: int = 200, cookie: str = "") -> func.HttpResponse:
    """A rendered page (shared.verify.page.Page) with its Content-Security-Policy, and a cookie to set if any."""
    response = func.HttpResponse(page.body, status_code=status, mimetype="text/html", charset="utf-8",
                                 headers={**PAGE_HEADERS, "Content-Security-Policy": page.csp})
    if cookie:
        response.headers["Set-Cookie"] = cookie
    return response


def refused(exc: Any) -> func.HttpResponse:
    """A VerificationError as its problem body, with its status and its code."""
    return problem(exc.status, _REFUSALS.get(exc.status, "Refused"), str(exc), code=exc.code)


def cookie_value(header: str | None, name: str) -> str:
    """One cookie's value from a Cookie header ('' when absent or the header does not parse)."""
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return ""
    morsel = jar.get(name)
    return str(morsel.value) if morsel is not None else ""


def problem(status: int, title: str, detail: str = "", **extra: Any) -> func.HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, **({"detail": detail} if detail else {}),
            **extra}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")


def caller(req: func.HttpRequest, role: Role) -> Principal:
    """The authenticated caller holding ``role``; PrincipalError (401 none, 403 without the role) else."""
    return parse_principal(req.headers.get(PRINCIPAL_HEADER)).require(role)


def is_json_media_type(value: str | None) -> bool:
    """``application/json`` with optional parameters (``; charset=utf-8``), nothing else (RFC 8259 section 11)."""
    if not value:
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


def json_object(req: func.HttpRequest, keys: set[str], shape: str) -> dict[str, Any] | func.HttpResponse:
    """The body as a JSON object holding no key but ``keys``, or the problem to answer (415 a non-JSON content
    type, 400 a body that is not such an object; ``shape`` says what is expected)."""
    from shared.reset.request import RequestError, load_json

    if not is_json_media_type(req.headers.get("content-type")):
        return problem(415, "Unsupported media type", "send application/json")
    try:
        body = load_json(req.get_body() or b"")
    except RequestError as exc:
        return problem(400, "Invalid request", str(exc), field="body")
    if not isinstance(body, dict) or set(body) - keys:
        return problem(400, "Invalid request", f"the body is {shape}", field="body")
    return body


def problems(handler: Handler) -> Handler:
    """A misconfigured app answers 500 with a problem body naming the setting, not a stack trace; a caller
    without a principal 401, without the route's role 403."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except PrincipalError as exc:
            response = problem(exc.status, "Unauthorized" if exc.status == 401 else "Forbidden", str(exc))
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="mfaops"'
            return response
        except ConfigurationError as exc:
            log.error("configuration error: %s", exc)
            return problem(500, "mfaops is misconfigured", str(exc))

    return wrapper
