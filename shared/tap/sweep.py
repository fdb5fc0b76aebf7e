"""The TAP sweep (timer ``TAP_SWEEP_SCHEDULE``, `mfaops tap sweep`): find the users who may hold a Temporary
Access Pass without scanning the tenant, read their methods in $batches, delete the passes the rules condemn,
and record every deletion on one ``tap_sweep`` job.

Candidates: the registration details report filtered server-side on
``methodsRegistered/any(m: m eq 'temporaryAccessPass')``, mfaops's own recent resets that issued a pass, and the
disabled accounts (the report leaves them out; a TAP on a disabled account is a credential once it is enabled
again), from ``/users?$filter=accountEnabled eq false``. Never touched: break-glass accounts, members of
``TAP_SWEEP_EXEMPT_GROUP``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.graph.budget import GraphBudget
from shared.graph.lanes import background_flow
from shared.graph.port import GraphGateway
from shared.jobs.model import RESET_KINDS, Job, JobKind, JobState, Source, Target, utcnow
from shared.jobs.store import JobStore
from shared.settings import Settings
from shared.tap.rules import SweepPolicy, verdict
from shared.telemetry.spans import TAPS_SWEPT

log = logging.getLogger("mfaops.tap")
TAP_TYPE = "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
NOT_OTHER = {TAP_TYPE, "#microsoft.graph.passwordAuthenticationMethod"}
RECENT_RESETS = 2000


@dataclass(frozen=True, slots=True)
class TapItem:
    user: str
    upn: str
    method_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"user": self.user, "upn": self.upn, "method_id": self.method_id, "reason": self.reason}


@dataclass
class SweepResult:
    scanned: int = 0
    candidates: int = 0
    deleted: list[TapItem] = field(default_factory=list)
    kept: list[TapItem] = field(default_factory=list)
    failed: list[TapItem] = field(default_factory=list)
    graph_requests: int = 0
    inner_requests: int = 0
    job_id: str = ""
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"scanned": self.scanned, "candidates": self.candidates,
                "deleted": [d.to_dict() for d in self.deleted], "kept": [k.to_dict() for k in self.kept],
                "failed": [f.to_dict() for f in self.failed], "graph_requests": self.graph_requests,
                "inner_requests": self.inner_requests, "job_id": self.job_id, "applied": self.applied}


@dataclass
class TapSweeper:
    settings: Settings
    graph: GraphGateway
    jobs: JobStore
    budget: GraphBudget | None = None
    now: Callable[[], datetime] = field(default=utcnow)

    @background_flow
    async def sweep(self, *, apply: bool, by: str = "timer") -> SweepResult:
        sent = (self.budget.http_requests, self.budget.inner_requests) if self.budget else (0, 0)
        resent = int(getattr(self.graph, "resent_requests", 0))
        result = SweepResult(applied=apply)
        candidates, issued = await self._candidates()
        exempt = await self._exempt()
        result.scanned = len(candidates)
        users = {uid: upn for uid, upn in candidates.items() if uid not in exempt and upn.lower() not in exempt}
        answers = await self.graph.get_many({uid: f"/users/{uid}/authentication/methods" for uid in users})
        policy = SweepPolicy(max_age=timedelta(hours=self.settings.tap_max_age_hours),
                             allow_multi_use=self.settings.tap_allow_multi_use)
        doomed: list[TapItem] = []
        now = self.now()
        for uid, (status, body) in answers.items():
            if status >= 300:
                log.warning("tap sweep: methods of %s answered %s", uid, status)
                continue
            methods = (body or {}).get("value") or []
            taps = [m for m in methods if m.get("@odata.type") == TAP_TYPE]
            others = sum(1 for m in methods if m.get("@odata.type") not in NOT_OTHER)
            for tap in taps:
                result.candidates += 1
                go, reason = verdict(tap, other_methods=others, issued_by_mfaops=str(tap.get("id")) in issued,
                                     policy=policy, now=now)
                item = TapItem(user=uid, upn=users[uid], method_id=str(tap.get("id")), reason=reason)
                (doomed if go else result.kept).append(item)
        for uid, upn in candidates.items():
            if uid in exempt or upn.lower() in exempt:
                result.kept.append(TapItem(user=uid, upn=upn, method_id="", reason="exempt"))
        if apply and doomed:
            await self._delete(doomed, result, by, resent_before=resent)
        else:
            result.deleted = doomed
        if self.budget is not None:
            result.graph_requests = self.budget.http_requests - sent[0]
            result.inner_requests = self.budget.inner_requests - sent[1]
        return result

    async def _candidates(self) -> tuple[dict[str, str], set[str]]:
        """User id -> UPN of everyone who may hold a TAP, and the TAP method ids mfaops's resets issued."""
        users: dict[str, str] = {}
        for row in await self.graph.registered_with("temporaryAccessPass"):
            users[str(row["id"]).lower()] = str(row.get("userPrincipalName") or "")
        for row in await self.graph.list_users("accountEnabled eq false", ["id", "userPrincipalName"]):
            users[str(row["id"]).lower()] = str(row.get("userPrincipalName") or "")
        issued: set[str] = set()
        since = self.now() - timedelta(days=31)  # the longest lifetime a TAP policy allows is 30 days
        for job in await self.jobs.list_by_state(JobState.SUCCEEDED, limit=RECENT_RESETS):
            if job.kind not in RESET_KINDS or job.created_at < since or not job.target.id:
                continue
            for step in job.steps:
                if step.action == "issue_tap" and step.outcome == "issued" and step.data.get("method_id"):
                    issued.add(str(step.data["method_id"]))
                    users.setdefault(job.target.id.lower(), job.target.upn)
        return users, issued

    async def _exempt(self) -> set[str]:
        exempt = set(self.settings.break_glass_upn_set)
        for group in (self.settings.break_glass_group, self.settings.tap_sweep_exempt_group):
            if group.strip():
                exempt |= await self.graph.group_member_ids(group.strip())
        return exempt

    async def _delete(self, doomed: list[TapItem], result: SweepResult, by: str, *, resent_before: int) -> None:
        job = Job.new(JobKind.TAP_SWEEP, Target(), Source(kind="timer" if by == "timer" else "operator",
                                                          operator="" if by == "timer" else by),
                      requested_by=by, now=self.now())
        job.transition(JobState.RUNNING, f"{len(doomed)} passes to delete", now=self.now())
        stored, _ = await self.jobs.create(job)
        result.job_id = stored.job_id
        urls = {f"{t.user}/{t.method_id}": f"/users/{t.user}/authentication/temporaryAccessPassMethods/{t.method_id}"
                for t in doomed}
        errors = await self.graph.delete_many(urls)
        for item in doomed:
            error = errors.get(f"{item.user}/{item.method_id}")
            (result.failed if error is not None else result.deleted).append(item)
        TAPS_SWEPT.add(len(result.deleted))

        retried = int(getattr(self.graph, "resent_requests", 0)) - resent_before

        def record(j: Job) -> None:
            j.record_resends(retried, now=self.now())
            for item in doomed:
                error = errors.get(f"{item.user}/{item.method_id}")
                j.record("delete_method", "failed" if error is not None else "removed",
                         f"{item.upn or item.user}: temporaryAccessPass ({item.reason})" + (f": {error}" if error
                                                                                            else ""),
                         data={"type": "temporaryAccessPass", "id": item.method_id, "user": item.user,
                               "upn": item.upn, "reason": item.reason}, now=self.now())
            if result.failed:
                j.fail("partial", f"{len(result.failed)} of {len(doomed)} passes could not be deleted", now=self.now())
            else:
                j.transition(JobState.SUCCEEDED, f"{len(doomed)} passes deleted", now=self.now())

        await self.jobs.update(stored.job_id, record)
