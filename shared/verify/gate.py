"""The gate between a reset's checks and its first Graph write: which proofs the user's tier asks for, the
verification that waits for them, the manager's notice, and what a failed verification sets off.

An approved ticket proves that an agent believed the caller, not that the caller is the user (CISA AA23-320A:
help desks talked into resetting MFA; Mandiant's UNC3944 guidance: positive identity checks, call-backs to a number
already on record, alerts). So no method is removed until the proofs the policy names have passed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.alerts import Alerts
from shared.errors import ConfigurationError, GraphError
from shared.escaping import mail_html, one_line
from shared.graph.port import GraphGateway, UserSnapshot
from shared.itsm.port import TicketSystem, TicketSystemError
from shared.jobs.model import RESET_KINDS, Job, JobKind, JobState, utcnow
from shared.jobs.store import JobStore
from shared.reset.guardrails import privileged_roles
from shared.settings import Settings
from shared.verify.model import (
    EXPIRED,
    FAILED,
    NOT_REQUIRED,
    PENDING,
    Proof,
    Verification,
    digits_digest,
    mask_number,
    new_verification_id,
)
from shared.verify.policy import Tier, VerifyPolicy, VerifyPolicyError, policy_in_force, tier_for

log = logging.getLogger("mfaops.verify")
KIND_LABELS = {"manager": "manager approval", "callback": "call-back to the number on record",
               "verified_id": "Verified ID with Face Check"}


def user_page(settings: Settings, verification: Verification) -> str:
    """The user's own page, for the agent to give them (the verified_id proof)."""
    return f"{settings.public_base_url}/api/public/verify/{verification.id}"


