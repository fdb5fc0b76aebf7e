"""The reset service: accept a request (webhook), run it (queue worker), give up on it (dead-letter); an
operator's reset; a verified job's continuation. This module is the state machine (what happens next, given a
job); the steps that talk to Graph, ServiceNow and the store are in steps.py. One piece at ~510 lines: the
states and their transitions read as one machine (the webhook's, the worker's and the operator's entries all end in
the same `_execute` / `_proceed`), and a state machine cut in two is read in two places.

Every step lands on the job record. What can be retried (throttling, 5xx, ServiceNow hiccups, a lost ETag
race) raises ``RetryLater`` so the queue redelivers; what cannot ends the job in a final state and is
written back to the ticket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.errors import (
    ConcurrencyError,
    ConfigurationError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphThrottledError,
    GraphTransientError,
    GroupNotFoundError,
    JobNotFoundError,
    NotIndependentError,
)
from shared.graph.permissions import needed_permission
from shared.graph.port import UserSnapshot
from shared.itsm.port import TicketSystemError
from shared.jobs.model import RESET_KINDS, Job, JobFailure, JobKind, JobState, Source, Target
from shared.queue.port import QueueMessage
from shared.reset.guardrails import (
    UNDECIDED,
    Decision,
    Verdict,
    check_target,
    ticket_approves_privileged,
)
from shared.reset.plan import plan_removal
from shared.reset.request import RequestError, ResetRequest, parse_request
from shared.reset.steps import (
    _REQUEST_OPTIONS,
    USER_LOCK_S,
    Accepted,
    OperatorReset,
    Preview,
    ResetSteps,
    RetryLater,
    UserBusyError,
    _code_of,
    _operator_order,
    _options,
    _target_of,
    _ticket_problem,
    _to_queued,
    _undecided,
    log,
)
from shared.telemetry.spans import RESCHEDULED, RESETS, THROTTLED, job_span, trace_id
from shared.verify.model import NOT_REQUIRED, PASSED, Verification
from shared.verify.policy import VerifyPolicyError

__all__ = ["Accepted", "OperatorReset", "Preview", "ResetService", "RetryLater", "UserBusyError"]


@dataclass
class ResetService(ResetSteps):
    async def accept(self, request: ResetRequest, *, correlation_id: str = "") -> Accepted:
        job = Job.new(JobKind.RESET, _target_of(request.user),
                      Source(kind="ticket", table=request.table, sys_id=request.sys_id, number=request.number),
                      requested_by=request.requested_by, idempotency_key=request.idempotency_key,
                      job_id=self.jobs.job_id_for(request.idempotency_key), now=self.now())
        job.record("options", "ok", "as the ticket asked", data=_options(request), now=self.now())
        stored, created = await self.jobs.create(job)
        if stored.state is JobState.RECEIVED:
            # New, or an earlier delivery whose enqueue failed: (re)enqueue. Duplicate detection on the
            # message id keeps a double send from becoming a double reset.
            await self.queue.send(json.dumps(request.to_message()).encode(), message_id=request.idempotency_key,
                                  session_id=request.user.lower(), correlation_id=correlation_id or stored.job_id)
            stored = await self.jobs.update(stored.job_id, _to_queued)
        return Accepted(stored, created)

    async def run(self, message: QueueMessage) -> None:
        try:
            request = parse_request(message.body)
        except RequestError as exc:
            await self._record_unreadable(message, exc)
            return
        job = await self._job_for(request, message)
        if job.state.is_final or job.state in (JobState.AWAITING_APPROVAL, JobState.AWAITING_VERIFICATION):
            log.info("job %s is %s; delivery %s ignored", job.job_id, job.state.value, message.delivery_count)
            return
        with job_span("reset.run", job_id=job.job_id, kind=job.kind.value, target_id=job.target.id) as span:
            await self._run(job, request, message, span)

    async def _run(self, job: Job, request: ResetRequest, message: QueueMessage, span: Any) -> None:
        traced = trace_id()

        def start(j: Job) -> None:
            j.transition(JobState.RUNNING, f"delivery {message.delivery_count}", now=self.now())
            if traced:
                j.record("trace", "ok", f"trace {traced}", data={"trace_id": traced}, now=self.now())

        job = await self.jobs.update(job.job_id, start)
        log.info("reset job %s for %s: delivery %s", job.job_id, request.number, message.delivery_count,
                 extra={"custom_dimensions": {"job_id": job.job_id, "ticket": request.number,
                                              "correlation_id": message.correlation_id or job.job_id,
                                              "message_id": message.message_id}})
        try:
            await self._execute(job, request)
        except GraphThrottledError as exc:
            THROTTLED.add(1)
            span.set_attribute("mfaops.outcome", "throttled")
            noted = await self._note_retry(job, exc)
            if await self._backed_off(noted, request, message, exc):
                return  # this delivery is done; the scheduled copy carries the job on
            raise RetryLater(str(exc)) from exc
        except (GraphTransientError, ConcurrencyError, UserBusyError) as exc:
            await self._note_retry(job, exc)
            raise RetryLater(str(exc)) from exc
        except TicketSystemError as exc:
            if exc.transient:
                await self._note_retry(job, exc)
                raise RetryLater(str(exc)) from exc
            failure = str(exc)
            await self._finish(job, lambda j: j.fail("servicenow_error", failure, now=self.now()))
        except GraphError as exc:
            # Errors retrying cannot fix (a 403, a 400) fail the job at once; a 403 names what to grant.
            code, failure = _code_of(exc), str(exc)
            if isinstance(exc, GraphForbiddenError):
                permission = needed_permission(str(exc.args[0]))
                failure += f"; grant mfaops's identity {permission} (bicep/graph-permissions.bicep)" if permission \
                    else "; a Graph permission or directory role is missing"
            await self._finish(job, lambda j: j.fail(code, failure, now=self.now()))

    async def give_up(self, message: QueueMessage) -> Job | None:
        """The message was dead-lettered: kept on the record for `mfaops dlq`, the job fails, the ticket is told."""
        try:
            request = parse_request(message.body)
        except RequestError:
            if self.dead_letters is not None:
                await self.dead_letters.record(message, "unreadable message")
            return None
        job = await self.jobs.find_by_key(request.idempotency_key)
        log.error("dead-lettered: message %s after %s deliveries", message.message_id, message.delivery_count,
                  extra={"custom_dimensions": {"job_id": job.job_id if job else "", "message_id": message.message_id,
                                               "deliveries": message.delivery_count}})
        if self.dead_letters is not None:
            await self.dead_letters.record(message, f"gave up after {message.delivery_count} deliveries",
                                           job_id=job.job_id if job else "")
        if job is None or job.state.is_final:
            return job
        job = await self._account_for(job)
        detail = f"gave up after {message.delivery_count} deliveries"
        return await self._finish(job, lambda j: j.fail("dead_lettered", detail, now=self.now()))

    async def replay(self, message_id: str, *, by: str) -> Job:
        """Replay a dead letter: its job is retried on the record (same job), under a new message id (the ticket
        key plus the attempt: duplicate detection would drop the old id for a day); the letter is removed. The
        job store, not the message id, keeps a replay from resetting anyone twice."""
        if self.dead_letters is None:
            raise ConfigurationError("dead letters are not recorded here")
        letter = await self.dead_letters.get(message_id)
        if letter is None:
            raise JobNotFoundError(f"no dead letter {message_id!r}")
        try:
            request = parse_request(letter.message.body)
        except RequestError as exc:
            raise JobNotFoundError(f"dead letter {message_id!r} is not a reset request ({exc}); purge it") from None
        job = await self.jobs.find_by_key(request.idempotency_key)
        if job is None:
            raise JobNotFoundError(f"dead letter {message_id!r} has no job")
        replayed = await self.retry(job.job_id, by=by, reason=f"replayed from the dead-letter queue ({message_id})",
                                    suffix="replay")
        await self.dead_letters.remove(message_id)
        return replayed

    async def retry(self, job_id: str, *, by: str, reason: str = "", suffix: str = "retry", by_id: str = "",
                    allow_over_limit: bool = False, approved_by: str = "") -> Job:
        """An operator approves a parked job or retries a failed one: back on the queue, on the record (an
        operator's own job, which has no ticket and no message, runs again in place). ``by_id`` is the caller's
        object id when known (identities are compared by it). A retry never lifts the blast-radius limit by
        itself: ``allow_over_limit`` records an explicit over-limit approval, which must come from someone other
        than the requester."""
        current = await self.jobs.get(job_id)
        independent = await self.independent(current.requested_by, by, by_id)
        # The over-limit approver: a named second person (the CLI's --approved-by), else the caller.
        over_by = approved_by or by
        if allow_over_limit and (not await self.independent(current.requested_by, over_by,
                                                            "" if approved_by else by_id)
                                 or (approved_by and approved_by.lower() in {by.lower(), by_id.lower()})):
            raise NotIndependentError(f"job {job_id}: going over the blast-radius limit needs the approval of a "
                                      "second person, not the one who asked or who acts")

        def retried(j: Job) -> None:
            j.retry(by, reason, now=self.now())
            if allow_over_limit:
                j.record("approval", "over_limit", f"over-limit approval by {over_by}", data={"by": over_by},
                         now=self.now())

        job = await self.jobs.update(job_id, retried)
        if job.source.kind == "operator":
            # The retry is the second approval only when someone other than the requester gives it.
            return await self._run_operator_job(job, _operator_order(job, by if independent else ""))
        retries = sum(1 for s in job.steps if s.action == "retry")
        await self._requeue(job, f"{suffix}{retries}")
        return job

    async def _requeue(self, job: Job, suffix: str) -> None:
        """A ticket's job back on the queue, as its request, under a fresh message id (duplicate detection would
        drop a second message with the ticket's own key)."""
        options = next((s.data for s in job.steps if s.action == "options"), {})
        request = ResetRequest.model_validate({
            "table": job.source.table, "sys_id": job.source.sys_id, "number": job.source.number,
            "action": "reset_mfa", "user": job.target.upn or job.target.id, "requested_by": job.requested_by,
            **{k: v for k, v in options.items() if v is not None and k in _REQUEST_OPTIONS}})
        await self.queue.send(json.dumps(request.to_message()).encode(),
                              message_id=f"{request.idempotency_key}:{suffix}",
                              session_id=request.user.lower(), correlation_id=job.job_id)

    async def continue_verified(self, job_id: str) -> Job:
        """The proofs passed: the job goes on exactly as a reset does (the same two round trips): a ticket's back
        on the queue, an operator's in place. Anything else is left as it is."""
        job = await self.jobs.get(job_id)
        if job.state is not JobState.AWAITING_VERIFICATION or job.verification is None or \
                job.verification.state != "passed":
            return job
        if job.source.kind in ("operator", "self_service"):
            return await self._run_operator_job(job, _operator_order(job))
        job = await self.jobs.update(job_id, lambda j: j.transition(JobState.QUEUED, "identity proven",
                                                                     now=self.now()))
        await self._requeue(job, f"verified{sum(1 for s in job.steps if s.action == 'verification')}")
        return job

    async def reset_by_operator(self, order: OperatorReset) -> Job:
        """The same guarded reset as a ticket's, run in place, recorded as a job whose source is the operator.
        With a ``batch_id`` the job's id derives from the batch and the user, so a re-run of an interrupted
        bulk finds each user's job: a succeeded or refused one is returned as it is, never reset again."""
        if order.approved_by and not await self.independent(order.by, order.approved_by):
            raise NotIndependentError(f"{order.approved_by} cannot approve a reset {order.by} asked for: a second "
                                      "person must approve")
        key = f"operator:{order.batch_id}:{order.user.lower()}" if order.batch_id else ""
        job = Job.new(JobKind.RESET, _target_of(order.user),
                      Source(kind="operator", operator=order.by, number=order.batch_id),
                      requested_by=order.by, idempotency_key=key,
                      job_id=self.jobs.job_id_for(key) if key else "", now=self.now())
        job.record("options", "ok", order.reason, data={
            "revoke_sessions": order.revoke, "issue_tap": order.issue_tap, "reason": order.reason,
            "by_asserted": order.by_asserted,
            **({"verify_policy": order.verify_policy} if order.verify_policy else {})}, now=self.now())
        if order.approved_by:
            job.record("approval", "over_limit" if order.over_limit else "privileged",
                       f"second approval by {order.approved_by}", data={"by": order.approved_by}, now=self.now())
        stored, created = await self.jobs.create(job)
        if not created and stored.state in (JobState.SUCCEEDED, JobState.REJECTED, JobState.AWAITING_APPROVAL,
                                            JobState.AWAITING_VERIFICATION, JobState.VERIFICATION_FAILED):
            return stored  # a failed verification is retried by an operator, on the record (jobs retry)
        if not created and stored.state is JobState.FAILED:
            stored = await self.jobs.update(stored.job_id, lambda j: j.retry(order.by, "re-run of the batch",
                                                                             now=self.now()))
        return await self._run_operator_job(stored, order)

    async def start_self_service(self, user: str, *, client: str) -> Job:
        """A user recovering by themselves (no ticket, no agent): the same guarded reset, run up to its gate, where
        it waits for the user's Verified ID presentation. Guardrails, cooldown, the limit and the per-user lock
        apply when it goes on, as for any reset."""
        job = Job.new(JobKind.SELF_SERVICE, _target_of(user), Source(kind="self_service", operator=client[:64]),
                      requested_by="self-service", now=self.now())
        job.record("options", "ok", "self-service recovery", data={
            "revoke_sessions": True, "issue_tap": True, "reason": "self-service recovery"}, now=self.now())
        stored, _ = await self.jobs.create(job)
        return await self._run_operator_job(stored, _operator_order(stored))

    async def _run_operator_job(self, stored: Job, order: OperatorReset) -> Job:
        """Run an operator's job in place, to a recorded final (or parked) state."""
        stored = await self.jobs.update(stored.job_id, lambda j: j.transition(JobState.RUNNING, "by the operator",
                                                                               now=self.now()))
        try:
            if order.issue_tap and not self.tap_drop.configured:
                return await self._finish(stored, lambda j: j.fail(
                    "configuration", "a Temporary Access Pass was asked for but TAP_DROP_KEY is not set",
                    now=self.now()))
            try:
                snapshot = await self._snapshot(order.user)
            except GroupNotFoundError as exc:
                why = _undecided(exc)
                return await self._finish(stored, lambda j: j.reject(UNDECIDED, why, now=self.now()))
            except GraphNotFoundError:
                return await self._finish(stored, lambda j: j.reject(
                    "user_not_found", f"no user {order.user} in the tenant", now=self.now()))
            await self._proceed(stored, snapshot, revoke=order.revoke, issue_tap=order.issue_tap,
                                privileged_approved=bool(order.approved_by),
                                approval_hint="a second person must approve with --approved-by")
        except GraphError as exc:
            code, failure = _code_of(exc), str(exc)
            if isinstance(exc, GraphForbiddenError):
                permission = needed_permission(str(exc.args[0]))
                failure += f"; grant {permission}" if permission else "; a permission or directory role is missing"
            await self._finish(stored, lambda j: j.fail(code, failure, now=self.now()))
        except ConcurrencyError as exc:
            failure = str(exc)
            await self._finish(stored, lambda j: j.fail("job_store_conflict", failure, now=self.now()))
        except UserBusyError as exc:
            await self._park(stored, "user_busy", str(exc))
        return await self.jobs.get(stored.job_id)

    async def preview(self, user: str, *, approved: bool = False) -> Preview:
        """What a reset of ``user`` would do (``--dry-run``): the guardrails' verdict and the removal plan.
        Reads only; no job."""
        try:
            snapshot = await self._snapshot(user)
        except GroupNotFoundError as exc:
            snapshot = await self.graph.snapshot(user)
            return Preview(snapshot=snapshot, verdict=Verdict(Decision.REJECT, UNDECIDED, _undecided(exc)),
                           remove=[], keep=snapshot.methods)
        verdict = check_target(snapshot, self.settings, privileged_approved=approved,
                               approval_hint="a second person must approve with --approved-by")
        plan = plan_removal(snapshot.methods, snapshot.default_method)
        return Preview(snapshot=snapshot, verdict=verdict, remove=[m for w in plan.waves for m in w], keep=plan.kept)

    async def _execute(self, job: Job, request: ResetRequest) -> None:
        revoke = request.revoke_sessions if request.revoke_sessions is not None else \
            self.settings.default_revoke_sessions
        issue_tap = request.issue_tap if request.issue_tap is not None else self.settings.default_issue_tap
        if issue_tap and not self.tap_drop.configured:
            # Before anything is removed: a user left with no methods and no pass is locked out.
            await self._finish(job, lambda j: j.fail("configuration", "a Temporary Access Pass was asked for but "
                                                     "TAP_DROP_KEY is not set", now=self.now()))
            return
        ticket = await self.tickets.get_ticket(request.table, request.sys_id)
        problem = _ticket_problem(ticket, request, self.settings)
        if problem or ticket is None:
            code, message = problem or ("ticket_not_found", "no such ticket")
            await self._finish(job, lambda j: j.reject(code, message, now=self.now()))
            return
        await self._step(job, "verify_ticket", "ok", f"{ticket.number}: approval {ticket.approval}, state "
                         f"{ticket.state}")
        try:
            snapshot = await self._snapshot(request.user)
        except GroupNotFoundError as exc:
            why = _undecided(exc)
            await self._finish(job, lambda j: j.reject(UNDECIDED, why, now=self.now()))
            return
        except GraphNotFoundError:
            await self._finish(job, lambda j: j.reject("user_not_found", f"no user {request.user} in the tenant",
                                                       now=self.now()))
            return
        await self._proceed(job, snapshot, revoke=revoke, issue_tap=issue_tap,
                            privileged_approved=ticket_approves_privileged(ticket, self.settings))

    async def _proceed(self, job: Job, snapshot: UserSnapshot, *, revoke: bool, issue_tap: bool,
                       privileged_approved: bool, approval_hint: str = "") -> None:
        """What every reset does once its request is verified (a ticket, an operator): the guardrails, the
        cooldown, the blast-radius limit, then the removal."""
        job = await self._resolved(job, snapshot)
        verdict = check_target(snapshot, self.settings, privileged_approved=privileged_approved,
                               approval_hint=approval_hint)
        if verdict.decision is Decision.REJECT:
            await self._finish(job, lambda j: j.reject(verdict.code, verdict.reason, now=self.now()))
            return
        if verdict.decision is Decision.PARK:
            await self._park(job, verdict.code, verdict.reason)
            return
        if not await self._verified(job, snapshot):
            return
        # One user is never reset by two jobs at once, whatever door they came through (a ticket, the CLI, a
        # bulk run): the lock is per user object id, held until the job ends (or expires after a crash).
        lock = f"reset-user:{snapshot.user.id}"
        holder = await self.jobs.claim(lock, job.job_id, ttl_s=USER_LOCK_S)
        if holder != job.job_id:
            raise UserBusyError(f"{snapshot.user.upn} is being reset by job {holder}")
        try:
            # The user's other resets, read once: the cooldown judges them, and the TAPs they issued are
            # superseded when this reset deletes them.
            earlier = [j for j in await self.jobs.list_for_user(snapshot.user.id, limit=20)
                       if j.job_id != job.job_id and j.kind in RESET_KINDS]
            if not await self._cooled_down(job, snapshot, earlier):
                return
            if not await self._admitted(job):
                return
            await self._reset(job, snapshot, earlier, revoke=revoke, issue_tap=issue_tap)
        finally:
            await self.jobs.release(lock, job.job_id)

    async def _verified(self, job: Job, snapshot: UserSnapshot) -> bool:
        """The gate: True when the reset may write (the tier needs no proof, or this attempt's proofs passed);
        else the job now waits for its proofs (or ended because one cannot pass) and nothing was written."""
        gate = self.gate
        policy = gate.policy_for(job) if gate is not None else None
        current = (await self.jobs.get(job.job_id)).verification
        if gate is None or policy is None:
            if current is None or current.state != NOT_REQUIRED:
                await self._set_verification(job, Verification.not_required(), "not_required",
                                             "VERIFY_POLICY=none: no proof of identity is asked")
            return True
        try:
            tier = gate.tier(policy, snapshot)
        except VerifyPolicyError as exc:
            why = f"the verification tier cannot be decided: {exc} (VERIFY_POLICY)"
            await self._finish(job, lambda j: j.reject(UNDECIDED, why, now=self.now()))
            return False
        if current is not None and current.state == PASSED and current.tier == tier.id:
            return True
        if not tier.require.kinds:
            await self._set_verification(job, gate.not_required(tier), "not_required",
                                         f"tier {tier.id} needs no proof of identity")
            return True
        verification = gate.open(job, policy, tier, snapshot)
        await self.jobs.link_verification(verification.id, job.job_id)
        asked = f"{tier.require.mode} of {', '.join(tier.require.kinds)}"
        if verification.decided:
            failed = verification.failed_proof()
            why = f"{failed.kind}: {failed.reason}" if failed else verification.state

            def ended(j: Job) -> None:
                j.verification = verification
                j.record("verification", verification.state, f"tier {tier.id} ({asked}): {why}",
                         data={"id": verification.id}, now=self.now())
                j.error = JobFailure("verification_failed", why)
                j.transition(JobState.VERIFICATION_FAILED, why, now=self.now())

            done = await self.jobs.update(job.job_id, ended)
            RESETS.add(1, {"outcome": "verification_failed"})
            await gate.close_failed(done)
            return False

        def waiting(j: Job) -> None:
            j.verification = verification
            j.record("verification", "started", f"tier {tier.id}: {asked}, expires "
                     f"{verification.expires_at.isoformat() if verification.expires_at else '?'}",
                     data={"id": verification.id}, now=self.now())
            j.transition(JobState.AWAITING_VERIFICATION, f"waiting for {asked}", now=self.now())

        job = await self.jobs.update(job.job_id, waiting)
        RESETS.add(1, {"outcome": "awaiting_verification"})
        await gate.started(job)
        return False

    async def _resolved(self, job: Job, snapshot: UserSnapshot) -> Job:
        user = snapshot.user

        def resolve(j: Job) -> None:
            j.target = Target(id=user.id, upn=user.upn)
            j.record("resolve_user", "ok", f"{user.upn} ({user.user_type}, "
                     f"{'enabled' if user.enabled else 'disabled'}), {len(snapshot.methods)} methods, default "
                     f"{snapshot.default_method or 'none'}", now=self.now())

        job = await self.jobs.update(job.job_id, resolve)
        await self.jobs.add_target_identifiers(job)
        return job

    async def _backed_off(self, job: Job, request: ResetRequest, message: QueueMessage,
                          exc: GraphThrottledError) -> bool:
        """Graph asked for a longer wait than the worker holds a message (Retry-After over the cap), or throttled
        this job before: put it back on the queue for later, under a new message id (duplicate detection would
        drop a copy with the old one), instead of redelivering at once and burning the delivery count."""
        throttled = sum(1 for s in job.steps if s.action == "attempt" and s.outcome == "retry_later"
                        and "status=429" in s.detail)  # ``job`` is as recorded: this throttle is on it already
        retry_after = exc.retry_after_s or 0.0
        if retry_after <= self.settings.graph_retry_after_cap_s and throttled < 2:
            return False
        backoffs = sum(1 for s in job.steps if s.action == "rescheduled")
        delay = min(max(retry_after, self.settings.queue_backoff_base_s * 2 ** backoffs),
                    self.settings.queue_backoff_max_s)
        at = self.now() + timedelta(seconds=delay)
        await self.queue.send(json.dumps(request.to_message()).encode(),
                              message_id=f"{request.idempotency_key}:backoff{backoffs + 1}",
                              session_id=message.session_id or request.user.lower(),
                              correlation_id=message.correlation_id or job.job_id, scheduled_at=at)
        RESCHEDULED.add(1)
        await self.jobs.update(job.job_id, lambda j: j.record(
            "rescheduled", "queued", f"Graph throttled (Retry-After {retry_after:g} s): back on the queue at "
            f"{at.isoformat()} ({delay:g} s)", data={"at": at.isoformat(), "delay_s": delay}, now=self.now()))
        return True

    async def fail_stuck(self, *, older_than: timedelta) -> list[Job]:
        """Jobs left ``running`` (or ``queued``) with no step for ``older_than``: no worker holds them (a process
        killed, a message lost). Each is failed with the reason, on the record and on its ticket; an operator's
        retry resumes it (the chain resumes from what is gone)."""
        cutoff = self.now() - older_than
        failed = []
        for state in (JobState.RUNNING, JobState.QUEUED):
            for job in await self.jobs.list_by_state(state, limit=1000):
                if job.updated_at > cutoff:
                    continue
                minutes = int((self.now() - job.updated_at).total_seconds() // 60)
                why = f"no progress for {minutes} min in state {job.state.value}: no worker holds it; retry resumes it"

                def stuck(j: Job, why: str = why) -> None:
                    if j.state in (JobState.RUNNING, JobState.QUEUED):
                        j.fail("stuck", why, now=self.now())

                done = await self.jobs.update(job.job_id, stuck)
                if done.state is JobState.FAILED and done.error is not None and done.error.code == "stuck":
                    log.warning("job %s was stuck and is failed", done.job_id,
                                extra={"custom_dimensions": {"job_id": done.job_id, "kind": done.kind.value}})
                    failed.append(await self._write_back(done) if done.kind in RESET_KINDS else done)
        return failed

    async def _job_for(self, request: ResetRequest, message: QueueMessage) -> Job:
        found = await self.jobs.find_by_key(request.idempotency_key)
        if found is not None:
            return found
        # Another producer put the request straight on the queue: the job starts here.
        job = Job.new(JobKind.RESET, _target_of(request.user),
                      Source(kind="queue", table=request.table, sys_id=request.sys_id, number=request.number,
                             message_id=message.message_id),
                      requested_by=request.requested_by, idempotency_key=request.idempotency_key,
                      job_id=self.jobs.job_id_for(request.idempotency_key), now=self.now())
        job.transition(JobState.QUEUED, "from the queue", now=self.now())
        stored, _ = await self.jobs.create(job)
        return stored
