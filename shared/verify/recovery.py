"""Self-service recovery (`SELF_SERVICE_RECOVERY=true`): a user who lost every method proves themselves with
Verified ID and Face Check on a page, with no agent, and gets a TAP there.

Every name typed gets the same answer in the same time (a page with a QR code, after at least ``floor_s``): only
for a user whose tier says `self_service: true` (and whom the guardrails let through) is the code a real request
that can start a reset; for any other name it is a decoy request whose presentation leads nowhere. Attempts are
rate-limited per name and per client address and counted; an anonymous caller never signs anyone out (no
VERIFY_ON_FAILURE for these jobs)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.alerts import Alerts
from shared.errors import GraphError, MfaopsError, VerificationError
from shared.jobs.model import JobState, utcnow
from shared.reset.guardrails import Decision, check_target
from shared.reset.request import check_user
from shared.reset.service import ResetService
from shared.settings import Settings
from shared.verify.model import new_verification_id
from shared.verify.policy import VerifyPolicyError
from shared.verify.recovery_store import Decoy, RecoveryStore
from shared.verify.verified_id import VerifiedIdService, digest

log = logging.getLogger("mfaops.verify")
PER_USER_PER_HOUR = 3
PER_CLIENT_PER_HOUR = 10


@dataclass(frozen=True, slots=True)
class Started:
    page_id: str
    browser: str
    limited: bool = False


@dataclass
class RecoveryService:
    settings: Settings
    reset: ResetService
    verified: VerifiedIdService
    store: RecoveryStore
    alerts: Alerts
    floor_s: float = 2.0  # every answer takes at least this long: the time says nothing about the name
    now: Callable[[], datetime] = field(default=utcnow)

    async def start(self, upn: str, *, client: str) -> Started:
        if not self.settings.self_service_recovery:
            raise VerificationError("self-service recovery is off", status=404, code="not_enabled")
        began = time.monotonic()
        try:
            return await self._start(upn.strip()[:320], client)
        finally:
            left = self.floor_s - (time.monotonic() - began)
            if left > 0:
                await asyncio.sleep(left)

    async def _start(self, upn: str, client: str) -> Started:
        now = self.now()
        by_user = await self.store.count("user", upn, now)
        by_client = await self.store.count("client", client or "unknown", now)
        if by_user > PER_USER_PER_HOUR or by_client > PER_CLIENT_PER_HOUR:
            await self.alerts.raise_alert("recovery_rate_limited", "self-service recovery attempts over the limit",
                                          severity="medium", per_user=by_user, per_client=by_client)
            return Started(page_id="", browser="", limited=True)
        started = await self._real(upn, client)
        if started is not None:
            return started
        return await self._decoy(client)

    async def _real(self, upn: str, client: str) -> Started | None:
        """A page for a user who may recover by themselves, or None (every other name gets a decoy)."""
        gate = self.reset.gate
        policy = gate.policy() if gate is not None else None
        if gate is None or policy is None:
            return None
        try:
            check_user(upn)
            snapshot = await self.reset._snapshot(upn)
            tier = gate.tier(policy, snapshot)
        except (ValueError, GraphError, VerifyPolicyError, MfaopsError):
            return None
        verdict = check_target(snapshot, self.settings, privileged_approved=False)
        if not tier.self_service or verdict.decision is not Decision.PROCEED:
            return None
        job = await self.reset.start_self_service(snapshot.user.upn, client=client)
        if job.state is not JobState.AWAITING_VERIFICATION or job.verification is None:
            return None
        try:
            opened = await self.verified.open_page(job.verification.id, browser="", client=client)
        except VerificationError:
            return None
        return Started(page_id=job.verification.id, browser=opened.browser)

    async def _decoy(self, client: str) -> Started:
        """A page like a real one: a real presentation request whose state names nothing."""
        page_id = new_verification_id()
        browser = secrets.token_urlsafe(32)
        expires = self.now() + timedelta(minutes=self.settings.verify_link_minutes)
        url = ""
        try:
            made = await self.verified.requests.create(
                state=page_id, deadline=expires,
                callback_url=f"{self.settings.public_base_url}/api/public/verify/callback")
            url = made.url
        except MfaopsError:
            pass  # the page then looks like a real one whose request could not be made
        await self.store.put_decoy(Decoy(page_id=page_id, browser=digest(browser), url=url, expires=expires))
        log.info("self-service recovery: an attempt that cannot recover", extra={"custom_dimensions": {
            "client": client[:64]}})
        return Started(page_id=page_id, browser=browser)
