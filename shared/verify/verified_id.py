"""The verified_id proof: the user's own page (bound to the first browser that opens it), the presentation request
it creates at the Request Service, and the service's callback that decides the proof.

A `presentation_verified` passes only when the verification is still open, the credential is the configured type
from an accepted issuer, its `revocationId` (a VerifiedEmployee's user principal name) is the user being reset and
its `mail` does not say otherwise, and Face Check's match confidence is at least the threshold. The job keeps the
type, issuer, score and threshold, never the photo or another claim."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.errors import InvalidTransitionError, JobNotFoundError, TapGoneError, TapNotFoundError, VerificationError
from shared.jobs.model import Job, JobState, utcnow
from shared.settings import Settings
from shared.tapdrop import RetrievedTap
from shared.verify.model import EXPIRED, FAILED, PASSED, PENDING, SCANNED, Proof, Verification
from shared.verify.recovery_store import Decoy, RecoveryStore
from shared.verify.requestservice import RequestService, RequestServiceError
from shared.verify.service import VerificationService, settle_on

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True, slots=True)
class Opened:
    job: Job
    proof: Proof
    browser: str  # the cookie's value when this call bound the page to a browser, else ""


def digest(token: str) -> str:
    return hashlib.sha256(b"mfaops-page:" + token.encode()).hexdigest()


@dataclass
class VerifiedIdService:
    proofs: VerificationService
    requests: RequestService
    settings: Settings
    now: Callable[[], datetime] = field(default=utcnow)
    recovery: RecoveryStore | None = None  # self-service recovery's decoy pages
    _organisation: str | None = field(default=None, init=False)

    async def _find(self, verification_id: str) -> tuple[Job, Verification, Proof]:
        """The job, verification and verified_id proof a link names. Unknown, replaced and proof-less ids all answer
        the same 404: the page must not say whether a user exists."""
        gone = VerificationError("this link has expired or was used", status=404, code="gone")
        if not _ID.fullmatch(verification_id or ""):
            raise gone
        try:
            job = await self.proofs.jobs.job_for_verification(verification_id)
        except JobNotFoundError:
            raise gone from None
        v = job.verification
        proof = v.proof("verified_id") if v is not None and v.id == verification_id else None
        if v is None or proof is None:
            raise gone
        job = await self.proofs.expire_if_due(job)
        assert job.verification is not None
        v = job.verification
        found = v.proof("verified_id")
        assert found is not None
        return job, v, found

    async def open_page(self, verification_id: str, *, browser: str, client: str) -> Opened:
        """The page opened: bound to this browser on first open (and a presentation request made), refused to any
        other browser, ended once its link has lived VERIFY_LINK_MINUTES without a presentation."""
        job, v, proof = await self._find(verification_id)
        bound = str(proof.data.get("browser", ""))
        if bound and not (browser and _same(bound, digest(browser))):
            raise VerificationError("this page was opened in another browser", status=403, code="opened_elsewhere")
        if proof.open and v.state == PENDING and self._link_over(proof):
            await self._end(job, "link_expired")
            raise VerificationError("this link has expired or was used", status=410, code="gone")
        if not proof.open:
            if not bound:
                raise VerificationError("this link has expired or was used", status=410, code="gone")
            return Opened(job, proof, "")
        fresh = ""
        if not bound:
            fresh = secrets.token_urlsafe(32)
            job = await self._bind(job, verification_id, digest(fresh), client)
            v = job.verification  # type: ignore[assignment]
            proof = v.proof("verified_id")  # type: ignore[assignment]
        expiry = proof.data.get("request_expiry")
        if not proof.data.get("request_id") or (expiry and self.now().timestamp() >= float(expiry)):
            job = await self._request(job, verification_id)
            v = job.verification  # type: ignore[assignment]
            proof = v.proof("verified_id")  # type: ignore[assignment]
        return Opened(job, proof, fresh)

    def _link_over(self, proof: Proof) -> bool:
        until = proof.data.get("link_expires")
        return bool(until) and self.now() >= datetime.fromisoformat(str(until))

    async def _bind(self, job: Job, verification_id: str, digest: str, client: str) -> Job:
        now = self.now()

        def bind(j: Job) -> None:
            p = _open_proof(j, verification_id)
            if p.data.get("browser"):
                raise InvalidTransitionError("bound meanwhile")
            p.data.update(browser=digest, client=client[:64], opened_at=now.isoformat())
            j.record("verified_id", "opened", f"the user's page opened from {client[:64] or 'an unknown address'}",
                     now=now)

        try:
            return await self.proofs.jobs.update(job.job_id, bind)
        except InvalidTransitionError:
            raise VerificationError("this page was opened in another browser", status=403,
                                    code="opened_elsewhere") from None

    async def _request(self, job: Job, verification_id: str) -> Job:
        """A presentation request at the Request Service; a refusal fails the proof with the service's code."""
        v = job.verification
        assert v is not None and v.expires_at is not None
        try:
            made = await self.requests.create(state=verification_id, deadline=v.expires_at,
                                              callback_url=f"{self.settings.public_base_url}/api/public/verify/"
                                                           "callback")
        except RequestServiceError as exc:
            code = exc.code if _CODE.fullmatch(exc.code) else "request_service_error"
            await self._end(job, code, detail=str(exc))
            raise VerificationError("Verified ID could not start; the service desk is told", status=503,
                                    code=code) from None
        now = self.now()

        def keep(j: Job) -> None:
            p = _open_proof(j, verification_id)
            p.data.update(request_id=made.request_id, url=made.url, expiry=made.expiry.isoformat(),
                          request_expiry=made.expiry.timestamp())
            j.record("verified_id", "requested", f"presentation request {made.request_id}", now=now)

        return await self.proofs.jobs.update(job.job_id, keep)

    async def _end(self, job: Job, reason: str, detail: str = "") -> Job:
        now = self.now()
        vid = job.verification.id if job.verification else ""

        def end(j: Job) -> None:
            p = _open_proof(j, vid)
            p.state, p.reason, p.at = (EXPIRED if reason == "link_expired" else FAILED), reason, now
            j.record("proof", f"verified_id_{p.state}", detail or reason, data={"kind": "verified_id"}, now=now)
            settle_on(j, now)

        try:
            return await self.proofs.decided(job, end)
        except VerificationError:
            return await self.proofs.jobs.get(job.job_id)

    async def decoy(self, page_id: str, *, browser: str) -> Decoy | None:
        """A self-service page shown for a name that cannot recover, to the browser it was made for."""
        if self.recovery is None or not _ID.fullmatch(page_id or "") or not browser:
            return None
        found = await self.recovery.decoy(page_id)
        if found is None or not _same(found.browser, digest(browser)):
            return None
        return found

    async def status(self, verification_id: str, *, browser: str) -> dict[str, Any]:
        try:
            job, v, proof = await self._bound(verification_id, browser)
        except VerificationError:
            decoy = await self.decoy(verification_id, browser=browser)
            if decoy is None:
                raise
            state = "pending" if self.now() < decoy.expires else "expired"
            return {"state": state, "verification": state, "reset": "waiting", "tap_ready": False}
        tap_ready = (v.tap_delivery == "verified_user" and job.state is JobState.SUCCEEDED and any(
            s.action == "issue_tap" and s.outcome == "issued" for s in job.steps) and not any(
            s.action == "tap_retrieval" and s.outcome == "retrieved" for s in job.steps))
        return {"state": proof.state, "verification": v.state, "reset": _reset_state(job), "tap_ready": tap_ready}

    async def tap(self, verification_id: str, *, browser: str) -> RetrievedTap:
        job, v, proof = await self._bound(verification_id, browser)
        if v.tap_delivery != "verified_user" or proof.state != PASSED:
            raise VerificationError("this page shows no pass", status=409, code="tap_delivered_elsewhere")
        if job.state is not JobState.SUCCEEDED:
            raise VerificationError(f"the reset is {_reset_state(job)}", status=409, code="not_ready")
        try:
            tap = await self.proofs.tap_drop.take(job.job_id, now=self.now())
        except TapNotFoundError:
            raise VerificationError("the reset issued no pass", status=404, code="no_tap") from None
        except TapGoneError as exc:
            raise VerificationError(str(exc), status=410, code="gone") from None
        await self.proofs.gate.record(job, [("tap_retrieval", "retrieved", "by the verified user, on their page")])
        return tap

    async def _bound(self, verification_id: str, browser: str) -> tuple[Job, Verification, Proof]:
        job, v, proof = await self._find(verification_id)
        bound = str(proof.data.get("browser", ""))
        if not bound or not browser or not _same(bound, digest(browser)):
            raise VerificationError("this page was opened in another browser", status=403, code="opened_elsewhere")
        return job, v, proof

    async def organisation(self) -> str:
        """The tenant's display name for the page (read once per worker)."""
        if self._organisation is None:
            try:
                org = await self.proofs.gate.graph.organization()
                self._organisation = str(org.get("displayName") or "Your organisation")
            except Exception:  # the page works without the name; the read is retried on the next open
                return "Your organisation"
        return self._organisation

    # -- the Request Service's callback ---------------------------------------------------------------------------
    def authentic(self, api_key: str) -> bool:
        key = self.settings.verified_id_callback_key.get_secret_value()
        return bool(key) and _same(api_key, key)

    async def callback(self, api_key: str, body: Any) -> Job:
        if not self.authentic(api_key):
            raise VerificationError("the api-key is missing or wrong", status=401, code="unauthorized")
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in
                                                 ("requestId", "requestStatus", "state")):
            raise VerificationError("a callback carries requestId, requestStatus and state", status=400,
                                    code="invalid_callback")
        state, request_id, status = body["state"], body["requestId"], body["requestStatus"]
        if status not in ("request_retrieved", "presentation_verified", "presentation_error"):
            raise VerificationError(f"requestStatus {status[:40]!r} is not one this route takes", status=400,
                                    code="invalid_callback")
        try:
            job, v, proof = await self._find(state)
        except VerificationError:
            raise VerificationError("no open verification has this state", status=404, code="not_found") from None
        if not proof.data.get("request_id") or not _same(str(proof.data["request_id"]), request_id):
            raise VerificationError("this requestId is not the one made for this state", status=409,
                                    code="request_mismatch")
        if not proof.open or v.state != PENDING or job.state is not JobState.AWAITING_VERIFICATION:
            raise VerificationError("the verification is decided", status=409, code="decided")
        now = self.now()
        if status == "request_retrieved":
            def scanned(j: Job) -> None:
                p = _open_proof(j, state)
                if p.state == PENDING:
                    p.state = SCANNED
                j.record("verified_id", "scanned", "the user's wallet retrieved the request", now=now)

            return await self.proofs.jobs.update(job.job_id, scanned)
        facts: dict[str, Any] = {}
        if status == "presentation_error":
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            code = str(error.get("code", ""))  # type: ignore[union-attr]
            reason = code if _CODE.fullmatch(code) else "presentation_error"
        else:
            reason, facts = self._judge(job, v, body)

        def decide(j: Job) -> None:
            p = _open_proof(j, state)
            if p.data.get("request_id") != request_id:
                raise InvalidTransitionError("another request")
            p.state, p.at, p.by = (PASSED if not reason else FAILED), now, j.target.upn or None
            p.reason = reason or None
            p.data.update(facts)
            shown = ", ".join(f"{k} {facts[k]}" for k in ("type", "issuer", "score", "threshold") if k in facts)
            j.record("proof", f"verified_id_{p.state}", (shown or reason) + (f" ({reason})" if reason and shown
                                                                             else ""),
                     data={"kind": "verified_id", "by": j.target.upn}, now=now)
            settle_on(j, now)

        return await self.proofs.decided(job, decide)

    def _judge(self, job: Job, v: Verification, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """'' when the presentation proves the user; else the reason. The facts kept: type, issuer, score,
        threshold (never a claim's value, never the photo)."""
        s = self.settings
        threshold = s.verified_id_facecheck_threshold
        creds = body.get("verifiedCredentialsData")
        cred = creds[0] if isinstance(creds, list) and creds and isinstance(creds[0], dict) else {}
        types = [t for t in cred.get("type", []) if isinstance(t, str)] if isinstance(cred.get("type"), list) else []
        issuer = str(cred.get("issuer", ""))[:200]
        face = cred.get("faceCheck") if isinstance(cred.get("faceCheck"), dict) else {}
        score = face.get("matchConfidenceScore") if isinstance(face, dict) else None
        facts: dict[str, Any] = {"type": s.verified_id_credential_type if s.verified_id_credential_type in types
                                 else ",".join(types)[:80], "issuer": issuer, "threshold": threshold}
        if isinstance(score, int | float) and not isinstance(score, bool):
            facts["score"] = float(score)
        if s.verified_id_credential_type not in types:
            return "wrong_credential_type", facts
        if issuer not in s.accepted_issuer_list:
            return "issuer_not_accepted", facts
        claims = cred.get("claims") if isinstance(cred.get("claims"), dict) else {}
        named = str(claims.get("revocationId", "")).strip().lower()  # type: ignore[union-attr]
        mail = str(claims.get("mail", "") or "").strip().lower()  # type: ignore[union-attr]
        upn = (job.target.upn or "").lower()
        if not named or named != upn or (mail and mail not in {upn, v.mail.lower()}):
            return "wrong_person", facts
        if "score" not in facts or facts["score"] < threshold:
            return "face_check_below_threshold", facts
        if job.kind.value == "self_service":
            issued = _when(cred.get("issuanceDate"))
            floor = timedelta(days=s.verified_id_min_credential_age_days)
            if issued is None or self.now() - issued < floor:
                return "credential_too_new", facts
        return "", facts


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of caller-supplied text (compare_digest refuses non-ASCII str: compare bytes)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _open_proof(job: Job, verification_id: str) -> Proof:
    v = job.verification
    p = v.proof("verified_id") if v is not None and v.id == verification_id else None
    if v is None or p is None or not p.open or v.state != PENDING or job.state is not JobState.AWAITING_VERIFICATION:
        raise InvalidTransitionError("the verified_id proof is decided")
    return p


def _reset_state(job: Job) -> str:
    return {"awaiting_verification": "waiting", "queued": "running", "running": "running"}.get(job.state.value,
                                                                                            job.state.value)


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