@dataclass
class VerificationGate:
    settings: Settings
    graph: GraphGateway
    jobs: JobStore
    tickets: TicketSystem
    sinks: Alerts  # a fan-out: the log first, then each sink, a failing one logged and skipped
    teams: Alerts | None = None  # the Teams sink, when ALERT_SINKS names it: the manager's notice goes there too
    now: Callable[[], datetime] = field(default=utcnow)
    _policy: VerifyPolicy | None = field(default=None, init=False)
    _loaded: bool = field(default=False, init=False)

    # -- the policy --------------------------------------------------------------------------------------
    def policy(self) -> VerifyPolicy | None:
        """The policy in force (None: VERIFY_POLICY=none), read once per worker; unusable: ConfigurationError,
        so no reset runs on a policy nobody can read."""
        if not self._loaded:
            try:
                self._policy = policy_in_force(self.settings.verify_policy)
            except VerifyPolicyError as exc:
                raise ConfigurationError(str(exc)) from None
            self._loaded = True
            if self._policy is None:
                log.warning("VERIFY_POLICY=none: resets are not gated by any proof of identity")
            elif any("verified_id" in t.require.kinds for t in self._policy.tiers):
                missing = [name for name, value in (
                    ("VERIFIED_ID_AUTHORITY", self.settings.verified_id_authority),
                    ("VERIFIED_ID_CALLBACK_KEY", self.settings.verified_id_callback_key.get_secret_value()))
                    if not value]
                if missing:
                    raise ConfigurationError(f"VERIFY_POLICY asks for verified_id: {' and '.join(missing)} must be "
                                             "set")
        return self._policy

    def policy_for(self, job: Job) -> VerifyPolicy | None:
        """The policy a job is held to: the one in force, or the stricter one its bulk run named."""
        stricter = next((s.data.get("verify_policy") for s in job.steps if s.action == "options"
                         and s.data.get("verify_policy")), None)
        if stricter:
            return VerifyPolicy.model_validate_json(str(stricter))
        return self.policy()

    def groups(self) -> list[str]:
        """The groups the tiers name: the reset's first read decides the user's membership of each."""
        policy = self.policy()
        return policy.groups if policy is not None else []

    def tier(self, policy: VerifyPolicy, snapshot: UserSnapshot) -> Tier:
        held = snapshot.memberships

        def in_group(group: str) -> bool | None:
            return held.in_group(group) if held.knows_group(group) else None

        return tier_for(policy, in_group=in_group, privileged=bool(privileged_roles(snapshot, self.settings)))

    # -- opening one --------------------------------------------------------------------------------------
    def open(self, job: Job, policy: VerifyPolicy, tier: Tier, snapshot: UserSnapshot) -> Verification:
        """A new verification for this attempt; proofs the directory cannot support fail at once (no manager, a
        disabled one, one who asked for the reset; no number on record)."""
        now = self.now()
        verification = Verification(
            id=new_verification_id(), tier=tier.id, mode=tier.require.mode, kinds=tier.require.kinds,
            state=PENDING, proofs=[Proof(kind=k) for k in tier.require.kinds],
            expires_at=now + timedelta(minutes=policy.expire_after_minutes), tap_delivery=tier.tap_delivery,
            created_at=now, display_name=snapshot.user.display_name, mail=snapshot.user.mail)
        for proof in verification.proofs:
            reason = ""
            if proof.kind == "manager":
                reason = self._manager_problem(job, snapshot)
                if snapshot.manager is not None:
                    verification.manager_id = snapshot.manager.id.lower()
                    verification.manager_upn = snapshot.manager.upn
            elif proof.kind == "callback":
                number = snapshot.phone_on_record
                digits = "".join(c for c in number if c.isdigit())
                if len(digits) < 4:
                    reason = "no_number_on_record"
                else:
                    verification.phone_mask = mask_number(number)
                    verification.phone_digest = digits_digest(digits[-4:], self.settings.job_id_secret)
            elif proof.kind == "verified_id":
                # The user's page lives VERIFY_LINK_MINUTES at most (a forwarded link dies quickly).
                until = min(verification.expires_at or now, now + timedelta(minutes=self.settings.verify_link_minutes))
                proof.data["link_expires"] = until.isoformat()
            if reason:
                proof.state, proof.reason, proof.at = FAILED, reason, now
        verification.settle()
        return verification

    def _manager_problem(self, job: Job, snapshot: UserSnapshot) -> str:
        boss = snapshot.manager
        if not snapshot.manager_read:
            raise VerifyPolicyError("the user's manager was not read")
        if boss is None:
            return "no_manager"
        if not boss.enabled:
            return "manager_disabled"
        asked = {v.strip().lower() for v in (job.requested_by, job.source.operator) if v.strip()}
        if asked & {boss.id.lower(), boss.upn.lower()}:
            return "not_independent"
        return ""

    @staticmethod
    def not_required(tier: Tier | None) -> Verification:
        return Verification.not_required(tier=tier.id if tier else None,
                                         tap_delivery=tier.tap_delivery if tier else "operator")

    # -- telling people ------------------------------------------------------------------------------------
    def page_url(self, verification: Verification) -> str:
        base = self.settings.public_base_url
        return f"{base}/api/verify/manager/{verification.id}"

    async def ask_manager(self, job: Job) -> list[tuple[str, str, str]]:
        """The manager's notice: mail from ALERT_MAIL_FROM, and the Teams sink where configured. Steps to record
        (action, outcome, detail); a failed notice is said, and `mfaops verify resend` sends it again."""
        verification = job.verification
        proof = verification.proof("manager") if verification else None
        if verification is None or proof is None or proof.state != PENDING:
            return []
        steps: list[tuple[str, str, str]] = []
        url = self.page_url(verification)
        who = job.target.upn or job.target.id
        ticket = job.source.number or "an operator's request"
        expires = verification.expires_at.isoformat() if verification.expires_at else ""
        if not self.settings.alert_mail_from:
            steps.append(("notify_manager", "skipped", "no mail: ALERT_MAIL_FROM is not set"))
        else:
            body = (f"<p>{mail_html(job.requested_by or 'The service desk')} asked to reset the multifactor "
                    f"sign-in methods of <b>{mail_html(who)}</b> ({mail_html(ticket)}).</p>"
                    "<p>If you did not expect this, or cannot confirm it is really them, deny it.</p>"
                    f"<p><a href=\"{mail_html(url)}\">Approve or deny the reset</a> (you will be asked to sign "
                    f"in). The request expires at {mail_html(expires)}.</p>")
            message = {"subject": one_line(f"Approve an MFA reset for {who}?", 255),
                       "body": {"contentType": "HTML", "content": body},
                       "toRecipients": [{"emailAddress": {"address": verification.manager_upn}}]}
            try:
                await self.graph.send_mail(self.settings.alert_mail_from, message)
                steps.append(("notify_manager", "mailed", f"to {verification.manager_upn}"))
            except GraphError as exc:
                steps.append(("notify_manager", "failed", f"mail to {verification.manager_upn}: {exc}"))
        if self.teams is not None:
            try:
                await self.teams.raise_alert("verification_requested", f"{job.requested_by or 'The service desk'} "
                                             f"asked to reset the MFA of {who} ({ticket}); their manager "
                                             f"{verification.manager_upn} must approve it.", severity="low",
                                             link=url, job_id=job.job_id)
                steps.append(("notify_manager", "posted", "to the Teams channel"))
            except Exception as exc:  # the mail may have gone; the channel is a second way
                steps.append(("notify_manager", "failed", f"Teams: {type(exc).__name__}"))
        return steps

    async def started(self, job: Job) -> Job:
        """A verification began: the manager is asked, the ticket told; each on the job."""
        steps = await self.ask_manager(job)
        noted = await self.note(job, verification_note(job, self.settings))
        return await self.record(job, [*steps, *([noted] if noted else [])])

    async def passed(self, job: Job) -> Job:
        noted = await self.note(job, verification_note(job))
        return await self.record(job, [noted] if noted else [])

    async def close_failed(self, job: Job) -> Job:
        """A verification failed or expired: the ticket told, the alerts raised; each on the job."""
        steps = await self.ended(job)
        noted = await self.note(job, verification_note(job))
        return await self.record(job, [*steps, *([noted] if noted else [])])

    async def record(self, job: Job, steps: list[tuple[str, str, str]]) -> Job:
        if not steps:
            return job

        def put(j: Job) -> None:
            for action, outcome, detail in steps:
                j.record(action, outcome, detail, now=self.now())

        return await self.jobs.update(job.job_id, put)

    # -- when it is over -------------------------------------------------------------------------------------
    async def ended(self, job: Job) -> list[tuple[str, str, str]]:
        """A verification failed or expired: the alert, and the count of this user's failures in 24 h (at
        VERIFY_FAILURES_ALERT: possible_social_engineering, and the sessions revoked if VERIFY_ON_FAILURE says)."""
        verification = job.verification
        steps: list[tuple[str, str, str]] = []
        if verification is None:
            return steps
        failed = verification.failed_proof()
        kind = failed.kind if failed else "verification"
        reason = (failed.reason if failed else None) or verification.state
        who = job.target.upn or job.target.id
        await self.sinks.raise_alert(
            "verification_failed", f"identity verification for the MFA reset of {who} failed: "
            f"{KIND_LABELS.get(kind, kind)} ({reason})", job_id=job.job_id, severity="medium", proof=kind,
            reason=reason, user=who)
        count = await self.failures_in_day(job)
        if count >= self.settings.verify_failures_alert:
            await self.sinks.raise_alert(
                "possible_social_engineering", f"{count} failed identity verifications for {who} in 24 h: someone "
                "may be impersonating them to the service desk", job_id=job.job_id, severity="high",
                failures=count, user=who)
            steps.append(("possible_social_engineering", "alerted", f"{count} failed verifications in 24 h"))
            # An anonymous self-service caller must never be able to sign anyone out.
            if self.settings.verify_on_failure == "revoke_sessions" and job.target.id and \
                    job.kind is not JobKind.SELF_SERVICE:
                try:
                    await self.graph.revoke_sessions(job.target.id)
                    steps.append(("revoke_sessions", "revoked", "VERIFY_ON_FAILURE=revoke_sessions"))
                except GraphError as exc:
                    steps.append(("revoke_sessions", "failed", f"VERIFY_ON_FAILURE=revoke_sessions: {exc}"))
        return steps

    async def failures_in_day(self, job: Job) -> int:
        since = self.now() - timedelta(hours=24)
        key = job.target.id or job.target.upn
        if not key:
            return 0
        jobs = await self.jobs.list_for_user(key, limit=200)
        if all(j.job_id != job.job_id for j in jobs):
            jobs.append(job)
        return sum(1 for j in jobs if j.kind in RESET_KINDS for s in j.steps
                   if s.action == "verification" and s.outcome in (FAILED, EXPIRED) and s.at >= since)

    async def note(self, job: Job, text: str) -> tuple[str, str, str] | None:
        """A work note on the job's ticket (none for an operator's job)."""
        if not job.source.sys_id:
            return None
        try:
            await self.tickets.write_back(job.source.table, job.source.sys_id, text)
        except TicketSystemError as exc:
            return ("write_back", "failed", str(exc))
        return ("write_back", "ok", f"work note on {job.source.number}")


