"""HTTP helpers shared by the blueprints: JSON and RFC 9457 problem responses."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json",
                             headers=headers)


def problem(status: int, title: str, detail: str = "", **extra: Any) -> func.HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, **({"detail": detail} if detail else {}),
            **extra}
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/problem+json")
