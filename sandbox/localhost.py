"""A local Functions host: serves ``function_app.app``'s functions as Azure would, without Core Tools.

HTTP triggers become routes under ``/api`` (function keys are not enforced, as with ``func start``).
"""

from __future__ import annotations

import inspect
from typing import Any

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def http_functions(app: func.FunctionApp) -> list[tuple[str, list[str], Any]]:
    """(route template, methods, user function) for every HTTP-triggered function of the app."""
    found = []
    for fn in app.get_functions():
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


def _endpoint(user_function: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        req = func.HttpRequest(
            method=request.method, url=str(request.url), headers=dict(request.headers),
            params=dict(request.query_params), route_params=dict(request.path_params), body=body,
        )
        resp = await call_http_function(user_function, req)
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in {"content-length", "content-type"}}
        return Response(resp.get_body(), status_code=resp.status_code, headers=headers,
                        media_type=resp.mimetype)

    return endpoint


def build_api(app: func.FunctionApp) -> Starlette:
    routes = [Route("/" + route.lstrip("/"), _endpoint(fn), methods=methods)
              for route, methods, fn in http_functions(app)]
    return Starlette(routes=routes)
