"""The monitor service: scan the audit log since the watermark, classify, add context, record findings,
alert through every sink (once per finding), and contain when the settings say so. One piece at ~420 lines: a
scan's watermark, its findings and their alerts are one transaction of record (classification and context rules
are modules of their own)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.alerts.port import Alerts, AlertSendError
from shared.detection import context as context_module
from shared.detection.context_rules import NEVER_EXPECTED, IssuedPass, MfaopsKnowledge, evaluate
from shared.detection.correlate import Correlator
from shared.detection.events import PhoneHasher, Registration, iso, normalise, parse_time
from shared.detection.findings import SEVERITIES, Finding, at_least
from shared.detection.rules import ADDS, RuleConfig, StreamRules
from shared.detection.store import MonitorStore, StoredFinding
from shared.errors import GroupNotFoundError, JobNotFoundError, MfaopsError
from shared.graph.lanes import background_flow
from shared.graph.method_names import LISTED_AS
from shared.graph.port import AuthMethod, GraphGateway
from shared.itsm.port import TicketSystem, TicketSystemError
from shared.jobs.admission import admit
from shared.jobs.model import RESET_KINDS, Job, JobKind, JobState, Source, Target, utcnow
from shared.jobs.store import JobStore
from shared.settings import Settings
from shared.telemetry.spans import FINDINGS

log = logging.getLogger("mfaops.detection")
RECENT_JOBS = 2000


class FindingNotFoundError(MfaopsError):
    """No recorded finding has this id (exit 2 / 404)."""


class ContainmentRefusedError(MfaopsError):
    """Containment would touch a break-glass account or exceed the blast-radius limit (exit 3)."""


@dataclass
class ScanResult:
    since: datetime
    watermark: datetime | None = None
    pages: int = 0
    read: int = 0
    unknown: int = 0
    merged: int = 0
    events: list[Registration] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # recorded by this scan (new)
    alerts: dict[str, str] = field(default_factory=dict)  # finding id -> sent | failed | suppressed | ...
    contained: dict[str, str] = field(default_factory=dict)  # finding id -> containment job id
    unavailable: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [r.to_event() for r in self.events]
        for f in self.findings:
            out.append({**f.to_line(), "finding_id": f.finding_id, "expected": f.expected,
                        "expected_by": f.expected_by, "alert": self.alerts.get(f.finding_id, ""),
                        "containment_job": self.contained.get(f.finding_id, "")})
        return out

    def summary(self) -> dict[str, Any]:
        return {"kind": "scan", "since": iso(self.since), "watermark": iso(self.watermark) if self.watermark else None,
                "pages": self.pages, "read": self.read, "relevant": len(self.events), "unknown": self.unknown,
                "merged": self.merged, "findings": len(self.findings), "unavailable": self.unavailable}


@dataclass
class MonitorService:
    settings: Settings
    graph: GraphGateway
    jobs: JobStore
    store: MonitorStore
    sinks: dict[str, Alerts]
    tickets: TicketSystem | None = None
    now: Callable[[], datetime] = field(default=utcnow)

    @property
    def _hasher(self) -> PhoneHasher:
        key = self.settings.monitor_phone_hash_key.get_secret_value() or self.settings.job_id_key.get_secret_value()
        return PhoneHasher(key.encode())

    # -- scan ------------------------------------------------------------------------------------------
    @background_flow
    async def scan(self, *, since: datetime | None = None, crash_after_events: int | None = None) -> ScanResult:
        """``crash_after_events`` is a test hook: stop as a crash would, after that many events."""
        now = self.now()
        stored = await self.store.watermark()
        if since is None:
            start = (stored - timedelta(minutes=self.settings.monitor_overlap_minutes)) if stored else \
                now - timedelta(hours=self.settings.monitor_first_lookback_hours)
        else:
            start = since
        result = ScanResult(since=start, watermark=stored)
        pages: list[list[dict[str, Any]]] = []
        next_link: str | None = None
        while True:
            page = await self.graph.audit_page(since=start, next_link=next_link, top=self.settings.monitor_page_size)
            pages.append(page.items)
            next_link = page.next_link
            if not next_link:
                break
        result.pages = len(pages)
        hasher = self._hasher
        normalised: list[list[Registration]] = []
        for items in pages:
            regs = []
            for event in items:
                result.read += 1
                reg = normalise(event, hasher)
                if reg is None:
                    if not (isinstance(event, dict) and event.get("id") and event.get("activityDisplayName")):
                        result.unknown += 1
                        log.warning("monitor: an audit event of unknown shape was skipped")
                    continue
                regs.append(reg)
            normalised.append(regs)
        # Twins across the whole run (a pair may straddle a page boundary): the twin is dropped from its page.
        correlator = Correlator()
        kept: set[int] = set()
        for regs in normalised:
            for reg in regs:
                for ready in correlator.push(reg):
                    kept.add(id(ready))
        kept |= {id(r) for r in correlator.flush()}
        result.merged = correlator.merged
        normalised = [[r for r in regs if id(r) in kept] for regs in normalised]

        everyone = {r.target_id for regs in normalised for r in regs} | {
            r.actor_id for regs in normalised for r in regs if r.actor_kind == "user"}
        known = await self._knowledge()
        ctx = await context_module.gather(
            self.graph, user_ids=sorted(everyone - {""}), since=start,
            baseline=timedelta(days=self.settings.monitor_signin_baseline_days),
            watchlist_group=self.settings.monitor_watchlist_group, break_glass_group=self.settings.break_glass_group)
        result.unavailable = dict(ctx.unavailable)
        rules = StreamRules(RuleConfig.from_settings(self.settings))
        processed = 0
        for items, regs in zip(pages, normalised, strict=True):
            for reg in regs:
                if crash_after_events is not None and processed >= crash_after_events:
                    raise RuntimeError("simulated crash mid-page")
                processed += 1
                if await self.store.seen(reg.event_id):
                    rules.evaluate(reg)  # keeps the windows whole; its findings were recorded the first time
                    continue
                findings = rules.evaluate(reg) + evaluate(reg, ctx, known, self.settings, own=rules.own(reg))
                if reg.kind in ADDS and not reg.by_admin:
                    await self.store.note_registration((reg.target_id or reg.target).lower(), reg.time)
                for digest, _ in reg.phones:
                    users = await self.store.phone_users(digest, (reg.target_id or reg.target).lower())
                    if users >= self.settings.monitor_shared_phone_users and not any(
                            f.rule == "shared-phone" for f in findings):
                        findings.append(Finding(event_id=reg.event_id, rule="shared-phone", severity="high",
                                                target=reg.target, summary=f"the phone number {reg.target} "
                                                f"registered is on {users} users", time=reg.time,
                                                target_id=reg.target_id, actor=reg.actor, ip=reg.ip,
                                                methods=tuple(reg.methods_added)))
                findings = self._expected(reg, findings, known)
                result.events.append(reg)
                for finding in _unique(findings):
                    await self._record(finding, result)
                await self.store.mark_seen(reg.event_id, reg.time)
            times = [parse_time(e.get("activityDateTime")) for e in items if isinstance(e, dict)]
            latest = max((t for t in times if t is not None), default=None)
            if latest is not None and (result.watermark is None or latest > result.watermark):
                await self.store.move_watermark(latest)
                result.watermark = latest
        for finding in await self._job_findings(known):
            await self._record(finding, result)
        await self._retry_failed_alerts(result)
        return result

    def _expected(self, reg: Registration, findings: list[Finding], known: MfaopsKnowledge) -> list[Finding]:
        if reg.kind not in ADDS or reg.by_admin:
            return findings
        issued = known.pass_at(reg)
        if issued is None:
            return findings
        return [f if f.rule in NEVER_EXPECTED else f.marked_expected(issued.job_id, mode=self.settings.monitor_expected)
                for f in findings]

    async def _record(self, finding: Finding, result: ScanResult) -> None:
        suppressed = finding.expected and self.settings.monitor_expected == "suppress"
        below = not at_least(finding.severity, self.settings.alert_min_severity)
        status = "suppressed" if suppressed else "below_threshold" if below else "pending"
        if not await self.store.add_finding(finding, alert=status):
            return
        FINDINGS.add(1, {"rule": finding.rule, "severity": finding.severity})
        result.findings.append(finding)
        if status == "pending":
            result.alerts[finding.finding_id] = await self._alert(finding)
        else:
            result.alerts[finding.finding_id] = status
        if self._should_contain(finding):
            try:
                job = await self.contain(finding.finding_id, by="monitor")
                result.contained[finding.finding_id] = job.job_id
            except (ContainmentRefusedError, MfaopsError) as exc:
                log.warning("monitor: containment of finding %s refused: %s", finding.finding_id, exc)

    def _should_contain(self, finding: Finding) -> bool:
        wanted = self.settings.contain_rules
        if not wanted or finding.expected:
            return False
        if finding.rule in wanted:
            return True
        floors = [s for s in SEVERITIES if s in wanted]
        return any(at_least(finding.severity, floor) for floor in floors) and bool(finding.methods) and \
            not finding.event_id.startswith("job:")

    async def _alert(self, finding: Finding) -> str:
        facts = {"finding_id": finding.finding_id, "rule": finding.rule, "severity": finding.severity,
                 "target": finding.target, "actor": finding.actor, "ip": finding.ip, "event_id": finding.event_id,
                 "time": iso(finding.time), "expected_by": finding.expected_by}
        failures = []
        for name, sink in self.sinks.items():
            for attempt in range(self.settings.alert_attempts):
                try:
                    await sink.raise_alert(f"finding:{finding.rule}", finding.summary, **facts)
                    break
                except (AlertSendError, Exception) as exc:  # a sink's failure is recorded, never lost
                    if attempt + 1 == self.settings.alert_attempts:
                        failures.append(f"{name}: {exc}"[:300])
                    else:
                        await asyncio.sleep(0.05 * 2**attempt)
        status = "failed" if failures else "sent"
        await self.store.set_alert(finding.finding_id, status, "; ".join(failures))
        if failures:
            log.error("monitor: alert for finding %s failed on %s", finding.finding_id,
                      ", ".join(f.split(":")[0] for f in failures))
        return status

    async def _retry_failed_alerts(self, result: ScanResult) -> None:
        for stored in await self.store.findings(limit=200):
            if stored.alert in {"failed", "pending"} and stored.finding.finding_id not in result.alerts:
                result.alerts[stored.finding.finding_id] = await self._alert(stored.finding)

    # -- what mfaops knows -------------------------------------------------------------------------------
    async def _knowledge(self) -> MfaopsKnowledge:
        known = MfaopsKnowledge()
        since = self.now() - timedelta(days=31)
        states = (JobState.SUCCEEDED, JobState.FAILED, JobState.RUNNING, JobState.AWAITING_APPROVAL,
                  JobState.QUEUED)
        for state in states:
            for job in await self.jobs.list_by_state(state, limit=RECENT_JOBS):
                if job.created_at < since:
                    continue
                if state is JobState.SUCCEEDED and job.kind in RESET_KINDS:
                    known.resets.append(job)
                users = {job.target.id.lower(), job.target.upn.lower()} - {""}
                users |= {str(s.data.get("user", "")).lower() for s in job.steps if s.data.get("user")}
                users |= {str(s.data.get("upn", "")).lower() for s in job.steps if s.data.get("upn")}
                for user in users:
                    known.touched.setdefault(user, []).append((job.job_id, job.created_at))
                for step in job.steps:
                    if job.kind in RESET_KINDS and step.action == "issue_tap" and step.outcome == "issued":
                        expires = parse_time(str(step.data.get("expires", "")))
                        if expires is not None:
                            for user in {job.target.id.lower(), job.target.upn.lower()} - {""}:
                                known.passes.setdefault(user, []).append(IssuedPass(job.job_id, step.at, expires))
        return known

    async def _job_findings(self, known: MfaopsKnowledge) -> list[Finding]:
        """What no public rule sees: a pass still valid after its ticket closed; a reset with no
        re-registration within REREGISTRATION_EXPECTED_HOURS (the user is stuck without MFA)."""
        out = []
        now = self.now()
        expected = timedelta(hours=self.settings.reregistration_expected_hours)
        for job in known.resets:  # read once, by _knowledge, for every rule of the scan
            if job.created_at < now - timedelta(days=7):
                continue
            who = job.target.upn or job.target.id
            finished = job.updated_at
            issue = next((s for s in job.steps if s.action == "issue_tap" and s.outcome == "issued"), None)
            expires = parse_time(str(issue.data.get("expires", ""))) if issue else None
            if expires and expires > now and job.source.sys_id and self.tickets is not None:
                try:
                    ticket = await self.tickets.get_ticket(job.source.table or "sc_req_item", job.source.sys_id)
                except TicketSystemError:
                    ticket = None
                if ticket is not None and not ticket.active:
                    out.append(Finding(event_id=f"job:{job.job_id}:tap-after-close", rule="tap-after-ticket-closed",
                                       severity="medium", target=who, target_id=job.target.id, time=now,
                                       summary=f"the Temporary Access Pass of job {job.job_id} for {who} is valid "
                                       f"until {iso(expires)} but ticket {ticket.number or job.source.sys_id} is "
                                       "closed", methods=("temporaryAccessPass",)))
            if now - finished >= expected:
                last = None
                for key in {job.target.id.lower(), job.target.upn.lower()} - {""}:
                    found = await self.store.last_registration(key)
                    last = max(filter(None, [last, found]), default=None)
                if last is None or last < finished:
                    out.append(Finding(event_id=f"job:{job.job_id}:no-reregistration", rule="no-reregistration",
                                       severity="medium", target=who, target_id=job.target.id, time=now,
                                       summary=f"{who} has registered no method since the reset of job {job.job_id} "
                                       f"({int((now - finished).total_seconds() // 3600)} h ago): the service desk "
                                       "should contact them"))
        return out

    # -- findings and containment ------------------------------------------------------------------------
    async def findings(self, *, since: datetime | None = None, severity: str | None = None,
                       limit: int = 1000) -> list[StoredFinding]:
        found = await self.store.findings(since=since, limit=100_000)
        if severity:
            found = [f for f in found if at_least(f.finding.severity, severity)]
        return found[:limit]

    async def contain(self, finding_id: str, *, by: str) -> Job:
        stored = await self.store.get_finding(finding_id)
        if stored is None:
            raise FindingNotFoundError(f"no finding {finding_id}")
        if stored.containment_job:
            return await self.jobs.get(stored.containment_job)
        finding = stored.finding
        user_key = finding.target_id or finding.target
        user = await self.graph.get_user(user_key)
        keys = {user.upn.lower(), user.id.lower()}
        if keys & self.settings.break_glass_upn_set:
            raise ContainmentRefusedError(f"{user.upn} is a break-glass account: mfaops never contains it")
        group = self.settings.break_glass_group.strip()
        try:
            glass = group and user.id.lower() in {m.lower() for m in await self.graph.group_member_ids(group)}
        except GroupNotFoundError as exc:  # a guardrail that cannot be decided refuses
            raise ContainmentRefusedError(f"the break-glass guardrail cannot be decided: {exc.args[0]} "
                                          "(BREAK_GLASS_GROUP)") from exc
        if glass:
            raise ContainmentRefusedError(f"{user.upn} is in the break-glass group: mfaops never contains it")
        now = self.now()
        job_id = str(uuid.uuid4())
        # Claim the finding before acting: of any number of concurrent callers one contains it, the others get
        # that caller's job (one admission, one delete per method, one revoke).
        holder = await self.store.claim_containment(finding_id, job_id)
        if holder != job_id:
            return await self._held(holder)
        try:
            admitted, _ = await admit(self.jobs, job_id, limit=self.settings.resets_per_hour_limit, now=now)
        except BaseException:
            await self.store.release_containment(finding_id, job_id)
            raise
        if not admitted:
            await self.store.release_containment(finding_id, job_id)
            raise ContainmentRefusedError(f"the blast-radius limit ({self.settings.resets_per_hour_limit} per hour, "
                                          "RESETS_PER_HOUR_LIMIT) is reached")
        job = Job.new(JobKind.CONTAINMENT, Target(id=user.id, upn=user.upn),
                      Source(kind="timer" if by == "monitor" else "operator", operator="" if by == "monitor" else by),
                      requested_by=by, job_id=job_id, now=now)
        job.record("finding", "ok", f"{finding.rule}: {finding.summary}", data={"finding_id": finding_id}, now=now)
        job.transition(JobState.RUNNING, "containing", now=now)
        stored_job, _ = await self.jobs.create(job)
        methods = await self.graph.list_methods(user.id)
        doomed = _new_methods(methods, finding)
        chain = await self.graph.reset_chain(user.id, doomed, revoke=True, tap=None)

        def record(j: Job) -> None:
            for outcome in chain.deletes:
                m = outcome.method
                j.record("delete_method", "removed" if outcome.removed else "failed",
                         f"{m.type} {m.label}".strip() + ("" if outcome.removed else f": {outcome.error}"),
                         data={"type": m.type, "id": m.id, "user": user.id, "upn": user.upn}, now=self.now())
            if not doomed:
                j.record("delete_method", "skipped", "no method registered at or after the finding's time matches",
                         now=self.now())
            j.record("revoke_sessions", "revoked" if chain.revoked else "failed",
                     "refresh tokens and session cookies invalidated" if chain.revoked else chain.revoke_problem(),
                     now=self.now())
            failed = [o for o in chain.deletes if not o.removed]
            if failed or not chain.revoked:
                causes = "; ".join(f"{o.method.type} {o.method.id}: {o.error}" for o in failed[:3])
                j.fail("containment_incomplete", f"{len(failed)} deletes failed{f' ({causes})' if causes else ''}; "
                       f"revoke {'done' if chain.revoked else chain.revoke_problem()}", now=self.now())
            else:
                j.transition(JobState.SUCCEEDED, f"{len(chain.deletes)} methods removed, sessions revoked",
                             now=self.now())

        return await self.jobs.update(stored_job.job_id, record)

    async def _held(self, job_id: str) -> Job:
        """The job of a containment another caller claimed: it is created a moment after the claim."""
        for _ in range(100):
            try:
                return await self.jobs.get(job_id)
            except JobNotFoundError:
                await asyncio.sleep(0.05)
        raise ContainmentRefusedError(f"the finding is being contained by job {job_id}, which is not recorded yet")


def _new_methods(methods: list[AuthMethod], finding: Finding) -> list[AuthMethod]:
    """The methods the finding's event added: of its types, created at or after its time (less a minute of
    clock skew); phones and e-mail carry no creation time and are matched by type."""
    wanted = [LISTED_AS[m] for m in finding.methods if m in LISTED_AS]
    out = []
    for method in methods:
        for kind, phone in wanted:
            if method.type != kind or (phone is not None and method.label != phone):
                continue
            if method.created is not None and method.created < finding.time - timedelta(minutes=1):
                continue
            out.append(method)
            break
    return out


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.finding_id not in seen:
            seen.add(f.finding_id)
            out.append(f)
    return out
