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
            delivery = job.verification.tap_delivery if job.verification is not None else "operator"
            to = {"manager": "the approving manager sees it once on the approval page and gives it to the user "
                             "in person",
                  "verified_user": "the user receives it once on their own verification page"}.get(
                delivery, "the service desk retrieves it once from the mfaops job and gives it to the user in person")
            lines.append(f"A Temporary Access Pass was issued, valid until {tap.data.get('expires', '?')}; {to}.")
        proofs = [s for s in job.steps if s.action == "proof"]
        if proofs:
            lines.append("Identity proven by: " + "; ".join(f"{s.outcome.replace('_', ' ')} ({s.detail})"
                                                             for s in proofs) + ".")
        return "\n".join(lines)
    error = view["error"] or {}
    if view["state"] == "awaiting_approval":
        return f"{head}: MFA reset for {who} is waiting for approval: {error.get('message') or _last_detail(job)}"
    why = error.get("message") or _last_detail(job)
    removed_methods = view["methods_removed"]
    if not removed_methods:
        return f"{head}: MFA was NOT reset for {who}: nothing was removed: {why}"
    # Some methods went before the job stopped: say exactly what, so the desk does not act on "not reset".
    counts = Counter(m["type"] for m in removed_methods)
    removed = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    lines = [f"{head}: the MFA reset of {who} did NOT finish: {why}.",
             f"Methods removed before it stopped: {removed}.",
             "Sign-in sessions revoked." if view["sessions_revoked"] else "Sign-in sessions not revoked."]
    tap = next((s for s in reversed(job.steps) if s.action == "issue_tap" and s.outcome == "issued"), None)
    lines.append(f"A Temporary Access Pass was issued, valid until {tap.data.get('expires', '?')}." if tap else
                 "No Temporary Access Pass was issued.")
    if any(s.action == "stranded" for s in job.steps):
        lines.append("The user has NO sign-in method left. Verify the caller again, then retry this job "
                     f"(mfaops jobs retry {job.job_id}) to issue a Temporary Access Pass, or issue one in the "
                     "Microsoft Entra admin center (user > Authentication methods > Add authentication method).")
    return "\n".join(lines)


def _last_detail(job: Job) -> str:
    return job.steps[-1].detail if job.steps else ""
