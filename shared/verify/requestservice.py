"""The Microsoft Entra Verified ID Request Service: a presentation request for the verified_id proof.

`POST {VERIFIED_ID_ENDPOINT}/v1.0/verifiableCredentials/createPresentationRequest` with an app-only token for
`3db474b9-6a0c-4840-96ac-1fceb342124f/.default` (presentation-request-api: "Request Service REST API presentation
specification"; the tenant comes from the token). Answers `201 {requestId, url, expiry}` or an error body
`{"error": {"code", "message", "innererror": {"code", "message", "target"}}}`. No SDK is published for this REST API,
so the call is made here with httpx (which the app already uses for ServiceNow and Teams)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from shared.errors import VerificationError
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

SCOPE = "3db474b9-6a0c-4840-96ac-1fceb342124f/.default"
PATH = "/v1.0/verifiableCredentials/createPresentationRequest"
PURPOSE = ("Only present this at a screen you opened yourself: a pass to sign in will appear on that screen. If "
           "someone sent you this code, stop: they are trying to take over your account.")


class RequestServiceError(VerificationError):
    """The Request Service refused or failed; ``code`` is its error code (the proof fails with it)."""


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    request_id: str
    url: str
    expiry: datetime


class RequestService:
    def __init__(self, http: httpx.AsyncClient, settings: Settings,
                 credential: AsyncTokenCredential | None = None) -> None:
        self._http = http
        self._settings = settings
        self._credential = credential  # None: the sandbox's simulator, which takes no token

    def payload(self, *, state: str, callback_url: str) -> dict[str, Any]:
        s = self._settings
        return {
            "authority": s.verified_id_authority,
            "includeQRCode": False,
            "includeReceipt": False,  # must be false with Face Check
            "registration": {"clientName": "mfaops account recovery", "purpose": PURPOSE},
            "callback": {"url": callback_url, "state": state,
                         "headers": {"api-key": s.verified_id_callback_key.get_secret_value()}},
            "requestedCredentials": [{
                "type": s.verified_id_credential_type, "purpose": PURPOSE,
                "acceptedIssuers": s.accepted_issuer_list,
                "configuration": {"validation": {
                    "allowRevoked": False, "validateLinkedDomain": True,
                    "faceCheck": {"sourcePhotoClaimName": "photo",
                                  "matchConfidenceThreshold": s.verified_id_facecheck_threshold}}},
            }],
        }

    async def create(self, *, state: str, callback_url: str, deadline: datetime) -> PresentationRequest:
        """A presentation request; 429 and 5xx retried (Retry-After honoured) while ``deadline`` allows."""
        headers = {"Content-Type": "application/json"}
        if self._credential is not None:
            token = await self._credential.get_token(SCOPE)
            headers["Authorization"] = f"Bearer {token.token}"
        body = self.payload(state=state, callback_url=callback_url)
        url = self._settings.verified_id_endpoint + PATH
        for attempt in range(4):
            try:
                response = await self._http.post(url, json=body, headers=headers, timeout=30.0)
            except httpx.TransportError as exc:
                if attempt == 3:
                    raise RequestServiceError(f"the Request Service is unreachable: {type(exc).__name__}",
                                              status=503, code="service_unreachable") from exc
                await asyncio.sleep(1.0)
                continue
            if response.status_code in (200, 201):
                data = response.json()
                expiry = datetime.fromtimestamp(int(data.get("expiry", 0)), UTC)
                return PresentationRequest(request_id=str(data["requestId"]), url=str(data["url"]), expiry=expiry)
            error = _error_of(response)
            wait = _retry_after(response) or 2.0 ** attempt
            retryable = response.status_code == 429 or response.status_code >= 500
            if not retryable or attempt == 3 or datetime.now(UTC).timestamp() + wait >= deadline.timestamp():
                raise RequestServiceError(f"the Request Service answered {response.status_code}: "
                                          f"{error.get('message', '')}"[:300], status=response.status_code,
                                          code=str(error.get("code") or f"http_{response.status_code}"))
            await asyncio.sleep(min(wait, 10.0))
        raise RequestServiceError("the Request Service kept failing", status=503, code="service_unavailable")


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