def verification_note(job: Job, settings: Settings | None = None) -> str:
    """The ticket's note for a verification that started, passed or failed: which proofs, never a detail that
    helps whoever is impersonating the user (no manager's name, no number)."""
    verification = job.verification
    who = job.target.upn or job.target.id
    head = f"mfaops job {job.job_id}"
    if verification is None or verification.state == NOT_REQUIRED:
        return f"{head}: no proof of identity is required for {who}."
    asked = f" {'and' if verification.mode == 'all' else 'or'} ".join(KIND_LABELS.get(k, k)
                                                                       for k in verification.kinds)
    if verification.state == "passed":
        return f"{head}: the identity of {who} was proven ({asked}); the MFA reset goes ahead."
    if job.state is JobState.AWAITING_VERIFICATION:
        page = ""
        if verification.proof("verified_id") is not None and settings is not None:
            page = (f" Give the user this link to prove themselves with Verified ID (it works once, in the first "
                    f"browser that opens it, for {settings.verify_link_minutes} minutes): "
                    f"{user_page(settings, verification)}")
        return (f"{head}: the MFA reset of {who} waits for proof of identity ({asked}). Nothing has been removed. "
                f"It expires at {verification.expires_at.isoformat() if verification.expires_at else '?'}.{page}")
    failed = verification.failed_proof()
    what = KIND_LABELS.get(failed.kind, failed.kind) if failed else "the verification"
    ending = "expired" if verification.state == EXPIRED else "did not pass"
    return f"{head}: MFA was NOT reset for {who}: {what} {ending}. Nothing was removed."
