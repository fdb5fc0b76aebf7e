"""The caller of an operator route, read from App Service Authentication's ``X-MS-CLIENT-PRINCIPAL``.

App Service (Functions included) validates the Entra token in front of the app and injects the caller's claims as
``X-MS-CLIENT-PRINCIPAL``: base64 of ``{"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"}``.
"External requests aren't allowed to set these headers, so they're present only if set by App Service"
(learn.microsoft.com/azure/app-service/configure-authentication-user-identities, "Access user claims in app code"
and "Decoding the client principal header"). So the header is trusted exactly as far as the platform's
authentication is switched on in front of the route: Bicep turns it on for every route but the signed webhook.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import MfaopsError

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
MAX_HEADER_CHARS = 16 * 1024

# Claim types as the platform maps them (the default claim mapping of the Microsoft identity provider).
OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
UPN_CLAIMS = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "preferred_username")
APPID_CLAIMS = ("appid", "azp")
DEFAULT_ROLE_TYP = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
DEFAULT_NAME_TYP = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_UPN = re.compile(r"^[A-Za-z0-9'._!#^~+-]{1,113}@[A-Za-z0-9.-]{1,255}$")


class Role(StrEnum):
    """App roles of the mfaops API app registration (bicep/api-app.bicep declares the same values)."""

    JOBS_READ = "Jobs.Read"
    TAP_RETRIEVE = "Tap.Retrieve"
    JOBS_RETRY = "Jobs.Retry"
    JOBS_VERIFY = "Jobs.Verify"  # attest a call-back to the number on record


class PrincipalError(MfaopsError):
    """No usable principal (HTTP 401) or a principal without the role a route needs (HTTP 403)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user (upn + object id) or an application (app id + object id)."""

    object_id: str
    upn: str
    app_id: str
    roles: frozenset[str]
    auth_type: str

    @property
    def by(self) -> str:
        """What a job records as who acted: the UPN of a user, the object id of an application."""
        return self.upn or self.object_id

    @property
    def is_app(self) -> bool:
        return not self.upn

    def require(self, role: Role) -> Principal:
        if role.value not in self.roles:
            raise PrincipalError(f"the caller lacks the app role {role.value}", status=403)
        return self


def parse_principal(header: str | None) -> Principal:
    """The principal in the header, or PrincipalError(401) when it is missing or unusable."""
    if not header:
        raise PrincipalError(f"authentication required: no {PRINCIPAL_HEADER} (sign in with Entra ID)", status=401)
    if len(header) > MAX_HEADER_CHARS:
        raise PrincipalError(f"{PRINCIPAL_HEADER} is too large", status=401)
    try:
        data = json.loads(base64.b64decode(header.encode("ascii"), validate=True))
    except (UnicodeError, binascii.Error, ValueError, RecursionError):
        raise PrincipalError(f"{PRINCIPAL_HEADER} is not base64 JSON", status=401) from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise PrincipalError(f"{PRINCIPAL_HEADER} has no claims", status=401)
    role_typ = _text(data, "role_typ") or DEFAULT_ROLE_TYP
    claims: dict[str, list[str]] = {}
    for claim in data["claims"]:
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str) and isinstance(claim.get("val"), str):
            claims.setdefault(claim["typ"], []).append(claim["val"])
    oid = _first(claims, OID_CLAIMS)
    if not _GUID.fullmatch(oid):
        raise PrincipalError(f"{PRINCIPAL_HEADER} carries no object id", status=401)
    upn = _first(claims, UPN_CLAIMS)
    if upn and not _UPN.fullmatch(upn):
        upn = ""  # never a free-text "by": an unusable name falls back to the object id
    roles = frozenset(claims.get(role_typ, []) + (claims.get("roles", []) if role_typ != "roles" else []))
    auth_type = _text(data, "auth_typ")
    return Principal(object_id=oid.lower(), upn=upn.lower(), app_id=_first(claims, APPID_CLAIMS), roles=roles,
                     auth_type=auth_type)


def encode_principal(*, object_id: str, upn: str = "", roles: list[str] | tuple[str, ...] = (),
                     app_id: str = "", auth_type: str = "aad") -> str:
    """The header as the platform writes it (the local host and the tests emulate the platform with it)."""
    claims = [{"typ": OID_CLAIMS[0], "val": object_id}]
    if upn:
        claims += [{"typ": UPN_CLAIMS[0], "val": upn}, {"typ": DEFAULT_NAME_TYP, "val": upn}]
    if app_id:
        claims.append({"typ": "appid", "val": app_id})
    claims += [{"typ": DEFAULT_ROLE_TYP, "val": role} for role in roles]
    body = {"auth_typ": auth_type, "claims": claims, "name_typ": DEFAULT_NAME_TYP, "role_typ": DEFAULT_ROLE_TYP}
    return base64.b64encode(json.dumps(body).encode()).decode()


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _first(claims: dict[str, list[str]], names: tuple[str, ...]) -> str:
    for name in names:
        for value in claims.get(name, []):
            if value:
                return value
    return ""
