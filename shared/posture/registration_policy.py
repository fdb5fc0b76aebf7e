"""The Conditional Access policy mfaops creates on request (never automatically): all users, every break-glass
account excluded, the user action "Register security information", MFA (or an authentication strength)
required outside the trusted named locations. Microsoft's template "Securing security info registration"."""

from __future__ import annotations

from typing import Any

from shared.posture.data import TenantPosture

REPORT_ONLY, ENABLED = "enabledForReportingButNotEnforced", "enabled"


def template(name: str, *, state: str, exclude_users: list[str], exclude_groups: list[str],
             trusted_locations: list[str], strength: str = "") -> dict[str, Any]:
    grant: dict[str, Any] = {"operator": "OR", "builtInControls": [] if strength else ["mfa"]}
    if strength:
        grant["authenticationStrength"] = {"id": strength}
    return {
        "displayName": name, "state": state,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": exclude_users, "excludeGroups": exclude_groups},
            "applications": {"includeApplications": [], "includeUserActions": ["urn:user:registersecurityinfo"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": trusted_locations or ["AllTrusted"]},
            "clientAppTypes": ["all"],
        },
        "grantControls": grant,
    }


def existing(t: TenantPosture, name: str) -> dict[str, Any] | None:
    """The one mfaops created (by its display name), if any."""
    return next((p for p in t.ca_policies if p.get("displayName") == name), None)
