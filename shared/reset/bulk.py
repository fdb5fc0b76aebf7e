"""A bulk reset from a CSV file (after a phishing campaign): parsed with line numbers, run through the same
guarded operator reset as one user, resumable by batch id so an interrupted run never resets anyone twice."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.graph.lanes import background_flow
from shared.jobs.model import Job, JobState
from shared.reset.request import check_user
from shared.reset.service import OperatorReset, ResetService

MAX_ROWS = 100_000
MAX_REASON_CHARS = 500
MAX_CSV_BYTES = 16 * 1024 * 1024  # 100,000 rows of a UPN and a reason fit several times over
MAX_FIELD_CHARS = 1024  # a UPN is at most 113 characters, a reason 500: a longer field is not one of ours


@dataclass(frozen=True, slots=True)
class BulkRow:
    line: int
    user: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ItemResult:
    line: int
    user: str
    job_id: str
    state: str
    code: str = ""
    skipped: bool = False  # done by an earlier run of the same batch


@dataclass
class BulkSummary:
    batch_id: str
    total: int = 0
    succeeded: int = 0
    skipped: int = 0
    awaiting_verification: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    invalid: list[BadLine] = field(default_factory=list)

    def add(self, item: ItemResult) -> None:
        self.total += 1
        if item.skipped:
            self.skipped += 1
        if item.state == JobState.SUCCEEDED.value:
            self.succeeded += 1
        elif item.state == JobState.AWAITING_VERIFICATION.value:
            self.awaiting_verification += 1
        elif item.state in (JobState.REJECTED.value, JobState.AWAITING_APPROVAL.value,
                            JobState.VERIFICATION_FAILED.value):
            self.refused[item.code or item.state] += 1
        else:
            self.failed[item.code or item.state] += 1

    def to_dict(self) -> dict[str, object]:
        return {"batch_id": self.batch_id, "total": self.total, "succeeded": self.succeeded,
                "skipped": self.skipped, "awaiting_verification": self.awaiting_verification,
                "refused": dict(self.refused), "failed": dict(self.failed),
                "invalid_lines": [{"line": b.line, "error": b.message} for b in self.invalid]}


def parse_users_csv(text: str) -> tuple[list[BulkRow], list[BadLine]]:
    """Rows and bad lines. A header naming a ``user`` column (and optionally ``reason``) is required; ``#``
    comments and blank lines are skipped; a bad line is reported with its number and the rest goes on."""
    rows: list[BulkRow] = []
    bad: list[BadLine] = []
    lines = [(n, raw) for n, raw in enumerate(text.splitlines(), start=1)
             if raw.strip() and not raw.lstrip().startswith("#")]
    if not lines:
        return [], [BadLine(0, "the file has no header and no rows")]
    if len(text) > MAX_CSV_BYTES:
        return [], [BadLine(0, f"the file is over {MAX_CSV_BYTES // (1024 * 1024)} MiB")]
    header_line, header_raw = lines[0]
    try:
        header = [h.strip().lower() for h in next(csv.reader([header_raw]))]
    except csv.Error as exc:
        return [], [BadLine(header_line, f"not CSV: {exc}")]
    if "user" not in header:
        return [], [BadLine(header_line, "the header must name a 'user' column (and optionally 'reason')")]
    user_col, reason_col = header.index("user"), header.index("reason") if "reason" in header else -1
    seen: dict[str, int] = {}
    for number, raw in lines[1:]:
        try:
            cells = next(csv.reader(io.StringIO(raw)))
        except csv.Error as exc:
            bad.append(BadLine(number, f"not CSV: {exc}"))
            continue
        if any(len(c) > MAX_FIELD_CHARS for c in cells):
            bad.append(BadLine(number, f"a field of more than {MAX_FIELD_CHARS} characters"))
            continue
        if len(cells) != len(header):
            bad.append(BadLine(number, f"{len(cells)} fields where the header has {len(header)}"))
            continue
        user = cells[user_col]
        try:
            check_user(user)
        except ValueError:
            bad.append(BadLine(number, f"user: {user[:80]!r} is not a user principal name or an object id"))
            continue
        reason = cells[reason_col] if reason_col >= 0 else ""
        if len(reason) > MAX_REASON_CHARS or not reason.isprintable():
            bad.append(BadLine(number, f"reason: printable text of at most {MAX_REASON_CHARS} characters"))
            continue
        if user.lower() in seen:
            bad.append(BadLine(number, f"user {user} is already on line {seen[user.lower()]}"))
            continue
        seen[user.lower()] = number
        rows.append(BulkRow(number, user, reason))
        if len(rows) > MAX_ROWS:
            return [], [BadLine(number, f"more than {MAX_ROWS} rows")]
    return rows, bad


async def pending_rows(service: ResetService, rows: list[BulkRow], batch_id: str, *, resumed: bool = True
                       ) -> list[BulkRow]:
    """The rows an earlier run of this batch has not finished. A new batch (no --batch-id given) has no earlier
    run: nothing is read. A resumed one is read 16 rows at a time, not one after another."""
    if not resumed:
        return list(rows)
    done = {JobState.SUCCEEDED, JobState.REJECTED, JobState.AWAITING_APPROVAL, JobState.AWAITING_VERIFICATION,
            JobState.VERIFICATION_FAILED}
    gate = asyncio.Semaphore(16)

    async def finished(row: BulkRow) -> bool:
        async with gate:
            job = await service.jobs.find_by_key(f"operator:{batch_id}:{row.user.lower()}")
        return job is not None and job.state in done

    flags = await asyncio.gather(*(finished(r) for r in rows))
    return [row for row, flag in zip(rows, flags, strict=True) if not flag]


@background_flow
async def run_bulk(service: ResetService, rows: list[BulkRow], *, by: str, reason: str, batch_id: str,
                   concurrency: int, revoke: bool = True, issue_tap: bool = True, approved_by: str = "",
                   over_limit: bool = False, by_asserted: bool = True, verify_policy: str = "",
                   on_item: Callable[[ItemResult], Awaitable[None] | None] | None = None) -> BulkSummary:
    """Reset every row, ``concurrency`` at a time (Graph's budget, shared by the container, paces them)."""
    summary = BulkSummary(batch_id=batch_id)
    gate = asyncio.Semaphore(concurrency)

    async def one(row: BulkRow) -> None:
        async with gate:
            before = await service.jobs.find_by_key(f"operator:{batch_id}:{row.user.lower()}")
            already = before is not None and before.state is JobState.SUCCEEDED
            job: Job = before if already and before is not None else await service.reset_by_operator(OperatorReset(
                user=row.user, by=by, reason=row.reason or reason, revoke=revoke, issue_tap=issue_tap,
                approved_by=approved_by, over_limit=over_limit, batch_id=batch_id, by_asserted=by_asserted,
                verify_policy=verify_policy))
            item = ItemResult(line=row.line, user=row.user, job_id=job.job_id, state=job.state.value,
                              code=job.error.code if job.error else _park_code(job), skipped=already)
            summary.add(item)
            if on_item is not None:
                result = on_item(item)
                if result is not None:
                    await result

    tasks = [asyncio.ensure_future(one(row)) for row in rows]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # Interrupted (Ctrl-C) or failed: every item stops and is awaited here, before the caller closes the
        # clients they use; none is left to fail later against a closed client, none with an unread exception.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return summary


def _park_code(job: Job) -> str:
    if job.state is JobState.VERIFICATION_FAILED:
        return "verification_failed"
    if job.state is not JobState.AWAITING_APPROVAL:
        return ""
    return next((s.outcome for s in reversed(job.steps) if s.action == "guardrail"), "awaiting_approval")
