"""The job store port. Adapters: Table Storage (``table_store``); tests add an in-memory fake."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime

from shared.errors import JobNotFoundError
from shared.jobs.model import Job, JobKind, JobState, job_id_for_key

JobChange = Callable[[Job], object]


class JobStore(abc.ABC):
    #: The secret keyed job ids are derived under (``JOB_ID_KEY``); adapters set it in their constructor.
    job_id_key: bytes = b""

    def job_id_for(self, idempotency_key: str) -> str:
        """The id of the job for this idempotency key: stable, but not computable without ``JOB_ID_KEY``."""
        return job_id_for_key(idempotency_key, self.job_id_key)

    @abc.abstractmethod
    async def create(self, job: Job) -> tuple[Job, bool]:
        """Insert ``job`` unless its id exists; return (the stored job, whether this call created it)."""

    @abc.abstractmethod
    async def get(self, job_id: str) -> Job:
        """The job, or JobNotFoundError."""

    @abc.abstractmethod
    async def update(self, job_id: str, change: JobChange) -> Job:
        """Apply ``change`` to the current job and save it, retrying on a concurrent update.

        ``change`` may run more than once (once per conflict), each time on a fresh copy: it must be a pure
        function of the job it is given. Errors it raises (an invalid transition) propagate at once."""

    @abc.abstractmethod
    async def list_for_user(self, user: str, limit: int = 50) -> list[Job]:
        """Jobs whose target has this object id or UPN, newest first."""

    @abc.abstractmethod
    async def list_by_state(self, state: JobState, limit: int = 100) -> list[Job]:
        """Jobs in ``state``, newest first."""

    @abc.abstractmethod
    async def list_by_kind(self, kind: JobKind, limit: int = 100) -> list[Job]:
        """Jobs of ``kind`` (reset, tap_sweep, cleanup, containment...), newest first."""

    @abc.abstractmethod
    async def admit(self, job_id: str, at: datetime) -> None:
        """Count a reset against the blast-radius limit (once per job)."""

    @abc.abstractmethod
    async def admissions_since(self, since: datetime) -> int:
        """How many resets were admitted at or after ``since``."""

    @abc.abstractmethod
    async def link_verification(self, verification_id: str, job_id: str) -> None:
        """Index a job under the id of a verification it opened (the manager's link carries only that id)."""

    @abc.abstractmethod
    async def job_for_verification(self, verification_id: str) -> Job:
        """The job that opened this verification, or JobNotFoundError."""

    async def find_by_key(self, idempotency_key: str) -> Job | None:
        try:
            return await self.get(self.job_id_for(idempotency_key))
        except JobNotFoundError:
            return None

    async def claim(self, name: str, holder: str, *, ttl_s: float) -> str:
        """Claim a named lock for ``holder`` until ``ttl_s`` from now; the holder that has it (``holder`` when
        this call got it, or already had it). Stores without locks grant every claim."""
        return holder

    async def release(self, name: str, holder: str) -> None:  # noqa: B027 - optional hook
        """Give the lock back if ``holder`` has it."""

    async def add_target_identifiers(self, job: Job) -> None:  # noqa: B027 - optional hook
        """Index the job under identifiers of its target learnt after creation (the object id)."""
