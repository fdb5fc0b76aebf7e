"""What each Graph call of mfaops needs (application permissions, least privileged), so a 403, which Graph gives
without naming the missing permission, can be reported with the one to grant (bicep/graph-permissions.bicep)."""

from __future__ import annotations

# The start of the ``what`` mfaops gives each call (shared/graph/sdk/) -> the permission it needs.
NEEDS: tuple[tuple[str, str], ...] = (
    ("revoke sessions", "User.RevokeSessions.All"),
    ("read the Temporary Access Pass policy", "Policy.Read.All"),
    ("read user", "Directory.Read.All"),
    ("read memberOf", "Directory.Read.All"),
    ("list memberships", "Directory.Read.All"),
    ("get user", "Directory.Read.All"),
    ("read methods", "UserAuthenticationMethod.ReadWrite.All"),
    ("list methods", "UserAuthenticationMethod.ReadWrite.All"),
    ("read sign-in preferences", "UserAuthenticationMethod.ReadWrite.All"),
    ("set the default method", "UserAuthenticationMethod.ReadWrite.All"),
    ("delete", "UserAuthenticationMethod.ReadWrite.All"),
    ("issue a Temporary Access Pass", "UserAuthenticationMethod.ReadWrite.All"),
    ("create a Temporary Access Pass", "UserAuthenticationMethod.ReadWrite.All"),
    ("read the per-user MFA state", "UserAuthenticationMethod.ReadWrite.All"),
    ("set the per-user MFA state", "Policy.ReadWrite.AuthenticationMethod"),
    ("read the registration details report", "AuditLog.Read.All"),
    ("read directory audits", "AuditLog.Read.All"),
)


def needed_permission(what: str) -> str:
    """The permission the call described by ``what`` needs, or '' when mfaops does not know it."""
    for prefix, permission in NEEDS:
        if what.startswith(prefix):
            return permission
    return ""
