"""Job store on Azure Table Storage (azure-data-tables, async).

Table design:
- ``JOBS_TABLE``: one entity per job, PartitionKey = job id, RowKey = "job". A partition per job gives
  point reads and writes with no hot partition; mfaops never needs a transaction across jobs. Keyed jobs
  (tickets) have an id derived from the idempotency key (an HMAC under ``JOB_ID_KEY``), so the conditional
  insert that creates the job is also the claim on the key: no second table to keep consistent.
- ``JOBS_BY_USER_TABLE``: an index, PartitionKey = target identifier (object id or UPN, lower-cased and
  escaped), RowKey = inverted creation time + job id, so a partition scan lists a user's jobs newest first.
- Queries by state scan the jobs table with a filter: state lists are operator queries, rare and bounded.

Steps are stored as one JSON property on the job entity, so a step and a state change are saved together
under one ETag; a concurrent writer gets a conflict and retries on the fresh entity, never losing a step.
A worker remembers the ETag of what it last wrote, so its next update of the same job skips the read.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.errors import ConcurrencyError, InvalidTransitionError, JobNotFoundError
from shared.jobs.model import Job, JobFailure, JobKind, JobState, Source, Step, Target
from shared.jobs.store import JobChange, JobStore
from shared.tablekeys import table_key
from shared.verify.model import Verification

_ROW = "job"
_MAX_EPOCH_MS = 10**13 - 1
# A string property holds 64 KiB (32K UTF-16 characters); leave room for the rest of the entity.
_MAX_STEPS_JSON = 30_000
_KNOWN_JOBS = 512


class TableJobStore(JobStore):
    def __init__(self, service: TableServiceClient, jobs_table: str, by_user_table: str, *,
                 update_retries: int = 8, job_id_key: bytes) -> None:
        self._service = service
        self.job_id_key = job_id_key
        self._jobs_name = jobs_table
        self._by_user_name = by_user_table
        self._retries = update_retries
        self._ready: asyncio.Lock | None = None
        self._created = False
        # The last version of each job this worker wrote, with its ETag (a bounded LRU).
        self._known: OrderedDict[str, tuple[Job, str]] = OrderedDict()

    async def ensure_tables(self) -> None:
        """Create the tables once per worker (Bicep creates them in Azure; Azurite starts empty)."""
        if self._created:
            return
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if not self._created:
                await self._service.create_table_if_not_exists(self._jobs_name)
                await self._service.create_table_if_not_exists(self._by_user_name)
                self._created = True

    def _jobs(self) -> TableClient:
        return self._service.get_table_client(self._jobs_name)

    def _by_user(self) -> TableClient:
        return self._service.get_table_client(self._by_user_name)

    async def create(self, job: Job) -> tuple[Job, bool]:
        await self.ensure_tables()
        try:
            written = await self._jobs().create_entity(_to_entity(job))
        except ResourceExistsError:
            return await self.get(job.job_id), False
        self._remember(job, written.get("etag"))
        await self._index(job)
        return job, True

    async def get(self, job_id: str) -> Job:
        await self.ensure_tables()
        entity = await self._get_entity(job_id)
        return _from_entity(entity)

    async def _get_entity(self, job_id: str) -> Any:
        try:
            return await self._jobs().get_entity(table_key(job_id), _ROW)
        except ResourceNotFoundError:
            raise JobNotFoundError(f"no job {job_id}") from None

    async def update(self, job_id: str, change: JobChange) -> Job:
        await self.ensure_tables()
        jobs = self._jobs()
        for attempt in range(self._retries):
            cached = self._known.get(job_id) if attempt == 0 else None
            if cached is not None:
                # The version this worker last wrote: no read before the write. A stale copy costs one 412.
                job, etag = copy.deepcopy(cached[0]), cached[1]
            else:
                entity = await self._get_entity(job_id)
                job, etag = _from_entity(entity), entity.metadata["etag"]
            try:
                change(job)
            except InvalidTransitionError:
                if cached is None:
                    raise
                self._known.pop(job_id, None)  # judged on a stale copy: judge again on the stored job
                continue
            try:
                written = await jobs.update_entity(_to_entity(job), mode=UpdateMode.REPLACE, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified)
            except ResourceModifiedError:
                self._known.pop(job_id, None)
                # Jittered back-off so two writers that collided do not collide again in lock-step.
                await asyncio.sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))
                continue
            self._remember(job, written.get("etag"))
            return copy.deepcopy(job)
        raise ConcurrencyError(f"job {job_id}: update kept conflicting after {self._retries} attempts")

    def _remember(self, job: Job, etag: str | None) -> None:
        if not etag:
            return
        self._known[job.job_id] = (copy.deepcopy(job), etag)
        self._known.move_to_end(job.job_id)
        while len(self._known) > _KNOWN_JOBS:
            self._known.popitem(last=False)

    async def add_target_identifiers(self, job: Job) -> None:
        await self.ensure_tables()
        await self._index(job)

    async def claim(self, name: str, holder: str, *, ttl_s: float) -> str:
        # A lock is one entity: created if absent (the insert is the claim), taken over with its ETag once it
        # expired (a crashed holder), re-entrant for the holder that has it (a redelivered message).
        await self.ensure_tables()
        table = self._jobs()
        now = datetime.now(UTC)
        entity = {"PartitionKey": "lock", "RowKey": table_key(name), "Holder": holder,
                  "Until": now + timedelta(seconds=ttl_s)}
        try:
            await table.create_entity(entity)
            return holder
        except ResourceExistsError:
            pass
        try:
            current = await table.get_entity("lock", table_key(name))
        except ResourceNotFoundError:
            return await self.claim(name, holder, ttl_s=ttl_s)
        until = current["Until"] if current["Until"].tzinfo else current["Until"].replace(tzinfo=UTC)
        if current["Holder"] != holder and until > now:
            return str(current["Holder"])
        try:
            await table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            again = await table.get_entity("lock", table_key(name))
            return str(again["Holder"])
        return holder

    async def release(self, name: str, holder: str) -> None:
        table = self._jobs()
        try:
            current = await table.get_entity("lock", table_key(name))
            if current["Holder"] == holder:
                await table.delete_entity("lock", table_key(name), etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceNotFoundError, ResourceModifiedError):
            pass

    async def _index(self, job: Job) -> None:
        inverted = _MAX_EPOCH_MS - int(job.created_at.timestamp() * 1000)
        row = f"{inverted:013d}_{job.job_id}"
        index = self._by_user()
        for ident in job.target.identifiers():
            await index.upsert_entity({"PartitionKey": table_key(ident), "RowKey": row, "JobId": job.job_id})

    async def link_verification(self, verification_id: str, job_id: str) -> None:
        await self.ensure_tables()
        await self._jobs().upsert_entity({"PartitionKey": "verification", "RowKey": table_key(verification_id),
                                          "JobId": job_id})

    async def job_for_verification(self, verification_id: str) -> Job:
        await self.ensure_tables()
        try:
            entity = await self._jobs().get_entity("verification", table_key(verification_id))
        except ResourceNotFoundError:
            raise JobNotFoundError(f"no verification {verification_id}") from None
        return await self.get(str(entity["JobId"]))

    async def list_for_user(self, user: str, limit: int = 50) -> list[Job]:
        await self.ensure_tables()
        ids: list[str] = []
        entities = self._by_user().query_entities(
            "PartitionKey eq @pk", parameters={"pk": table_key(user.lower())}, select=["JobId"])
        async for entity in entities:
            ids.append(entity["JobId"])
            if len(ids) >= limit:
                break
        return list(await asyncio.gather(*(self.get(i) for i in ids)))

    async def admit(self, job_id: str, at: datetime) -> None:
        # Admissions live in the jobs table, one partition per hour, so the rolling-hour count reads two
        # small partitions. Two workers admitting at the same instant may both pass the limit by one:
        # the limit is a brake on runaway automation, not an exact quota.
        await self.ensure_tables()
        await self._jobs().upsert_entity({"PartitionKey": _hour(at), "RowKey": table_key(job_id), "At": at})

    async def admissions_since(self, since: datetime) -> int:
        await self.ensure_tables()
        count = 0
        hours = {_hour(since), _hour(since + timedelta(hours=1)), _hour(since + timedelta(hours=2))}
        for partition in sorted(hours):
            entities = self._jobs().query_entities("PartitionKey eq @pk and At ge @since",
                                                   parameters={"pk": partition, "since": since}, select=["At"])
            async for _ in entities:
                count += 1
        return count

    async def list_by_state(self, state: JobState, limit: int = 100) -> list[Job]:
        return await self._list_where("State", state.value, limit)

    async def list_by_kind(self, kind: JobKind, limit: int = 100) -> list[Job]:
        return await self._list_where("Kind", kind.value, limit)

    async def _list_where(self, column: str, value: str, limit: int) -> list[Job]:
        """Job rows whose ``column`` is ``value``, newest first (``column`` is ours, never input)."""
        await self.ensure_tables()
        found: list[Job] = []
        entities = self._jobs().query_entities(
            f"RowKey eq @row and {column} eq @value", parameters={"row": _ROW, "value": value})
        async for entity in entities:
            found.append(_from_entity(entity))
        found.sort(key=lambda j: j.created_at, reverse=True)
        return found[:limit]


def _hour(at: datetime) -> str:
    return "admissions-" + at.astimezone(UTC).strftime("%Y%m%d%H")


def _steps_json(steps: list[Step]) -> str:
    encoded = json.dumps([s.to_dict() for s in steps], separators=(",", ":"))
    if len(encoded) <= _MAX_STEPS_JSON:
        return encoded
    # Keep the first step (what was asked) and the newest ones; say how many were dropped.
    kept = list(steps)
    dropped = 0
    while len(kept) > 2 and len(json.dumps([s.to_dict() for s in kept], separators=(",", ":"))) > _MAX_STEPS_JSON:
        kept.pop(1)
        dropped += 1
    marker = Step(at=kept[0].at, action="history", outcome="truncated", detail=f"{dropped} older steps dropped")
    return json.dumps([s.to_dict() for s in [kept[0], marker, *kept[1:]]], separators=(",", ":"))


def _to_entity(job: Job) -> dict[str, Any]:
    return {
        "PartitionKey": table_key(job.job_id),
        "RowKey": _ROW,
        "Kind": job.kind.value,
        "IdempotencyKey": job.idempotency_key,
        "TargetId": job.target.id,
        "TargetUpn": job.target.upn,
        "Source": json.dumps(job.source.to_dict()),
        "RequestedBy": job.requested_by,
        "State": job.state.value,
        "CreatedAt": job.created_at,
        "UpdatedAt": job.updated_at,
        "Attempts": job.attempts,
        "Steps": _steps_json(job.steps),
        "Error": json.dumps({"code": job.error.code, "message": job.error.message}) if job.error else "",
        "Verification": json.dumps(job.verification.to_dict(), separators=(",", ":")) if job.verification else "",
    }


def _from_entity(entity: Any) -> Job:
    error = json.loads(entity["Error"]) if entity.get("Error") else None
    return Job(
        job_id=entity["PartitionKey"],
        kind=JobKind(entity["Kind"]),
        target=Target(id=entity.get("TargetId", ""), upn=entity.get("TargetUpn", "")),
        source=Source.from_dict(json.loads(entity["Source"])),
        requested_by=entity.get("RequestedBy", ""),
        idempotency_key=entity.get("IdempotencyKey", ""),
        state=JobState(entity["State"]),
        created_at=_aware(entity["CreatedAt"]),
        updated_at=_aware(entity["UpdatedAt"]),
        attempts=int(entity.get("Attempts", 0)),
        steps=[Step.from_dict(s) for s in json.loads(entity["Steps"])],
        error=JobFailure(**error) if error else None,
        verification=Verification.from_dict(json.loads(entity["Verification"]))
        if entity.get("Verification") else None,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
