"""A Microsoft Entra Verified ID Request Service simulator, and the user's wallet, for the sandbox (`/verifiedid`).

Faithful to the Request Service REST API reference ("Request Service REST API presentation specification",
presentation-request-api; the callback events and bodies of the same page; ../shared/reference/verified-id.md):
- `POST /v1.0/verifiableCredentials/createPresentationRequest` validates the documented payload (authority,
  registration.clientName, callback url/state/headers with only `api-key` or `Authorization` ("Any other header will
  throw an invalid callback header error"), requestedCredentials with a type, Face Check's threshold 50-100 and no
  receipt with it) and answers `201 {requestId, url, expiry}` (`url` an `openid-vc://` link, `expiry` epoch seconds)
  or the documented error body (`error.code`, `error.message`, `error.innererror.code` such as `badOrMissingField`,
  and its `target`).
- Wallet controls act as the user's phone: `POST /_sandbox/requests/{requestId}/scan` (the `request_retrieved`
  callback), `.../present` with `{"user", "face_match", "issued_days_ago", "issuer"}` (`presentation_verified` with
  that tenant user's VerifiedEmployee claims and the score, or `presentation_error` when the score is under the
  request's threshold, as the service does), and `{"decline": true}` (the user cancelled). Callbacks carry the
  request's own headers (its `api-key`), as the real service sends them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.graph.tenant import Tenant

REQUEST_LIFETIME_S = 300  # the service's requests expire after five minutes
Poster = Callable[[str, dict[str, str], dict[str, Any]], Awaitable[int]]
# A few bytes standing in for the credential's photo claim: a verifier must never store it.
PHOTO = base64.b64encode(b"\x89PNG sandbox portrait").decode()


@dataclass
class PresentationRequest:
    request_id: str
    payload: dict[str, Any]
    expiry: datetime
    events: list[str] = field(default_factory=list)

    @property
    def callback(self) -> dict[str, Any]:
        return dict(self.payload.get("callback") or {})

    @property
    def threshold(self) -> int:
        try:
            return int(self.payload["requestedCredentials"][0]["configuration"]["validation"]["faceCheck"]
                       ["matchConfidenceThreshold"])
        except (KeyError, IndexError, TypeError, ValueError):
            return 70


@dataclass
class RequestServiceSimulator:
    tenant: Tenant
    poster: Poster | None = None  # delivers callbacks (httpx over loopback, or in-process to the function app)
    requests: dict[str, PresentationRequest] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)  # every createPresentationRequest body
    fail_next: int = 0  # answer the next create requests 503
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def issuer(self) -> str:
        return str(self.tenant.raw.get("verifiedId", {}).get("authority") or f"did:web:{self.tenant.domain}")

    def create(self, payload: Any) -> tuple[int, dict[str, Any]]:
        self.received.append(payload if isinstance(payload, dict) else {"invalid": True})
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503, _error("serviceUnavailable", "The service is temporarily unavailable.", "", "")
        problem = _invalid(payload)
        if problem is not None:
            return 400, _error("badRequest", "The request is invalid.", *problem)
        request_id = str(uuid.uuid4())
        expiry = self.now() + timedelta(seconds=REQUEST_LIFETIME_S)
        self.requests[request_id] = PresentationRequest(request_id, payload, expiry)
        url = ("openid-vc://?request_uri=https://verifiedid.did.msidentity.com/v1.0/tenants/"
               f"{self.tenant.id}/verifiableCredentials/presentationRequests/{request_id}")
        return 201, {"requestId": request_id, "url": url, "expiry": int(expiry.timestamp())}

    async def scan(self, request_id: str) -> int:
        request = self.requests[request_id]
        request.events.append("request_retrieved")
        return await self._call_back(request, {"requestStatus": "request_retrieved"})

    async def present(self, request_id: str, *, user: str = "", face_match: float = 90.0, issued_days_ago: int = 30,
                      issuer: str = "", decline: bool = False) -> int:
        request = self.requests[request_id]
        if decline:
            request.events.append("declined")
            return await self._call_back(request, {"requestStatus": "presentation_error", "error": {
                "code": "user_canceled", "message": "The user cancelled the presentation."}})
        if face_match < request.threshold:
            request.events.append("face_check_failed")
            return await self._call_back(request, {"requestStatus": "presentation_error", "error": {
                "code": "faceCheckFailed", "message": "Face Check: the match confidence score is below the "
                                                      "threshold of the request."}})
        holder = self.tenant.user(user)
        if holder is None:
            raise KeyError(user)
        issued = self.now() - timedelta(days=issued_days_ago)
        names = holder.display_name.split(" ", 1)
        claims = {"displayName": holder.display_name, "givenName": names[0], "surname": names[-1],
                  "jobTitle": holder.extra.get("jobTitle", ""), "preferredLanguage": "en-US",
                  "mail": holder.extra.get("mail", holder.upn), "revocationId": holder.upn, "photo": PHOTO}
        request.events.append("presentation_verified")
        wanted = request.payload["requestedCredentials"][0]["type"]
        return await self._call_back(request, {
            "requestStatus": "presentation_verified", "subject": f"did:web:wallet.example:{holder.id}",
            "verifiedCredentialsData": [{
                "issuer": issuer or self.issuer, "type": ["VerifiableCredential", wanted], "claims": claims,
                "credentialState": {"revocationStatus": "VALID"},
                "faceCheck": {"matchConfidenceScore": face_match},
                "domainValidation": {"url": f"https://{self.tenant.domain}/"},
                "issuanceDate": issued.isoformat().replace("+00:00", "Z"),
                "expirationDate": (issued + timedelta(days=365)).isoformat().replace("+00:00", "Z")}],
            "receipt": None})

    async def _call_back(self, request: PresentationRequest, event: dict[str, Any]) -> int:
        callback = request.callback
        body = {"requestId": request.request_id, "state": callback.get("state"), **event}
        if self.poster is None:
            return 0
        return await self.poster(str(callback.get("url")), dict(callback.get("headers") or {}), body)


def _error(code: str, message: str, inner: str, target: str) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner, "message": f"{target} is missing or invalid.", "target": target}
    return {"requestId": str(uuid.uuid4()), "date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "error": error}


def _invalid(payload: Any) -> tuple[str, str] | None:
    """(innererror code, target) of the first documented rule the payload breaks, or None."""
    if not isinstance(payload, dict):
        return "badOrMissingField", "body"
    if not str(payload.get("authority", "")).startswith("did:"):
        return "badOrMissingField", "authority"
    registration = payload.get("registration")
    if not isinstance(registration, dict) or not registration.get("clientName"):
        return "badOrMissingField", "registration.clientName"
    callback = payload.get("callback")
    if not isinstance(callback, dict) or not str(callback.get("url", "")).startswith(("https://", "http://")):
        return "badOrMissingField", "callback.url"
    if not callback.get("state"):
        return "badOrMissingField", "callback.state"
    headers = callback.get("headers") or {}
    if not isinstance(headers, dict) or set(headers) - {"api-key", "Authorization"}:
        return "invalidCallbackHeader", "callback.headers"
    credentials = payload.get("requestedCredentials")
    if not isinstance(credentials, list) or not credentials or not isinstance(credentials[0], dict) or \
            not credentials[0].get("type"):
        return "badOrMissingField", "requestedCredentials.type"
    validation = ((credentials[0].get("configuration") or {}).get("validation") or {})
    face = validation.get("faceCheck")
    if face is not None:
        threshold = face.get("matchConfidenceThreshold", 70) if isinstance(face, dict) else None
        if not isinstance(threshold, int) or not 50 <= threshold <= 100:
            return "badOrMissingField", "requestedCredentials.configuration.validation.faceCheck" \
                                        ".matchConfidenceThreshold"
        if payload.get("includeReceipt"):
            return "badOrMissingField", "includeReceipt"
    return None


def build_verifiedid_app(sim: RequestServiceSimulator) -> Starlette:
    async def create(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        status, body = sim.create(payload)
        return JSONResponse(body, status_code=status)

    def known(request: Request) -> str | None:
        rid = str(request.path_params["request_id"])
        return rid if rid in sim.requests else None

    async def scan(request: Request) -> Response:
        rid = known(request)
        if rid is None:
            return JSONResponse({"error": "no such request"}, status_code=404)
        return JSONResponse({"callback_status": await sim.scan(rid)})

    async def present(request: Request) -> Response:
        rid = known(request)
        if rid is None:
            return JSONResponse({"error": "no such request"}, status_code=404)
        body = json.loads(await request.body() or b"{}")
        try:
            status = await sim.present(rid, user=str(body.get("user", "")), face_match=float(body.get("face_match",
                                                                                                     90)),
                                       issued_days_ago=int(body.get("issued_days_ago", 30)),
                                       issuer=str(body.get("issuer", "")), decline=bool(body.get("decline")))
        except KeyError:
            return JSONResponse({"error": "no such tenant user"}, status_code=404)
        return JSONResponse({"callback_status": status})

    async def listing(request: Request) -> Response:
        return JSONResponse({"requests": [{"requestId": r.request_id, "state": r.callback.get("state"),
                                           "events": r.events} for r in sim.requests.values()]})

    return Starlette(routes=[
        Route("/v1.0/verifiableCredentials/createPresentationRequest", create, methods=["POST"]),
        Route("/_sandbox/requests", listing, methods=["GET"]),
        Route("/_sandbox/requests/{request_id}/scan", scan, methods=["POST"]),
        Route("/_sandbox/requests/{request_id}/present", present, methods=["POST"]),
    ])
