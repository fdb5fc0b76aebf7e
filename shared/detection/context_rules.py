"""Rules that need tenant context (sign-ins, risk, roles, groups) or what only mfaops knows (its reset jobs and
their tickets). They run in `mfaops monitor scan`, after the stream rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.detection.context import TenantContext
from shared.detection.events import Registration
from shared.detection.findings import Finding
from shared.detection.rules import ADDS, CHANGES
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class IssuedPass:
    job_id: str
    start: datetime
    expires: datetime


@dataclass
class MfaopsKnowledge:
    """What mfaops's own jobs say about a user: passes its resets issued, and when any job touched the user."""

    passes: dict[str, list[IssuedPass]] = field(default_factory=dict)  # user id/UPN (lower) -> passes
    touched: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)  # user -> (job id, when)
    resets: list[Any] = field(default_factory=list)  # succeeded reset jobs of the last month (the job-based rules)

    def pass_at(self, reg: Registration) -> IssuedPass | None:
        for key in {reg.target_id.lower(), reg.target.lower()} - {""}:
            for issued in self.passes.get(key, []):
                if issued.start - timedelta(minutes=1) <= reg.time <= issued.expires:
                    return issued
        return None

    def job_near(self, reg: Registration, before: timedelta) -> str:
        for key in {reg.target_id.lower(), reg.target.lower()} - {""}:
            for job_id, when in self.touched.get(key, []):
                if reg.time - before <= when <= reg.time + timedelta(hours=1):
                    return job_id
        return ""


def privileged(roles: set[str], settings: Settings) -> list[str]:
    wanted = settings.privileged_role_set
    if not roles:
        return []
    if "*" in wanted:
        return sorted(roles)
    return sorted(r for r in roles if r.lower() in wanted)


def evaluate(reg: Registration, ctx: TenantContext, known: MfaopsKnowledge, settings: Settings, *,
             own: bool) -> list[Finding]:
    out: list[Finding] = []
    what = ", ".join(reg.methods_added or reg.methods_removed) or "security info"

    def hit(rule: str, severity: str, summary: str) -> None:
        out.append(Finding(event_id=reg.event_id, rule=rule, severity=severity, target=reg.target, summary=summary,
                           time=reg.time, target_id=reg.target_id, actor=reg.actor, ip=reg.ip,
                           methods=tuple(reg.methods_added or reg.methods_removed)))

    if reg.kind not in CHANGES:
        return out
    uid = reg.target_id.lower()
    if uid and uid in ctx.break_glass and reg.target.lower() not in settings.break_glass_upn_set:
        hit("break-glass-target", "critical", f"{reg.activity} on break-glass account {reg.target} ({what}), a "
            f"member of BREAK_GLASS_GROUP, by {reg.actor or 'Microsoft'}")
    roles = privileged(ctx.roles.get(uid, set()), settings)
    if roles:
        hit("privileged-target", "high", f"{reg.activity} ({what}) on {reg.target}, who holds {', '.join(roles)}")
    if uid and uid in ctx.watchlist:
        hit("watchlist-target", "high", f"{reg.activity} ({what}) on watch-listed {reg.target} "
            "(MONITOR_WATCHLIST_GROUP)")
    if reg.kind in ADDS:
        window = timedelta(hours=settings.monitor_risk_window_hours)
        risky = ctx.risky_sign_ins(uid, reg.time - window, reg.time)
        detections = ctx.risk_events(uid, reg.time - window, reg.time)
        if risky or detections:
            first = (risky or detections)[0]
            kind = "risky sign-in" if risky else f"risk detection {first.get('riskEventType', '')}".strip()
            hit("risk-before-registration", "high", f"{reg.target} registered {what} within "
                f"{settings.monitor_risk_window_hours} h of a {kind} from {first.get('ipAddress', '?')}")
        state = ctx.risky.get(uid, "")
        if state in {"atRisk", "confirmedCompromised"}:
            hit("user-at-risk", "critical", f"{reg.target} registered {what} while Identity Protection holds them "
                f"{state}")
        self_service = not reg.by_admin
        if self_service and reg.ip and "sign_ins" not in ctx.unavailable:
            known_ips = ctx.known_ips(uid, reg.time)
            issued = known.pass_at(reg)
            if reg.ip not in known_ips:
                if issued is not None:
                    hit("new-network-during-tap", "high", f"{reg.target} registered {what} from {reg.ip}, never seen "
                        f"in their sign-ins, while the Temporary Access Pass of mfaops job {issued.job_id} is valid")
                else:
                    hit("unknown-ip", "medium", f"{reg.target} registered {what} from {reg.ip}, an address none of "
                        f"their successful sign-ins in {settings.monitor_signin_baseline_days} days came from")
    if reg.by_admin and reg.actor_kind == "user":
        admin_id = reg.actor_id.lower()
        window = timedelta(hours=settings.monitor_admin_risk_window_hours)
        if admin_id and ctx.risky_sign_ins(admin_id, reg.time - window, reg.time):
            hit("risky-admin-changes-other", "high", f"{reg.actor} had a risky sign-in within "
                f"{settings.monitor_admin_risk_window_hours} h, then changed {reg.target}'s methods ({what})")
    if reg.by_admin and reg.actor_kind in {"user", "app"}:
        job = known.job_near(reg, timedelta(hours=settings.monitor_ticket_window_hours))
        if not job:
            who = "mfaops's own identity" if own else reg.actor
            hit("admin-change-without-ticket", "high", f"{who} {reg.activity.lower().replace('admin ', '')} "
                f"({what}) for {reg.target} with no mfaops job or ticket behind it")
    return out


# Rules that mark expected registrations cannot hide: they are about the TAP window itself, or the account.
NEVER_EXPECTED = frozenset({"new-network-during-tap", "break-glass-target", "user-at-risk"})
