"""Job domain model: states, checked transitions, ordered step events. Pure Python, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.errors import InvalidTransitionError
from shared.verify.model import Verification

MAX_DETAIL_CHARS = 1000

# Rejections an operator's retry may lift, because the re-run checks them again and they can change: the
# ticket's approval arriving late, a user not yet synced to Entra. Every other rejection is final (a
# break-glass account, a guest or disabled account, a closed ticket or one for someone else): a new reset
# needs a new request. Parks (a limit, a privileged user's missing approval, a recent reset) are always
# retryable: that is what awaiting approval means.
RETRYABLE_REJECTIONS = frozenset({"ticket_not_approved", "user_not_found"})


class JobKind(StrEnum):
    RESET = "reset"
    TAP_SWEEP = "tap_sweep"
    CLEANUP = "cleanup"
    CONTAINMENT = "containment"
    POSTURE_FIX = "posture_fix"
    SELF_SERVICE = "self_service"  # a reset the user started themselves, proven by Verified ID (no ticket, no agent)


# Kinds that reset a user's MFA (the cooldown, the TAP sweep, the monitor's "caused by mfaops" all count both).
RESET_KINDS = frozenset({JobKind.RESET, JobKind.SELF_SERVICE})


class JobState(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFICATION_FAILED = "verification_failed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


# A failed verification ends this attempt (nothing was removed); an operator's retry starts a new one.
FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED, JobState.VERIFICATION_FAILED})

# running -> running is a redelivered message resuming the work; it counts as a new attempt.
_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset({JobState.QUEUED, JobState.RUNNING, JobState.REJECTED, JobState.FAILED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.REJECTED, JobState.FAILED}),
    JobState.RUNNING: frozenset(
        {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED, JobState.AWAITING_APPROVAL,
         JobState.AWAITING_VERIFICATION, JobState.VERIFICATION_FAILED}
    ),
    JobState.AWAITING_APPROVAL: frozenset({JobState.QUEUED, JobState.REJECTED, JobState.FAILED}),
    # Passed: back on the queue (a ticket's job) or run in place (an operator's); failed or expired: ended.
    JobState.AWAITING_VERIFICATION: frozenset({JobState.QUEUED, JobState.RUNNING, JobState.VERIFICATION_FAILED,
                                               JobState.FAILED}),
    JobState.VERIFICATION_FAILED: frozenset(),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.REJECTED: frozenset(),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_id_for_key(idempotency_key: str, secret: bytes) -> str:
    """Keyed jobs get an id derived from the idempotency key, so "create" is one conditional insert and a second
    delivery of a ticket lands on the same row; the HMAC under a secret (``JOB_ID_KEY``) keeps the id from being
    computed by anyone who knows the ticket (a uuid5 of a namespace in the source could be)."""
    if not secret:
        raise ValueError("a job id key is required")
    digest = hmac.new(secret, idempotency_key.encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def ticket_idempotency_key(table: str, sys_id: str, action: str) -> str:
    return f"{table.lower()}:{sys_id.lower()}:{action.lower()}"


@dataclass(frozen=True, slots=True)
class Target:
    id: str = ""
    upn: str = ""

    def identifiers(self) -> list[str]:
        """Lower-cased identifiers the job can be found by (object id and UPN, when known)."""
        return sorted({v.lower() for v in (self.id, self.upn) if v})


@dataclass(frozen=True, slots=True)
class Source:
    """Where the request came from: a ticket, a queue message, an operator or a timer."""

    kind: str
    table: str = ""
    sys_id: str = ""
    number: str = ""
    message_id: str = ""
    operator: str = ""

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in (
            ("kind", self.kind), ("table", self.table), ("sys_id", self.sys_id), ("number", self.number),
            ("message_id", self.message_id), ("operator", self.operator),
        ) if v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        return cls(**{k: str(data.get(k, "")) for k in (
            "kind", "table", "sys_id", "number", "message_id", "operator")})


@dataclass(frozen=True, slots=True)
class Step:
    """One event in a job's history. ``data`` holds structured facts (method type and id, TAP expiry),
    never a secret."""

    at: datetime
    action: str
    outcome: str
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at.isoformat(), "action": self.action, "outcome": self.outcome,
                               "detail": self.detail}
        if self.data:
            out["data"] = dict(self.data)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(at=datetime.fromisoformat(data["at"]), action=data["action"], outcome=data["outcome"],
                   detail=data.get("detail", ""), data=dict(data.get("data", {})))


@dataclass(frozen=True, slots=True)
class JobFailure:
    code: str
    message: str


@dataclass(slots=True)
class Job:
    job_id: str
    kind: JobKind
    target: Target
    source: Source
    requested_by: str = ""
    idempotency_key: str = ""
    state: JobState = JobState.RECEIVED
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    attempts: int = 0
    steps: list[Step] = field(default_factory=list)
    error: JobFailure | None = None
    verification: Verification | None = None

    @classmethod
    def new(cls, kind: JobKind, target: Target, source: Source, *, requested_by: str = "",
            idempotency_key: str = "", job_id: str = "", now: datetime | None = None) -> Job:
        """``job_id`` is the store's id for the idempotency key (``JobStore.job_id_for``); a random one else."""
        at = now or utcnow()
        if idempotency_key and not job_id:
            raise ValueError("a keyed job takes its id from the store (JobStore.job_id_for)")
        job_id = job_id or str(uuid.uuid4())
        job = cls(job_id=job_id, kind=kind, target=target, source=source, requested_by=requested_by,
                  idempotency_key=idempotency_key, created_at=at, updated_at=at)
        job.record("received", "ok", f"{kind.value} requested", now=at)
        return job

    def record(self, action: str, outcome: str, detail: str = "", *, data: dict[str, Any] | None = None,
               now: datetime | None = None) -> Step:
        at = now or utcnow()
        step = Step(at=at, action=action, outcome=outcome, detail=detail[:MAX_DETAIL_CHARS], data=data or {})
        self.steps.append(step)
        self.updated_at = at
        return step

    def transition(self, to: JobState, reason: str = "", *, now: datetime | None = None) -> None:
        if to not in _ALLOWED[self.state]:
            raise InvalidTransitionError(f"job {self.job_id}: {self.state.value} -> {to.value} is not allowed")
        if to is JobState.RUNNING:
            self.attempts += 1
        previous = self.state
        self.state = to
        self.record("state", to.value, reason or f"{previous.value} -> {to.value}", now=now)

    def fail(self, code: str, message: str, *, now: datetime | None = None) -> None:
        self.error = JobFailure(code=code, message=message[:MAX_DETAIL_CHARS])
        self.transition(JobState.FAILED, f"{code}: {message}", now=now)

    def reject(self, code: str, message: str, *, now: datetime | None = None) -> None:
        self.error = JobFailure(code=code, message=message[:MAX_DETAIL_CHARS])
        self.transition(JobState.REJECTED, f"{code}: {message}", now=now)

    def retry(self, by: str, reason: str = "", *, now: datetime | None = None) -> None:
        """The way out of a failed job, a parked one, or a rejection a re-run may lift: explicit, attributed.
        A succeeded job is final: running it again would hand out a second TAP; a new reset needs a new request."""
        if not by:
            raise InvalidTransitionError("a retry must name who asked for it")
        retryable = self.state in (JobState.FAILED, JobState.AWAITING_APPROVAL, JobState.VERIFICATION_FAILED) or (
            self.state is JobState.REJECTED and self.error is not None and self.error.code in RETRYABLE_REJECTIONS)
        if not retryable:
            why = f" ({self.error.code})" if self.state is JobState.REJECTED and self.error else ""
            raise InvalidTransitionError(f"job {self.job_id} is {self.state.value}{why}; only a failed or parked "
                                         "job, a failed verification, or a rejection a re-run may lift, can be "
                                         "retried")
        previous = self.state
        self.state = JobState.QUEUED
        self.error = None
        self.record("retry", "queued", f"{previous.value} -> queued by {by}" + (f": {reason}" if reason else ""),
                    data={"by": by}, now=now)

    def record_resends(self, count: int, *, now: datetime | None = None) -> None:
        """Say on the job how many throttled Graph requests were sent again (the timers' parallel batches)."""
        if count:
            self.record("graph_throttling", "retried", f"{count} throttled requests were sent again as Retry-After "
                        "asked", data={"resent": count}, now=now)

    @property
    def methods_removed(self) -> list[dict[str, str]]:
        return [{"type": s.data["type"], "id": s.data["id"]} for s in self.steps
                if s.action == "delete_method" and s.outcome == "removed"]
