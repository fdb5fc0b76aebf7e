"""Sandbox tokens: unsigned JWTs with the claims an Entra access token carries, for the local host's emulation
of App Service Authentication and for the CLI's local mode. Never accepted outside the sandbox."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shared.identity.principal import encode_principal


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(*, oid: str, upn: str = "", roles: list[str] | tuple[str, ...] = (), appid: str = "",
         scp: str = "") -> str:
    """An unsigned token (alg none) with Entra's claim names: oid, upn, roles, appid, scp."""
    claims: dict[str, Any] = {"oid": oid, "tid": "00000000-0000-0000-0000-000000000000", "roles": list(roles)}
    if upn:
        claims["upn"] = upn
    if appid:
        claims["appid"] = appid
    if scp:
        claims["scp"] = scp
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


def claims_of(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def principal_header_from_token(token: str) -> str:
    claims = claims_of(token)
    oid = claims.get("oid")
    if not isinstance(oid, str):
        return ""
    roles = [r for r in claims.get("roles", []) if isinstance(r, str)] if isinstance(claims.get("roles"), list) else []
    upn, appid = (value if isinstance(value := claims.get(k), str) else "" for k in ("upn", "appid"))
    return encode_principal(object_id=oid, upn=upn, roles=roles, app_id=appid)
