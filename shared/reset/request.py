"""The reset request: the webhook body, and the same JSON on the reset queue."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import MfaopsError
from shared.jobs.model import ticket_idempotency_key

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_NUMBER_CHARS = 32

# Entra's UPN rules: the user part takes A-Z a-z 0-9 ' . - _ ! # ^ ~ (learn.microsoft.com/entra/identity/
# hybrid/connect/plan-connect-userprincipalname, "UPN format"), at most 64 characters, no leading, trailing or
# doubled dot; a guest's UPN ends its user part with '#EXT#'. The domain is a DNS name. Nothing else: a '/',
# '?', space, control or zero-width character would end up in a Graph URL, a job record and a ticket note.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_UPN = re.compile(
    r"^(?=[^@]{1,64}@)[A-Za-z0-9'_!^~-]+(?:\.[A-Za-z0-9'_!^~-]+)*(?:#EXT#)?@" + _LABEL + r"(?:\." + _LABEL + r")+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_upn(value: str) -> bool:
    return len(value) <= 320 and _UPN.fullmatch(value) is not None


def is_object_id(value: str) -> bool:
    return _GUID.fullmatch(value) is not None


def check_user(value: str) -> str:
    """A UPN or an object id, exactly: nothing is stripped or normalised silently."""
    if not (is_upn(value) or is_object_id(value)):
        raise ValueError("must be a user principal name or an object id")
    return value


class RequestError(MfaopsError):
    """The request is not a valid reset request. ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    table: Literal["sc_req_item", "incident"]
    sys_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    number: str = Field(min_length=1, max_length=40, pattern=r"^[A-Z]{2,8}[0-9]{4,12}$")
    action: Literal["reset_mfa"]
    user: str = Field(min_length=3, max_length=320)
    revoke_sessions: bool | None = None
    issue_tap: bool | None = None
    requested_by: str = Field(default="", max_length=320)

    @field_validator("user")
    @classmethod
    def _upn_or_object_id(cls, value: str) -> str:
        return check_user(value)

    @field_validator("requested_by")
    @classmethod
    def _requester_upn(cls, value: str) -> str:
        if value and not is_upn(value):
            raise ValueError("must be the requester's user principal name")
        return value

    @property
    def idempotency_key(self) -> str:
        return ticket_idempotency_key(self.table, self.sys_id, self.action)

    def to_message(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


def _bounded_number(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise _TooBig(f"a number of {len(text)} characters")
    return float(text) if any(c in text for c in ".eE") else int(text)


class _TooBig(ValueError):
    pass


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects, brackets inside strings not counted. Checked before json.loads,
    whose recursion would otherwise fail at about 1,000 levels with RecursionError."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict, bounded JSON: UTF-8, depth and number size capped, no NaN/Infinity; RequestError(400) else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("body is not UTF-8 JSON") from None
    if _depth(text) > max_depth:
        raise RequestError(f"body nests deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_bounded_number, parse_float=_bounded_number,
                          parse_constant=_no_constant)
    except _TooBig as exc:
        raise RequestError(f"body holds {exc}; the limit is {MAX_NUMBER_CHARS}") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError):
        raise RequestError("body is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise _TooBig(f"the non-JSON constant {name}")


def parse_request(body: bytes) -> ResetRequest:
    """Parse and validate; RequestError with status 413 or 400 naming the field."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}", status=413)
    data = load_json(body)
    if not isinstance(data, dict):
        raise RequestError("body must be a JSON object", status=400)
    try:
        return ResetRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise RequestError(f"{field}: {first['msg']}", field=field) from None
