"""The steps of a reset that talk to the outside: Graph (the snapshot, the write chain, the TAP), ServiceNow (the
work note written back), the job store (every step recorded, parking, finishing) and the blast-radius admission.
The reset service (service.py) decides what happens next, given a job; it calls these. One piece at ~470 lines:
the steps share the job's bookkeeping (every one records itself through `_step` / `_finish`), and splitting them
by counterpart would split the chain's reconciliation from the record it writes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from opentelemetry import trace

from shared.alerts import Alerts
from shared.errors import (
    GraphError,
    GraphThrottledError,
    GraphTransientError,
    GroupNotFoundError,
    MfaopsError,
    TapDeliveredElsewhereError,
    TapGoneError,
)
from shared.graph.port import AuthMethod, ChainResult, DeleteOutcome, GraphGateway, TapRequest, UserSnapshot
from shared.itsm.port import Ticket, TicketSystem, TicketSystemError
from shared.jobs.admission import admit
from shared.jobs.model import Job, JobKind, JobState, Source, Target, utcnow
from shared.jobs.store import JobStore
from shared.queue.deadletters import DeadLetterStore
from shared.queue.port import JobQueue, QueueMessage
from shared.reset.guardrails import (
    Verdict,
    guard_groups,
)
from shared.reset.notes import work_note
from shared.reset.plan import plan_removal
from shared.reset.request import RequestError, ResetRequest
from shared.settings import Settings
from shared.tapdrop import RetrievedTap, TapDrop
from shared.telemetry.spans import REFUSALS, RESETS
from shared.verify.gate import VerificationGate
from shared.verify.model import Verification
from shared.verify.policy import VerifyPolicyError

log = logging.getLogger("mfaops.reset")


class StepRecord(NamedTuple):
    action: str
    outcome: str
    detail: str = ""
    data: dict[str, Any] | None = None


USER_LOCK_S = 600.0  # longer than any reset takes; a crashed holder's lock expires after it


class UserBusyError(MfaopsError):
    """Another job is resetting this user right now."""


class RetryLater(MfaopsError):
    """A transient failure: the job records it and the queue should redeliver the message."""


@dataclass(frozen=True, slots=True)
class OperatorReset:
    """A reset asked for by hand. ``by`` is who acts: from the token when delegated, asserted otherwise."""

    user: str
    by: str
    reason: str
    revoke: bool = True
    issue_tap: bool = True
    approved_by: str = ""
    over_limit: bool = False
    batch_id: str = ""
    by_asserted: bool = True
    # A bulk run's stricter verification policy (JSON of a VerifyPolicy that only adds proofs; checked by the
    # caller against the policy in force), kept on the job so a continuation or a retry is held to it too.
    verify_policy: str = ""


@dataclass(frozen=True, slots=True)
class Preview:
    snapshot: UserSnapshot
    verdict: Verdict
    remove: list[AuthMethod]
    keep: list[AuthMethod]


@dataclass(frozen=True, slots=True)
class Accepted:
    job: Job
    created: bool


@dataclass
class ResetSteps:
    settings: Settings
    jobs: JobStore
    graph: GraphGateway
    tickets: TicketSystem
    queue: JobQueue
    tap_drop: TapDrop
    alerts: Alerts
    now: Callable[[], datetime] = field(default=utcnow)
    dead_letters: DeadLetterStore | None = None
    # The proof-before-reset gate (None only where no policy can apply: a service built by hand without one is
    # as VERIFY_POLICY=none).
    gate: VerificationGate | None = None

    async def _account_for(self, job: Job) -> Job:
        """Before a job that stopped half-way is closed: what Graph no longer has of the stored plan was removed,
        and is recorded so (a dead-letter after faults once recorded 2 removals where Graph had made 8). A user
        left with nothing to sign in with is said so on the job and alerted."""
        planned = next((s for s in job.steps if s.action == "plan_deletes"), None)
        if planned is None or not job.target.id:
            return job
        try:
            present = await self.graph.list_methods(job.target.id)
        except GraphError as exc:
            await self._step(job, "reconcile", "failed", f"could not read the user's methods to see what was "
                             f"removed: {exc}")
            return await self.jobs.get(job.job_id)
        await self._record_gone(job, {m.id for m in present}, {m["id"] for m in job.methods_removed})
        job = await self.jobs.get(job.job_id)
        await self._stranded(job, present)
        return await self.jobs.get(job.job_id)

    async def _stranded(self, job: Job, present: list[AuthMethod]) -> None:
        """Methods were removed and no TAP was issued, and nothing usable is left: the user cannot sign in."""
        issued = any(s.action == "issue_tap" and s.outcome == "issued" for s in job.steps)
        usable = [m for m in present if m.type != "password"]
        if issued or usable or not job.methods_removed:
            return
        reason = (f"{job.target.upn or job.target.id} has no sign-in method left: {len(job.methods_removed)} were "
                  "removed and no Temporary Access Pass was issued")
        await self._step(job, "stranded", "alerted", reason)
        await self.alerts.raise_alert("user_without_method", reason, job_id=job.job_id)

    async def _snapshot(self, user: str) -> UserSnapshot:
        """The read every guardrail decision starts from: it names the groups the guardrails decide."""
        extra = self.gate.groups() if self.gate is not None else []
        return await self.graph.snapshot(user, groups=[*guard_groups(self.settings), *extra])

    async def _set_verification(self, job: Job, verification: Verification, outcome: str, detail: str) -> None:
        def put(j: Job) -> None:
            j.verification = verification
            j.record("verification", outcome, detail, now=self.now())

        await self.jobs.update(job.job_id, put)

    async def _cooled_down(self, job: Job, snapshot: UserSnapshot, earlier: list[Job]) -> bool:
        """A user reset within RESET_COOLDOWN_MINUTES is not reset again unless an operator approves: each reset
        deletes the TAP the one before issued, so resets in a row leave the service desk a dead pass."""
        minutes = self.settings.reset_cooldown_minutes
        if not minutes or any(s.action == "retry" for s in job.steps):
            return True
        since = self.now() - timedelta(minutes=minutes)
        for other in earlier:
            admitted = next((s.at for s in other.steps if s.action == "admitted"), None)
            if admitted is not None and admitted >= since:
                reason = (f"{snapshot.user.upn} was reset by job {other.job_id} at {admitted.isoformat()}, within "
                          f"RESET_COOLDOWN_MINUTES={minutes}")
                await self._park(job, "recently_reset", reason)
                return False
        return True

    async def _admitted(self, job: Job) -> bool:
        """The blast-radius limit: counted once per job; an operator's retry of a parked job overrides it."""
        if any(s.action == "admitted" for s in job.steps):
            return True
        # Only an explicit, recorded over-limit approval (--allow-over-limit --approved-by, or a retry that asks
        # for it) goes over: a privileged approval or a plain retry never does.
        approved = any(s.action == "approval" and s.outcome == "over_limit" for s in job.steps)
        limit = self.settings.resets_per_hour_limit
        admitted, recent = await admit(self.jobs, job.job_id, limit=limit, now=self.now(), force=approved)
        if not admitted:
            reason = f"{recent} resets in the last hour reached RESETS_PER_HOUR_LIMIT={limit}"
            await self.alerts.raise_alert("blast_radius", reason, job_id=job.job_id, limit=limit, recent=recent)
            await self._park(job, "blast_radius", reason)
            return False
        await self._step(job, "admitted", "ok", f"{recent + 1} of {limit} this hour" + (
            " (over the limit, approved by retry)" if recent >= limit else ""))
        return True

    async def _reset(self, job: Job, snapshot: UserSnapshot, earlier: list[Job], *, revoke: bool,
                     issue_tap: bool) -> None:
        """Two sequential Graph round trips when nothing is refused: the snapshot read, then one write chain
        (every delete in the order Graph demands, the default last, then revoke, then the TAP)."""
        plan = plan_removal(snapshot.methods, snapshot.default_method)
        done = {m["id"] for m in job.methods_removed}  # a redelivery resumes: what is gone stays gone
        await self._reconcile(job, snapshot, plan, done)
        for method in plan.kept:
            await self._step(job, "keep_method", "not_removable", f"{method.type} cannot be deleted through Graph",
                             data={"type": method.type, "id": method.id})
        if plan.switch_default_to:
            await self.graph.set_default_method(snapshot.user.id, plan.switch_default_to)
            await self._step(job, "switch_default", "ok", f"default moved to {plan.switch_default_to} so the "
                             "alternate mobile can go before the mobile phone")
        deletes = [m for wave in plan.waves for m in wave if m.id not in done]
        if not deletes:
            await self._step(job, "delete_methods", "ok", "no removable methods" if not plan.waves else
                             "every removable method was already removed")
        lifetime = self.settings.tap_lifetime_minutes or None
        tap_request = TapRequest(lifetime_minutes=lifetime, usable_once=self.settings.tap_usable_once) \
            if issue_tap else None
        result = await self.graph.reset_chain(snapshot.user.id, deletes, revoke=revoke, tap=tap_request)
        steps: list[StepRecord] = [StepRecord("chain", "resumed", note) for note in result.notes]
        if result.tap is not None:
            await self.tap_drop.put(job.job_id, result.tap)  # sealed before the job says it was issued
        steps += self._chain_steps(result, revoke=revoke, issue_tap=issue_tap)

        def record(j: Job) -> None:
            for outcome in result.deletes:
                _record_outcome(j, outcome, self.now())
            for step in steps:
                j.record(step.action, step.outcome, step.detail, data=step.data, now=self.now())

        await self.jobs.update(job.job_id, record)
        await self._supersede_taps(job, earlier, [o.method for o in result.deletes if o.removed])
        failures = [o.error for o in result.deletes if not o.removed and o.error is not None]
        for error in (*failures, result.revoke_error):
            if isinstance(error, GraphThrottledError | GraphTransientError):
                raise error  # the redelivery resumes with what is left
        if failures:
            raise failures[0]
        if result.revoke_error is not None:
            raise result.revoke_error
        if isinstance(result.tap_error, GraphThrottledError | GraphTransientError):
            raise result.tap_error
        if issue_tap and result.tap is None:
            why = str(result.tap_error) if result.tap_error is not None else "the chain stopped before it"
            job = await self.jobs.get(job.job_id)
            await self._stranded(job, [m for m in snapshot.methods if m.id not in
                                       {o.method.id for o in result.deletes if o.removed}])
            await self._finish(job, lambda j: j.fail("tap_not_issued", "methods were removed but no Temporary "
                                                     f"Access Pass could be issued: {why}", now=self.now()))
        else:
            await self._finish(job, lambda j: j.transition(JobState.SUCCEEDED, now=self.now()))

    @staticmethod
    def _chain_steps(result: ChainResult, *, revoke: bool, issue_tap: bool) -> list[StepRecord]:
        steps = []
        if not revoke:
            steps.append(StepRecord("revoke_sessions", "skipped", "not requested"))
        elif result.revoked:
            steps.append(StepRecord("revoke_sessions", "revoked", "refresh tokens and session cookies invalidated"))
        if not issue_tap:
            steps.append(StepRecord("issue_tap", "skipped", "not requested"))
        elif result.tap is not None:
            tap = result.tap
            use = "one-time" if tap.usable_once else "multi-use"
            steps.append(StepRecord("issue_tap", "issued", f"{use}, valid until {tap.expires.isoformat()}",
                                    {"expires": tap.expires.isoformat(), "method_id": tap.method_id}))
        elif result.tap_error is not None:
            steps.append(StepRecord("issue_tap", "failed", str(result.tap_error)))
        return steps

    async def _supersede_taps(self, job: Job, earlier: list[Job], removed: list[AuthMethod]) -> None:
        """A TAP an earlier job issued and this one deleted is never handed out: its drop answers 410."""
        tap_ids = {m.id for m in removed if m.type == "temporaryAccessPass"}
        for other in earlier if tap_ids else []:
            issued = {s.data.get("method_id") for s in other.steps if s.action == "issue_tap" and s.outcome == "issued"}
            if issued & tap_ids:
                await self.tap_drop.supersede(other.job_id, by_job=job.job_id)

    async def retrieve_tap(self, job_id: str, *, by: str) -> RetrievedTap:
        """The one-time TAP of a job, to an authenticated caller; the retrieval (who, when) goes on the job."""
        job = await self.jobs.get(job_id)  # JobNotFoundError before anything else
        delivery = job.verification.tap_delivery if job.verification is not None else "operator"
        if delivery != "operator":
            await self._step_by_id(job_id, "tap_retrieval", "refused", f"by {by}: the policy delivers this TAP to "
                                   f"the {delivery.replace('_', ' ')}", {"by": by})
            raise TapDeliveredElsewhereError(f"job {job_id}: the Temporary Access Pass goes to the "
                                             f"{delivery.replace('_', ' ')} (tap_delivery {delivery}), never to "
                                             "an operator")
        try:
            tap = await self.tap_drop.take(job_id, now=self.now())
        except TapGoneError as exc:
            reason = str(exc)
            await self._step_by_id(job_id, "tap_retrieval", "refused", f"by {by}: {reason}", {"by": by})
            raise
        await self._step_by_id(job_id, "tap_retrieval", "retrieved", f"by {by}", {"by": by})
        return tap

    async def _step_by_id(self, job_id: str, action: str, outcome: str, detail: str, data: dict[str, str]) -> None:
        await self.jobs.update(job_id, lambda j: j.record(action, outcome, detail, data=data, now=self.now()))

    async def _step(self, job: Job, action: str, outcome: str, detail: str = "",
                    data: dict[str, str] | None = None) -> None:
        await self.jobs.update(job.job_id, lambda j: j.record(action, outcome, detail, data=data, now=self.now()))

    async def _park(self, job: Job, code: str, reason: str) -> None:
        def park(j: Job) -> None:
            j.record("guardrail", code, reason, now=self.now())
            j.transition(JobState.AWAITING_APPROVAL, f"{code}: {reason}", now=self.now())

        await self._finish(job, park)

    async def _reconcile(self, job: Job, snapshot: UserSnapshot, plan: Any, done: set[str]) -> None:
        """The plan is written before the first delete, so that a worker killed after Graph deleted a method but
        before the job said so leaves a trace: the next delivery finds those planned methods gone and records
        them (each job's steps stay true, and nothing is deleted twice)."""
        planned = next((s for s in job.steps if s.action == "plan_deletes"), None)
        if planned is None:
            methods = _planned(plan)
            count = sum(len(w) for w in plan.waves)
            await self._step(job, "plan_deletes", "ok", f"{count} methods to remove", data={"methods": methods})
            return
        await self._record_gone(job, {m.id for m in snapshot.methods}, done)

    async def _record_gone(self, job: Job, present: set[str], done: set[str]) -> None:
        """Planned methods Graph no longer lists and the job has not recorded: removed by an earlier delivery."""
        planned = next((s for s in job.steps if s.action == "plan_deletes"), None)
        if planned is None:
            return
        gone = [m for m in json.loads(str(planned.data.get("methods", "[]")))
                if m["id"] not in present and m["id"] not in done]
        if gone:
            def record(j: Job) -> None:
                for m in gone:
                    j.record("delete_method", "removed", f"{m['type']} {m.get('label', '')}".strip() +
                             " (deleted by an earlier delivery that stopped before recording it)",
                             data={"type": m["type"], "id": m["id"]}, now=self.now())

            await self.jobs.update(job.job_id, record)
            done |= {m["id"] for m in gone}

    async def _finish(self, job: Job, change: Callable[[Job], None]) -> Job:
        done = await self.jobs.update(job.job_id, change)
        outcome = "parked" if done.state is JobState.AWAITING_APPROVAL else done.state.value
        RESETS.add(1, {"outcome": outcome})
        code = done.error.code if done.error else next(
            (s.outcome for s in reversed(done.steps) if s.action == "guardrail"), "")
        if outcome in ("rejected", "parked") and code:
            REFUSALS.add(1, {"guardrail": code})
        trace.get_current_span().set_attribute("mfaops.outcome", outcome)
        log.info("job %s %s", done.job_id, done.state.value, extra={"custom_dimensions": {
            "job_id": done.job_id, "state": done.state.value, "ticket": done.source.number}})
        return await self._write_back(done)

    async def _write_back(self, job: Job) -> Job:
        if not job.source.sys_id:
            return job  # an operator's reset: no ticket to tell
        state = self.settings.servicenow_success_state if job.state is JobState.SUCCEEDED else ""
        try:
            await self.tickets.write_back(job.source.table, job.source.sys_id, work_note(job), state=state)
        except TicketSystemError as exc:
            # The reset stands; the failed write-back is on the record for an operator to follow up.
            failure = str(exc)
            return await self.jobs.update(job.job_id, lambda j: j.record("write_back", "failed", failure,
                                                                         now=self.now()))
        return await self.jobs.update(job.job_id, lambda j: j.record("write_back", "ok", f"work note on "
                                                                     f"{j.source.number}", now=self.now()))

    async def _note_retry(self, job: Job, exc: Exception) -> Job:
        return await self.jobs.update(job.job_id, lambda j: j.record("attempt", "retry_later", str(exc),
                                                                     now=self.now()))

    async def _record_unreadable(self, message: QueueMessage, exc: RequestError) -> Job:
        key = f"queue:{message.message_id}"
        job = Job.new(JobKind.RESET, Target(), Source(kind="queue", message_id=message.message_id),
                      idempotency_key=key, job_id=self.jobs.job_id_for(key), now=self.now())
        job.fail("invalid_message", str(exc), now=self.now())
        stored, _ = await self.jobs.create(job)
        return stored

    async def independent(self, requester: str, approver: str, approver_id: str = "") -> bool:
        """Whether ``approver`` is a different person from ``requester``: by object id (a principal with the
        requester's object id and no UPN claim is the same person), the UPN only as a fallback (the CLI's
        ``--by``). A comparison that cannot be made says "not independent"."""
        req, name, oid = requester.strip().lower(), approver.strip().lower(), approver_id.strip().lower()
        if not req or req in {name, oid}:
            return False
        if not oid:
            return not _GUID_TEXT.fullmatch(req) and bool(name)  # two UPNs, compared as names
        if _GUID_TEXT.fullmatch(req):
            return req != oid
        try:
            requester_id = (await self.graph.get_user(req)).id.lower()
        except GraphError:
            # The requester is not a tenant user (an outside agent): names decide if the approver has one.
            return bool(name) and name != req
        return requester_id != oid

    async def tap_delivery_for(self, user: str) -> str:
        """Who the policy in force would give this user's TAP to (``--reveal-tap`` is refused unless the operator)."""
        policy = self.gate.policy() if self.gate is not None else None
        if policy is None:
            return "operator"
        snapshot = await self._snapshot(user)
        try:
            return self.gate.tier(policy, snapshot).tap_delivery if self.gate is not None else "operator"
        except VerifyPolicyError:
            return "undecided"


_GUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _undecided(exc: GroupNotFoundError) -> str:
    return f"a group the guardrails or the verification tiers name cannot be decided: {exc.args[0]} " \
           "(BREAK_GLASS_GROUP, VERIFY_POLICY)"


# The ticket's own options a requeued request carries (an operator's options step holds more).
_REQUEST_OPTIONS = {"revoke_sessions", "issue_tap"}


def _operator_order(job: Job, retried_by: str = "") -> OperatorReset:
    """An operator's job as its order, from what the job recorded (a retry, a continuation after the proofs)."""
    options = next((s.data for s in job.steps if s.action == "options"), {})
    first = next((s.data.get("by", "") for s in job.steps if s.action == "approval" and s.outcome == "privileged"), "")
    return OperatorReset(user=job.target.upn or job.target.id, by=job.requested_by,
                         reason=str(options.get("reason", "")), revoke=bool(options.get("revoke_sessions", True)),
                         issue_tap=bool(options.get("issue_tap", True)), approved_by=first or retried_by,
                         batch_id=job.source.number)


def _options(request: ResetRequest) -> dict[str, Any]:
    return {"revoke_sessions": request.revoke_sessions, "issue_tap": request.issue_tap}


def _to_queued(job: Job) -> None:
    if job.state is JobState.RECEIVED:
        job.transition(JobState.QUEUED)


