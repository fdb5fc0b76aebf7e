"""A local Functions host: serves ``function_app.app``'s functions as Azure would, without Core Tools.

HTTP triggers become routes under ``/api`` (function keys are not enforced, as with ``func start``);
Service Bus triggers are fed from the in-process queue (``sandbox.queue``), the dead-letter queue included;
timer triggers fire on their NCRONTAB schedules.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.ncrontab import Schedule
from shared.queue.port import QueueMessage

_INDEX: dict[int, list[Any]] = {}
log = logging.getLogger("mfaops.localhost")


def functions_of(app: func.FunctionApp) -> list[Any]:
    """The app's functions, indexed once: FunctionApp.get_functions() refuses to run twice on one app."""
    if id(app) not in _INDEX:
        _INDEX[id(app)] = list(app.get_functions())
    return _INDEX[id(app)]


def user_function(app: func.FunctionApp, name: str) -> Any:
    for fn in functions_of(app):
        if fn.get_function_name() == name:
            return fn.get_user_function()
    raise KeyError(name)


def http_functions(app: func.FunctionApp) -> list[tuple[str, list[str], Any]]:
    """(route template, methods, user function) for every HTTP-triggered function of the app."""
    found = []
    for fn in functions_of(app):
        trigger = fn.get_trigger()
        if not isinstance(trigger, HttpTrigger):
            continue
        methods = [str(getattr(m, "value", m)) for m in (trigger.methods or ("GET", "POST"))]
        found.append((str(trigger.route or fn.get_function_name()), methods, fn.get_user_function()))
    return found


async def call_http_function(user_function: Any, req: func.HttpRequest) -> func.HttpResponse:
    result = user_function(req)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, func.HttpResponse)
    return result


def platform_headers(headers: dict[str, str]) -> dict[str, str]:
    """App Service Authentication's part, emulated: a bearer token becomes ``X-MS-CLIENT-PRINCIPAL`` the way the
    platform writes it (claims of the token; roles under ``role_typ``). The sandbox does not check token
    signatures (there is no Entra here); a principal header sent as such is passed on as if the platform had set
    it, so scripts and tests can act as any principal. In Azure the platform validates the token and strips a
    client's own principal headers."""
    out = {k: v for k, v in headers.items()}
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else _session_token(headers)
    if token:
        from sandbox.tokens import principal_header_from_token

        principal = principal_header_from_token(token)
        out = {k: v for k, v in out.items() if not k.lower().startswith("x-ms-client-principal")}
        if principal:
            out["x-ms-client-principal"] = principal
    return out


SESSION_COOKIE = "AppServiceAuthSession"  # App Service Authentication's own session cookie name


def _session_token(headers: dict[str, str]) -> str:
    """A browser signed in through the sandbox's /.auth/login/aad carries its token in the session cookie, as
    App Service's token store keeps a browser's session."""
    from functions.http import cookie_value

    return cookie_value(next((v for k, v in headers.items() if k.lower() == "cookie"), ""), SESSION_COOKIE)


def signin_routes(find_user: Callable[[str], tuple[str, str] | None]) -> list[Route]:
    """``/.auth/login/aad`` as a sandbox sign-in: a tenant user's UPN (``login_hint``, or typed in a form) becomes
    a session cookie and a redirect back to ``post_login_redirect_uri`` (a path on this host only, as App Service
    allows by default). No password: the sandbox has no Entra; anyone here may act as any tenant user."""
    from html import escape

    from starlette.responses import HTMLResponse, RedirectResponse

    from sandbox.tokens import mint

    async def login(request: Request) -> Response:
        target = request.query_params.get("post_login_redirect_uri", "/")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        hint = request.query_params.get("login_hint", "").strip()
        if not hint:
            return HTMLResponse(
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox sign-in</title></head>'
                '<body><h1>Sandbox sign-in</h1><form method="get" action="/.auth/login/aad">'
                f'<input type="hidden" name="post_login_redirect_uri" value="{escape(target, quote=True)}">'
                '<label for="login_hint">User principal name</label> '
                '<input id="login_hint" name="login_hint" type="email" required> '
                '<button id="sign-in" type="submit">Sign in</button></form></body></html>')
        found = find_user(hint)
        if found is None:
            return HTMLResponse(f"<!doctype html><p>No user {escape(hint)} in the sandbox tenant.</p>",
                                status_code=404)
        oid, upn = found
        response = RedirectResponse(target, status_code=302)
        response.set_cookie(SESSION_COOKIE, mint(oid=oid, upn=upn), httponly=True, samesite="lax", path="/")
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/", status_code=302)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [Route("/login/aad", login, methods=["GET"]), Route("/logout", logout, methods=["GET"])]


