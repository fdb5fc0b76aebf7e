"""The job as the API shows it (``GET /api/jobs/{id}``): the shape ServiceNow and operators poll."""

from __future__ import annotations

from typing import Any

from shared.jobs.model import Job


def job_view(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "kind": job.kind.value,
        "state": job.state.value,
        "target": {"id": job.target.id, "upn": job.target.upn},
        "source": job.source.to_dict(),
        "requested_by": job.requested_by,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "attempts": job.attempts,
        "steps": [{"at": s.at.isoformat(), "action": s.action, "outcome": s.outcome, "detail": s.detail}
                  for s in job.steps],
        "methods_removed": job.methods_removed,
        "sessions_revoked": any(s.action == "revoke_sessions" and s.outcome == "revoked" for s in job.steps),
        "tap_issued": any(s.action == "issue_tap" and s.outcome == "issued" for s in job.steps),
        "verification": job.verification.view() if job.verification else None,
        "error": {"code": job.error.code, "message": job.error.message} if job.error else None,
        # The last delivery's trace (Application Insights: search the operation id) when telemetry is on.
        "trace_id": next((str(s.data.get("trace_id")) for s in reversed(job.steps) if s.action == "trace"), ""),
    }
