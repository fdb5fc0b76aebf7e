"""Signed tickets for the local host, the tests and the benchmarks: what ServiceNow's Business Rule sends."""

from __future__ import annotations

import json
import time
from typing import Any

import azure.functions as func

from sandbox.localhost import user_function
from shared.reset.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


def signed_headers(secret: str, raw: bytes, *, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": content_type, TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, stamp, raw)}


def signed_request(secret: str, body: dict[str, Any] | bytes, *, timestamp: int | None = None,
                   content_type: str = "application/json",
                   headers: dict[str, str] | None = None) -> func.HttpRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {**signed_headers(secret, raw, timestamp=timestamp, content_type=content_type), **(headers or {})}
    return func.HttpRequest("POST", "http://localhost/api/itsm/servicenow", headers=all_headers, body=raw)


async def submit(secret: str, body: dict[str, Any] | bytes, **kwargs: Any) -> func.HttpResponse:
    """Call the webhook function as the Functions host would."""
    import function_app

    response: func.HttpResponse = await user_function(function_app.app, "servicenow_webhook")(
        signed_request(secret, body, **kwargs))
    return response
