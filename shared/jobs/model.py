"""Job domain model: states, checked transitions, ordered step events. Pure Python, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.errors import InvalidTransitionError

# Job ids for keyed jobs are derived from the idempotency key, so "create" is a single conditional insert
# and a second delivery of the same ticket lands on the same row instead of racing a separate index.
_JOB_ID_NAMESPACE = uuid.UUID("6f1d4c1e-6a55-4f55-9d7e-1a8f0b6c2d10")

MAX_DETAIL_CHARS = 1000


class JobKind(StrEnum):
    RESET = "reset"
    TAP_SWEEP = "tap_sweep"
    CLEANUP = "cleanup"
    CONTAINMENT = "containment"


class JobState(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED})

# running -> running is a redelivered message resuming the work; it counts as a new attempt.
_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.RECEIVED: frozenset({JobState.QUEUED, JobState.RUNNING, JobState.REJECTED, JobState.FAILED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.REJECTED, JobState.FAILED}),
    JobState.RUNNING: frozenset(
        {JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.REJECTED, JobState.AWAITING_APPROVAL}
    ),
    JobState.AWAITING_APPROVAL: frozenset({JobState.QUEUED, JobState.REJECTED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.REJECTED: frozenset(),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_id_for_key(idempotency_key: str) -> str:
    return str(uuid.uuid5(_JOB_ID_NAMESPACE, idempotency_key))


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

    @classmethod
    def new(cls, kind: JobKind, target: Target, source: Source, *, requested_by: str = "",
            idempotency_key: str = "", now: datetime | None = None) -> Job:
        at = now or utcnow()
        job_id = job_id_for_key(idempotency_key) if idempotency_key else str(uuid.uuid4())
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
        """The one way out of a final state (or out of awaiting approval): an explicit, attributed retry."""
        if not by:
            raise InvalidTransitionError("a retry must name who asked for it")
        if not (self.state.is_final or self.state is JobState.AWAITING_APPROVAL):
            raise InvalidTransitionError(f"job {self.job_id} is {self.state.value}; only a final or parked job "
                                         "can be retried")
        previous = self.state
        self.state = JobState.QUEUED
        self.error = None
        self.record("retry", "queued", f"{previous.value} -> queued by {by}" + (f": {reason}" if reason else ""),
                    data={"by": by}, now=now)

    @property
    def methods_removed(self) -> list[dict[str, str]]:
        return [{"type": s.data["type"], "id": s.data["id"]} for s in self.steps
                if s.action == "delete_method" and s.outcome == "removed"]