def _target_of(user: str) -> Target:
    return Target(upn=user) if "@" in user else Target(id=user)


def _code_of(exc: GraphError) -> str:
    return {400: "graph_bad_request", 401: "graph_forbidden", 403: "graph_forbidden"}.get(exc.status, "graph_error")


def _ticket_problem(ticket: Ticket | None, request: ResetRequest, settings: Settings) -> tuple[str, str] | None:
    if ticket is None:
        return "ticket_not_found", f"{request.table} {request.sys_id} does not exist"
    if ticket.number and ticket.number != request.number:
        return "ticket_mismatch", f"the record is {ticket.number}, not {request.number}"
    if ticket.closed:
        return "ticket_closed", f"{ticket.number} is closed or cancelled (state {ticket.state})"
    if ticket.approval.lower() not in settings.accepted_approvals:
        return "ticket_not_approved", f"{ticket.number} approval is '{ticket.approval}'"
    if not ticket.is_for(request.user):
        return "ticket_user_mismatch", f"{ticket.number} is not for {request.user}"
    return None


def _planned(plan: Any) -> str:
    return json.dumps([{"type": m.type, "id": m.id, "label": m.label} for wave in plan.waves for m in wave])


def _record_outcome(job: Job, outcome: DeleteOutcome, now: datetime) -> None:
    method: AuthMethod = outcome.method
    data = {"type": method.type, "id": method.id}
    label = f"{method.type} {method.label}".strip()
    if outcome.error is None:
        job.record("delete_method", "removed", label, data=data, now=now)
    elif outcome.removed:
        job.record("delete_method", "removed", f"{label} (already gone)", data=data, now=now)
    else:
        job.record("delete_method", "failed", f"{label}: {outcome.error}", data=data, now=now)
