"""Who may be reset: break-glass accounts never; guests and disabled users per settings; privileged users only
with the ticket's extra approval."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.graph.port import UserSnapshot
from shared.itsm.port import Ticket
from shared.settings import Settings


class Decision(StrEnum):
    PROCEED = "proceed"
    REJECT = "reject"
    PARK = "park"  # awaiting approval


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    code: str = ""
    reason: str = ""


PROCEED = Verdict(Decision.PROCEED)
UNDECIDED = "guardrail_undecided"  # a guardrail that cannot be decided refuses


def privileged_roles(snapshot: UserSnapshot, settings: Settings) -> list[str]:
    configured = settings.privileged_role_set
    held = snapshot.memberships
    if "*" in configured:
        return sorted(held.role_names) or sorted(held.role_template_ids)
    names = [r for r in held.role_names if r.lower() in configured]
    ids = [r for r in held.role_template_ids if r.lower() in configured]
    return sorted(set(names) | set(ids))


def ticket_approves_privileged(ticket: Ticket, settings: Settings) -> bool:
    return ticket.fields.get(settings.privileged_approval_field, "").strip().lower() == "approved"


def guard_groups(settings: Settings) -> list[str]:
    """The groups whose membership the guardrails decide: every snapshot that feeds check_target asks for these."""
    return [settings.break_glass_group.strip()] if settings.break_glass_group.strip() else []


def check_target(snapshot: UserSnapshot, settings: Settings, *, privileged_approved: bool,
                 approval_hint: str = "") -> Verdict:
    """``privileged_approved``: the second approval a privileged target needs is there (the ticket's field, or an
    operator's ``--approved-by``); ``approval_hint`` says where it is missing."""
    user = snapshot.user
    if user.upn.lower() in settings.break_glass_upn_set or user.id.lower() in settings.break_glass_upn_set:
        return Verdict(Decision.REJECT, "break_glass", f"{user.upn} is a break-glass account (BREAK_GLASS_UPNS)")
    held = snapshot.memberships
    group = settings.break_glass_group.strip()
    if group and not held.knows_group(group):
        # Fail closed: a membership nobody read is not "not a member".
        return Verdict(Decision.REJECT, UNDECIDED, f"membership of {user.upn} in BREAK_GLASS_GROUP was not read")
    if group and held.in_group(group):
        return Verdict(Decision.REJECT, "break_glass", f"{user.upn} is in the break-glass group (BREAK_GLASS_GROUP)")
    if not held.roles_complete:
        return Verdict(Decision.REJECT, UNDECIDED, f"the directory roles of {user.upn} were not read to the end")
    if not user.enabled and not settings.allow_disabled_reset:
        return Verdict(Decision.REJECT, "disabled_user", f"{user.upn} is disabled (ALLOW_DISABLED_RESET is off)")
    if user.user_type.lower() == "guest" and not settings.allow_guest_reset:
        return Verdict(Decision.REJECT, "guest_user", f"{user.upn} is a guest (ALLOW_GUEST_RESET is off)")
    roles = privileged_roles(snapshot, settings)
    if roles and not privileged_approved:
        hint = approval_hint or f"the ticket's {settings.privileged_approval_field} must be 'approved'"
        return Verdict(Decision.PARK, "privileged_needs_approval", f"{user.upn} holds {', '.join(roles)}; {hint}")
    return PROCEED
