"""Who the CLI acts as, said at start. App-only (a service principal or managed identity: the token carries
``roles`` and no user): ``--by`` is required and recorded as asserted. Delegated (``az login``: the token carries
``scp`` and the user's ``upn``/``oid``): the token's user is ``by``; a different ``--by`` is refused. Local: the
sandbox has no tokens; ``--by`` is required and recorded as given."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from shared.bootstrap import Container
from shared.graph.client import GRAPH_SCOPE


class IdentityError(Exception):
    """The operator's identity does not fit the request (exit 2)."""


@dataclass(frozen=True, slots=True)
class Actor:
    by: str
    mode: str  # local | app-only | delegated
    asserted: bool
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def describe(self) -> str:
        how = "asserted with --by" if self.asserted else "from the token"
        return f"acting as {self.by} ({self.mode}; {how})"


def token_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return data if isinstance(data, dict) else {}


async def who_acts(container: Container, *, by: str, local: bool) -> Actor:
    if local:
        if not by:
            raise IdentityError("--by is required with --local: the UPN of who acts, recorded as given")
        return Actor(by=by, mode="local", asserted=True)
    token = await container.credential().get_token(GRAPH_SCOPE)
    claims = token_claims(token.token)
    scopes = frozenset(str(claims.get("scp", "")).split())
    roles = frozenset(r for r in claims.get("roles", []) if isinstance(r, str))
    if scopes:
        user = str(claims.get("upn") or claims.get("preferred_username") or claims.get("oid") or "")
        if by and by.lower() != user.lower():
            raise IdentityError(f"--by {by} is not the signed-in user {user}: a delegated token acts as its user")
        return Actor(by=user, mode="delegated", asserted=False, roles=roles, scopes=scopes)
    if not by:
        raise IdentityError("--by is required with an app-only identity: the UPN of who acts, recorded as asserted")
    return Actor(by=by, mode="app-only", asserted=True, roles=roles)
