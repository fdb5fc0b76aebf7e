"""Which Graph application permissions mfaops holds: the ``roles`` claim of its own Graph token (Entra puts the
granted application permissions there; reading it needs no permission of its own). The sandbox, which issues no
token, answers the same question at its control route."""

from __future__ import annotations

import abc
import base64
import json
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


class GrantSource(abc.ABC):
    @abc.abstractmethod
    async def roles(self) -> frozenset[str]:
        """Application permissions granted to mfaops's identity on Microsoft Graph."""


class TokenGrants(GrantSource):
    def __init__(self, credential: AsyncTokenCredential, scope: str = "https://graph.microsoft.com/.default") -> None:
        self._credential = credential
        self._scope = scope

    async def roles(self) -> frozenset[str]:
        token = (await self._credential.get_token(self._scope)).token
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return frozenset(str(r) for r in claims.get("roles", []))


class SandboxGrants(GrantSource):
    def __init__(self, client: httpx.AsyncClient, graph_base_url: str) -> None:
        self._client = client
        self._url = f"{graph_base_url.rstrip('/')}/_sandbox/app"

    async def roles(self) -> frozenset[str]:
        response = await self._client.get(self._url)
        response.raise_for_status()
        return frozenset(str(r) for r in response.json().get("appRoles") or [])


# Feature -> the permissions it needs (bicep/graph-permissions.bicep grants exactly these per flag).
RESET = ("UserAuthenticationMethod.ReadWrite.All", "User.RevokeSessions.All", "Directory.Read.All",
         "Policy.Read.All")
DETECTION = ("AuditLog.Read.All", "IdentityRiskEvent.Read.All", "IdentityRiskyUser.Read.All")
MAIL = ("Mail.Send",)
POSTURE_FIX = ("Policy.ReadWrite.ConditionalAccess",)
