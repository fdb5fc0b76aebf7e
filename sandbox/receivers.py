"""Local receivers for alert sinks that are not Graph or ServiceNow: a Teams Workflows webhook. It answers 202
as Workflows does and keeps what it got, so `make run` and the tests show an alert end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class TeamsReceiver:
    posts: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0


def build_receivers_app(teams: TeamsReceiver) -> Starlette:
    async def post(request: Request) -> Response:
        if teams.fail_next > 0:
            teams.fail_next -= 1
            return JSONResponse({"error": {"code": "TooManyRequests"}}, status_code=429)
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError:
            return JSONResponse({"error": {"code": "InvalidRequestContent"}}, status_code=400)
        teams.posts.append({"channel": request.path_params["channel"], "body": body})
        return Response(status_code=202)

    async def listing(request: Request) -> Response:
        return JSONResponse({"posts": teams.posts})

    async def control(request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        teams.fail_next = int(body.get("fail_next", 0))
        return JSONResponse({"fail_next": teams.fail_next})

    return Starlette(routes=[Route("/workflows/{channel}", post, methods=["POST"]),
                             Route("/_sandbox/posts", listing, methods=["GET"]),
                             Route("/_sandbox/config", control, methods=["POST"])])
