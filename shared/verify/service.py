"""Deciding proofs: the manager's approval or denial, the agent's call-back attestation, expiry, and the one
delivery of the TAP to the manager. Each decision is taken once, under the job's ETag: two tabs, two managers'
clicks or a click racing the expiry timer cannot both decide."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import InvalidTransitionError, JobNotFoundError, TapGoneError, TapNotFoundError, VerificationError
from shared.jobs.model import Job, JobFailure, JobState, utcnow
from shared.jobs.store import JobStore
from shared.tapdrop import RetrievedTap, TapDrop
from shared.verify.gate import VerificationGate
from shared.verify.model import EXPIRED, FAILED, PASSED, PENDING, Verification, digits_digest

LAST4 = re.compile(r"^[0-9]{4}$")


@dataclass
class VerificationService:
    gate: VerificationGate
    jobs: JobStore
    tap_drop: TapDrop
    # The reset service's continuation (ResetService.continue_verified): called once the proofs have passed.
    resume: Callable[[str], Awaitable[Job]]
    now: Callable[[], datetime] = field(default=utcnow)

    async def by_verification(self, verification_id: str) -> tuple[Job, Verification]:
        """The job and the verification a manager's link names; 404 unknown, 409 a verification a retry replaced."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", verification_id or ""):
            raise VerificationError("no such verification", status=404, code="not_found")
        try:
            job = await self.jobs.job_for_verification(verification_id)
        except JobNotFoundError:
            raise VerificationError("no such verification", status=404, code="not_found") from None
        if job.verification is None or job.verification.id != verification_id:
            raise VerificationError("this verification was replaced by a newer one", status=409, code="superseded")
        job = await self.expire_if_due(job)
        assert job.verification is not None
        return job, job.verification

    async def decide_manager(self, verification_id: str, *, by: str, by_id: str, approve: bool,
                             reason: str = "") -> Job:
        job, verification = await self.by_verification(verification_id)
        if not verification.manager_id or by_id.strip().lower() != verification.manager_id:
            raise VerificationError("only the user's manager may decide this verification", status=403,
                                    code="not_manager")
        if not approve and not reason.strip():
            raise VerificationError("a denial needs a reason", status=400, code="reason_required")
        now = self.now()

        def decide(j: Job) -> None:
            v = j.verification
            proof = v.proof("manager") if v is not None and v.id == verification_id else None
            if v is None or proof is None or proof.state != PENDING or v.state != PENDING or \
                    j.state is not JobState.AWAITING_VERIFICATION:
                raise InvalidTransitionError("the verification is decided")
            proof.state, proof.by, proof.at = (PASSED if approve else FAILED), by, now
            proof.reason = None if approve else "denied"
            j.record("proof", f"manager_{'approved' if approve else 'denied'}", f"by {by}" +
                     (f": {reason}" if reason else ""), data={"kind": "manager", "by": by}, now=now)
            settle_on(j, now)

        return await self.decided(job, decide)

    async def attest_callback(self, job_id: str, *, by: str, last4: str, confirmed: bool) -> Job:
        """The agent called the user back on the number on record. Digits that are not that number's last four
        fail the proof (422): the agent did not call the number on record."""
        if not LAST4.fullmatch(last4 or ""):
            raise VerificationError("number_last4: the last four digits of the number called", status=400,
                                    code="invalid_last4")
        job = await self.expire_if_due(await self.jobs.get(job_id))
        verification = job.verification
        proof = verification.proof("callback") if verification is not None else None
        if verification is None or proof is None:
            raise VerificationError(f"job {job_id} asks for no call-back", status=409, code="no_callback_proof")
        if verification.state != PENDING or proof.state != PENDING or \
                job.state is not JobState.AWAITING_VERIFICATION:
            raise VerificationError(f"job {job_id}: the call-back is decided or the verification is over",
                                    status=409, code="decided")
        matches = hmac.compare_digest(digits_digest(last4, self.gate.settings.job_id_secret),
                                      verification.phone_digest)
        now = self.now()

        def attest(j: Job) -> None:
            v = j.verification
            p = v.proof("callback") if v is not None else None
            if v is None or p is None or p.state != PENDING or v.state != PENDING or \
                    j.state is not JobState.AWAITING_VERIFICATION:
                raise InvalidTransitionError("the call-back is decided")
            p.by, p.at = by, now
            if not matches:
                p.state, p.reason = FAILED, "number_mismatch"
            elif not confirmed:
                p.state, p.reason = FAILED, "callback_refused"
            else:
                p.state = PASSED
            j.record("proof", f"callback_{p.state}", f"by {by}, number on record {v.phone_mask}" +
                     (f" ({p.reason})" if p.reason else ""), data={"kind": "callback", "by": by}, now=now)
            settle_on(j, now)

        job = await self.decided(job, attest)
        if not matches:
            raise VerificationError("the digits are not those of the number on record; the call-back failed",
                                    status=422, code="number_mismatch")
        return job

    async def decided(self, job: Job, change: Callable[[Job], None]) -> Job:
        try:
            job = await self.jobs.update(job.job_id, change)
        except InvalidTransitionError:
            raise VerificationError("the verification is decided or over", status=409, code="decided") from None
        assert job.verification is not None
        if job.verification.state == PASSED:
            job = await self.gate.passed(job)
            return await self.resume(job.job_id)
        if job.state is JobState.VERIFICATION_FAILED:
            return await self.gate.close_failed(job)
        return job

    async def manager_tap(self, verification_id: str, *, by: str, by_id: str) -> RetrievedTap:
        """The TAP, once, to the manager who approved (tap_delivery manager)."""
        job, verification = await self.by_verification(verification_id)
        if verification.tap_delivery != "manager":
            raise VerificationError("this TAP is not delivered to the manager", status=409,
                                    code="tap_delivered_elsewhere")
        if not verification.manager_id or by_id.strip().lower() != verification.manager_id:
            raise VerificationError("only the user's manager may see this TAP", status=403, code="not_manager")
        if job.state is not JobState.SUCCEEDED:
            raise VerificationError(f"the reset is {job.state.value}: no TAP to show", status=409,
                                    code="not_ready")
        try:
            tap = await self.tap_drop.take(job.job_id, now=self.now())
        except TapNotFoundError:
            raise VerificationError("the reset issued no TAP", status=404, code="no_tap") from None
        except TapGoneError as exc:
            await self.gate.record(job, [("tap_retrieval", "refused", f"by {by} (manager): {exc}")])
            raise VerificationError(str(exc), status=410, code="gone") from None
        await self.gate.record(job, [("tap_retrieval", "retrieved", f"by {by} (manager)")])
        return tap

    async def resend(self, job_id: str) -> Job:
        job = await self.expire_if_due(await self.jobs.get(job_id))
        proof = job.verification.proof("manager") if job.verification is not None else None
        if job.state is not JobState.AWAITING_VERIFICATION or proof is None or proof.state != PENDING:
            raise VerificationError(f"job {job_id} is not waiting for its manager", status=409, code="not_waiting")
        return await self.gate.record(job, await self.gate.ask_manager(job))

    async def status(self, job_id: str) -> Job:
        return await self.expire_if_due(await self.jobs.get(job_id))

    async def expire_due(self, *, limit: int = 1000) -> list[Job]:
        """Verifications past their time end (the timer): the job ends verification_failed, the ticket is told. A
        passed one whose job did not go on is continued."""
        ended = []
        for job in await self.jobs.list_by_state(JobState.AWAITING_VERIFICATION, limit=limit):
            if job.verification is not None and job.verification.state == PASSED:
                # Proven, but the continuation did not start (the decision's worker stopped right after it).
                await self.resume(job.job_id)
                continue
            done = await self.expire_if_due(job)
            if done.state is JobState.VERIFICATION_FAILED:
                ended.append(done)
        return ended

    async def expire_if_due(self, job: Job) -> Job:
        v = job.verification
        now = self.now()
        if job.state is not JobState.AWAITING_VERIFICATION or v is None or v.state != PENDING or \
                v.expires_at is None or now < v.expires_at:
            return job

        def expire(j: Job) -> None:
            jv = j.verification
            if j.state is not JobState.AWAITING_VERIFICATION or jv is None or jv.state != PENDING:
                raise InvalidTransitionError("decided meanwhile")
            for p in jv.proofs:
                if p.open:
                    p.state, p.reason, p.at = EXPIRED, "expired", now
            settle_on(j, now)

        try:
            job = await self.jobs.update(job.job_id, expire)
        except InvalidTransitionError:
            return await self.jobs.get(job.job_id)
        return await self.gate.close_failed(job)


def settle_on(job: Job, now: datetime) -> None:
    """After a proof changed: the verification's state, on the job (passed: the continuation follows; failed or
    expired: the job ends verification_failed for this attempt)."""
    v = job.verification
    assert v is not None
    state = v.settle()
    if state == PASSED:
        job.record("verification", PASSED, f"tier {v.tier}: {v.mode} of {', '.join(v.kinds)} passed",
                   data={"id": v.id}, now=now)
    elif state in (FAILED, EXPIRED):
        failed = v.failed_proof()
        why = f"{failed.kind}: {failed.reason}" if failed else state
        job.record("verification", state, f"tier {v.tier}: {why}", data={"id": v.id}, now=now)
        job.error = JobFailure("verification_failed", why)
        job.transition(JobState.VERIFICATION_FAILED, why, now=now)
