"""Graph failures (ODataError, transport errors) turned into mfaops's typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from kiota_abstractions.api_error import APIError

from shared.errors import (
    DefaultMethodConflictError,
    GraphBadRequestError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
)


def _header(headers: Any, name: str) -> str:
    if not headers:
        return ""
    for key, value in dict(headers).items():
        if key.lower() == name:
            if isinstance(value, list | tuple | set):
                return str(next(iter(value), ""))
            return str(value)
    return ""


def classify(status: int, code: str, message: str, headers: Any = None, *, what: str = "") -> GraphError:
    """The mfaops error for a Graph error response (also used for the inner responses of a $batch).
    ``message`` is Graph's own (the rules read it); ``what`` says what mfaops was doing."""
    request_id = _header(headers, "request-id")
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": request_id}
    text = message or f"Graph answered {status}"
    text = f"{what}: {text}" if what else text
    if status == 404:
        return GraphNotFoundError(text, **kwargs)
    lowered = message.lower()
    if status == 400 and code.lower() == "badrequest" and "default" in lowered and "method" in lowered:
        return DefaultMethodConflictError(text, **kwargs)
    if status in (401, 403):
        return GraphForbiddenError(text, **kwargs)
    if status == 429:
        retry_after = _header(headers, "retry-after")
        return GraphThrottledError(text, retry_after_s=float(retry_after) if retry_after else None, **kwargs)
    if status >= 500 or status in (408, 424):
        return GraphTransientError(text, **kwargs)
    return GraphBadRequestError(text, **kwargs)


@asynccontextmanager
async def graph_errors(what: str) -> AsyncIterator[None]:
    """Run a Graph call; re-raise its failure as a typed mfaops error naming ``what`` was attempted."""
    try:
        yield
    except APIError as exc:
        error = getattr(exc, "error", None)
        code = str(getattr(error, "code", "") or "")
        message = str(getattr(error, "message", "") or exc.message or "")
        status = int(exc.response_status_code or 0)
        raise classify(status, code, message, exc.response_headers, what=what) from exc
    except (httpx.TransportError, ConnectionError) as exc:
        raise GraphTransientError(f"{what}: {type(exc).__name__}") from exc
