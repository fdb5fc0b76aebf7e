"""What mfaops writes on the ticket. Types and counts only: never a TAP value, a token or a secret."""

from __future__ import annotations

from collections import Counter

from shared.jobs.model import Job
from shared.jobs.view import job_view


def work_note(job: Job) -> str:
    view = job_view(job)
    who = job.target.upn or job.target.id
    head = f"mfaops job {job.job_id} ({job.state.value})"
    if view["state"] == "succeeded":
        counts = Counter(m["type"] for m in view["methods_removed"])
        removed = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "none were registered"
        lines = [f"{head}: MFA reset for {who}.", f"Methods removed: {removed}."]
        lines.append("Sign-in sessions revoked." if view["sessions_revoked"] else "Sign-in sessions not revoked.")
        tap = next((s for s in reversed(job.steps) if s.action == "issue_tap" and s.outcome == "issued"), None)
        if tap is not None:
            lines.append(f"A Temporary Access Pass was issued, valid until {tap.data.get('expires', '?')}; the "
                         "service desk retrieves it once from the mfaops job and gives it to the user in person.")
        return "\n".join(lines)
    error = view["error"] or {}
    if view["state"] == "awaiting_approval":
        return f"{head}: MFA reset for {who} is waiting for approval: {error.get('message') or _last_detail(job)}"
    return f"{head}: MFA was NOT reset for {who}: {error.get('message') or _last_detail(job)}"


def _last_detail(job: Job) -> str:
    return job.steps[-1].detail if job.steps else ""
