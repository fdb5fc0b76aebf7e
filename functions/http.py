"""HTTP helpers shared by the blueprints: JSON and RFC 9457 problem responses."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.errors import ConfigurationError

log = logging.getLogger("mfaops.http")
Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json",
                             headers=headers)


def problem(status: int, title: str, detail: str = "", **extra: Any) -> func.HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, **({"detail": detail} if detail else {}),
            **extra}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")


def problems(handler: Handler) -> Handler:
    """A misconfigured app answers 500 with a problem body naming the setting, not a stack trace."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except ConfigurationError as exc:
            log.error("configuration error: %s", exc)
            return problem(500, "mfaops is misconfigured", str(exc))

    return wrapper
