"""The reset request: the webhook body, and the same JSON on the reset queue."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import MfaopsError
from shared.jobs.model import ticket_idempotency_key

MAX_BODY_BYTES = 64 * 1024
_UPN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class RequestError(MfaopsError):
    """The request is not a valid reset request. ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Literal["sc_req_item", "incident"]
    sys_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    number: str = Field(min_length=1, max_length=40, pattern=r"^[A-Z]{2,8}[0-9]{4,12}$")
    action: Literal["reset_mfa"]
    user: str = Field(min_length=3, max_length=256)
    revoke_sessions: bool | None = None
    issue_tap: bool | None = None
    requested_by: str = Field(default="", max_length=256)

    @field_validator("user")
    @classmethod
    def _upn_or_object_id(cls, value: str) -> str:
        value = value.strip()
        if not (_UPN.match(value) or _GUID.match(value)):
            raise ValueError("must be a user principal name or an object id")
        return value

    @property
    def idempotency_key(self) -> str:
        return ticket_idempotency_key(self.table, self.sys_id, self.action)

    def to_message(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


def parse_request(body: bytes) -> ResetRequest:
    """Parse and validate; RequestError with status 413, 415 or 400 naming the field."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", status=413)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestError("body is not JSON", status=415) from None
    if not isinstance(data, dict):
        raise RequestError("body must be a JSON object", status=400)
    try:
        return ResetRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise RequestError(f"{field}: {first['msg']}", field=field) from None