def _endpoint(user_function: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        req = func.HttpRequest(
            method=request.method, url=str(request.url), headers=platform_headers(dict(request.headers)),
            params=dict(request.query_params), route_params=dict(request.path_params), body=body,
        )
        try:
            resp = await call_http_function(user_function, req)
        except Exception:
            log.exception("unhandled error in %s", getattr(user_function, "__name__", "function"))
            return JSONResponse({"type": "about:blank", "title": "Internal Server Error", "status": 500},
                                status_code=500, media_type="application/problem+json")
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in {"content-length", "content-type"}}
        return Response(resp.get_body(), status_code=resp.status_code, headers=headers,
                        media_type=resp.mimetype)

    return endpoint


def queue_functions(app: func.FunctionApp, resolve: Callable[[str], str]) -> dict[str, Any]:
    """Service Bus triggered functions by resolved queue name ('%RESET_QUEUE%' -> 'mfaops-reset')."""
    found: dict[str, Any] = {}
    for fn in functions_of(app):
        trigger = fn.get_trigger()
        if trigger is None or trigger.get_binding_name() != "serviceBusTrigger":
            continue
        name = re.sub(r"%([^%]+)%", lambda m: resolve(m.group(1)), str(getattr(trigger, "queue_name", "")))
        found[name] = fn.get_user_function()
    return found


def to_function_message(message: QueueMessage) -> func.ServiceBusMessage:
    from azure.functions.servicebus import ServiceBusMessage

    return ServiceBusMessage(body=message.body, message_id=message.message_id, session_id=message.session_id,
                                  correlation_id=message.correlation_id, delivery_count=message.delivery_count,
                                  application_properties={"traceparent": message.trace_parent}
                                  if message.trace_parent else {}, user_properties={},
                                  content_type="application/json")


async def call_queue_function(user_function: Any, message: QueueMessage) -> None:
    result = user_function(to_function_message(message))
    if inspect.isawaitable(result):
        await result


def timer_functions(app: func.FunctionApp, resolve: Callable[[str], str] | None = None
                    ) -> list[tuple[Schedule, bool, Any]]:
    """(schedule, run on startup, user function) for every timer-triggered function of the app; a schedule
    '%NAME%' is the app setting NAME, as the Functions host resolves it."""
    found = []
    for fn in functions_of(app):
        trigger = fn.get_trigger()
        if trigger is not None and trigger.get_binding_name() == "timerTrigger":
            text = str(getattr(trigger, "schedule", ""))
            if resolve is not None:
                text = re.sub(r"%([^%]+)%", lambda m: resolve(m.group(1)), text)
            schedule = Schedule.parse(text)
            found.append((schedule, bool(getattr(trigger, "run_on_startup", False)), fn.get_user_function()))
    return found


async def run_timers(app: func.FunctionApp, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                     resolve: Callable[[str], str] | None = None) -> None:
    """Fire timer functions on their NCRONTAB schedules until cancelled (the local host's timer trigger)."""
    from azure.functions.timer import TimerRequest

    timers = timer_functions(app, resolve)
    if not timers:
        return
    due = [now() if startup else schedule.next_after(now()) for schedule, startup, _ in timers]
    while True:
        index = min(range(len(timers)), key=lambda i: due[i])
        await asyncio.sleep(max(0.0, (due[index] - now()).total_seconds()))
        schedule, _, user_fn = timers[index]
        past_due = (now() - due[index]).total_seconds() > 1
        result = user_fn(TimerRequest(past_due=past_due))
        if inspect.isawaitable(result):
            await result
        due[index] = schedule.next_after(now())


async def unrouted(request: Request, exc: Exception) -> Response:
    """What no function answers (an empty path segment, a method a route lacks) is a problem body too."""
    status = int(getattr(exc, "status_code", 404))
    title = {404: "Not found", 405: "Method not allowed"}.get(status, "Bad request")
    return JSONResponse({"type": "about:blank", "title": title, "status": status,
                         "detail": f"no function answers {request.method} {request.url.path}"},
                        status_code=status, media_type="application/problem+json")


OPENAPI = Path(__file__).resolve().parent.parent / "functions" / "openapi.yaml"


def openapi_document() -> dict[str, Any]:
    """The HTTP API's OpenAPI document (functions/openapi.yaml, checked in), as JSON."""
    import yaml

    return dict(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))


def build_api(app: func.FunctionApp) -> Starlette:
    routes = [Route("/" + route.lstrip("/"), _endpoint(fn), methods=methods)
              for route, methods, fn in http_functions(app)]

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes.append(Route("/openapi.json", openapi, methods=["GET"]))

    return Starlette(routes=routes, exception_handlers={404: unrouted, 405: unrouted})
