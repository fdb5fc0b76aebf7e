"""Which application permissions grant each simulated Graph route: the permission tables of Graph's reference
pages (application column; the least privileged and the higher ones, any of them grants the call).

A tenant file may list the app's granted permissions (``"app": {"appRoles": [...]}``); a call that none of its
route's permissions covers answers 403 ``Authorization_RequestDenied`` "Insufficient privileges to complete the
operation." (the wording Graph gives: learn.microsoft.com/graph/errors and the reports of it in msgraph-sdk
issues). Without the list everything is granted.
"""

from __future__ import annotations

UAM_READ = ("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
UAM_WRITE = ("UserAuthenticationMethod.ReadWrite.All",)
USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
MEMBER_OF = ("Directory.Read.All", "Directory.ReadWrite.All", "GroupMember.Read.All")
GROUP_READ = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All",
              "Directory.ReadWrite.All")

# (method, route pattern) -> permissions; every route of the simulator is here (a test checks it).
ROUTES: dict[tuple[str, str], tuple[str, ...]] = {
    # user-list, user-get
    ("GET", "/users"): USER_READ,
    ("GET", "/users/{uid}"): USER_READ,
    # user-list ($count)
    ("GET", "/users/$count"): USER_READ,
    # user-list-transitivememberof, user-list-memberof
    ("GET", "/users/{uid}/transitiveMemberOf"): MEMBER_OF,
    ("GET", "/users/{uid}/memberOf"): MEMBER_OF,
    ("GET", "/users/{uid}/transitiveMemberOf/microsoft.graph.directoryRole"): MEMBER_OF,
    ("GET", "/users/{uid}/transitiveMemberOf/microsoft.graph.group"): MEMBER_OF,
    # user-checkmembergroups (application: User.Read.All and GroupMember.Read.All, ..., Directory.Read.All): the
    # route's grant is the group half; every mfaops grant set that reads users holds User.Read.All too
    ("POST", "/users/{uid}/checkMemberGroups"): MEMBER_OF,
    # user-revokesigninsessions
    ("POST", "/users/{uid}/revokeSignInSessions"): ("User.RevokeSessions.All", "User.ReadWrite.All",
                                                    "Directory.ReadWrite.All"),
    # user-sendmail
    ("POST", "/users/{uid}/sendMail"): ("Mail.Send",),
    # group-list, group-list-transitivemembers, group-list-members
    ("GET", "/groups"): GROUP_READ,
    # group-get
    ("GET", "/groups/{gid}"): GROUP_READ,
    ("GET", "/groups/{gid}/transitiveMembers"): GROUP_READ,
    ("GET", "/groups/{gid}/members"): GROUP_READ,
    # authenticationmethodsroot-list-userregistrationdetails, userregistrationdetails-get
    ("GET", "/reports/authenticationMethods/userRegistrationDetails"): ("AuditLog.Read.All",),
    ("GET", "/reports/authenticationMethods/userRegistrationDetails/{uid}"): ("AuditLog.Read.All",),
    # directoryaudit-list, signin-list
    ("GET", "/auditLogs/directoryAudits"): ("AuditLog.Read.All",),
    ("GET", "/auditLogs/signIns"): ("AuditLog.Read.All",),
    # riskyuser-list, riskdetection-list
    ("GET", "/identityProtection/riskyUsers"): ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"),
    ("GET", "/identityProtection/riskDetections"): ("IdentityRiskEvent.Read.All",),
    # organization-list
    ("GET", "/organization"): ("Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All",
                               "Directory.ReadWrite.All"),
    # directoryrole-list, directoryrole-list-members
    ("GET", "/directoryRoles"): ("RoleManagement.Read.Directory", "Directory.Read.All",
                                 "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"),
    ("GET", "/directoryRoles/{rid}/members"): ("RoleManagement.Read.Directory", "Directory.Read.All",
                                               "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"),
    # conditionalaccessroot-list-policies
    ("GET", "/identity/conditionalAccess/policies"): ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    # conditionalaccessroot-list-namedlocations: Policy.Read.All (least), Policy.ReadWrite.ConditionalAccess.
    ("GET", "/identity/conditionalAccess/namedLocations"): ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    # conditionalaccesspolicy-get, conditionalaccessroot-post-policies, conditionalaccesspolicy-update
    ("GET", "/identity/conditionalAccess/policies/{pid}"): ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"),
    ("POST", "/identity/conditionalAccess/policies"): ("Policy.ReadWrite.ConditionalAccess",),
    ("PATCH", "/identity/conditionalAccess/policies/{pid}"): ("Policy.ReadWrite.ConditionalAccess",),
    # authenticationmethodspolicy-get
    ("GET", "/policies/authenticationMethodsPolicy"): ("Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"),
    # authenticationmethodconfiguration-get
    ("GET", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{config_id}"): (
        "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"),
    # authentication-list-methods, authenticationmethod-get
    ("GET", "/users/{uid}/authentication/methods"): UAM_READ,
    ("GET", "/users/{uid}/authentication/methods/{mid}"): UAM_READ,
    ("DELETE", "/users/{uid}/authentication/methods/{mid}"): UAM_WRITE,
    # authentication-get-signinpreferences, authentication-update-signinpreferences (beta)
    ("GET", "/users/{uid}/authentication/signInPreferences"): UAM_READ,
    ("PATCH", "/users/{uid}/authentication/signInPreferences"): UAM_WRITE,
    # strongauthenticationrequirements (beta): reading is a method read, changing per-user MFA a policy write
    ("GET", "/users/{uid}/authentication/requirements"): UAM_READ,
    ("PATCH", "/users/{uid}/authentication/requirements"): ("Policy.ReadWrite.AuthenticationMethod",),
    # authentication-post-temporaryaccesspassmethods, authentication-post-phonemethods
    ("POST", "/users/{uid}/authentication/temporaryAccessPassMethods"): UAM_WRITE,
    ("POST", "/users/{uid}/authentication/phoneMethods"): UAM_WRITE,
    # externalauthenticationmethod-delete
    ("DELETE", "/users/{uid}/authentication/externalAuthenticationMethods/{mid}/$ref"): UAM_WRITE,
    # the typed collections: *authenticationmethod-list/get/delete
    ("GET", "/users/{uid}/authentication/{segment}"): UAM_READ,
    ("GET", "/users/{uid}/authentication/{segment}/{mid}"): UAM_READ,
    ("DELETE", "/users/{uid}/authentication/{segment}/{mid}"): UAM_WRITE,
}

DENIED_CODE = "Authorization_RequestDenied"
DENIED_MESSAGE = "Insufficient privileges to complete the operation."
