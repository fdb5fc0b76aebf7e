"""Conditional Access policies (list, get, create, update) with Graph's validation, the authentication methods
policy, and sign-in rows with their appliedConditionalAccessPolicies as Graph returns them."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sandbox.graph.handlers_directory import query, require_licence
from sandbox.graph.router import Ctx, GraphError, Reply, Router
from sandbox.graph.views import iso

# conditionalAccessPolicy resource: state is enabled | disabled | enabledForReportingButNotEnforced;
# conditionalAccessGrantControls.builtInControls: block, mfa, compliantDevice, domainJoinedDevice,
# approvedApplication, compliantApplication, passwordChange; a policy needs users and applications conditions
# and at least one grant or session control (learn.microsoft.com/graph/api/resources/conditionalaccesspolicy,
# conditionalaccessroot-post-policies "Request body"; the error code Graph gives a bad policy is BadRequest).
STATES = {"enabled", "disabled", "enabledForReportingButNotEnforced"}
CONTROLS = {"block", "mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication",
            "passwordChange"}
USER_ACTIONS = {"urn:user:registersecurityinfo", "urn:user:registerdevice"}

# conditionalAccessPolicyResult: members after unknownFutureValue are evolvable and come back as
# 'unknownFutureValue' unless the request says "Prefer: include-unknown-enum-members"
# (learn.microsoft.com/graph/best-practices-concept#handling-future-members-in-evolvable-enumerations; the
# appliedConditionalAccessPolicy resource lists reportOnly* after unknownFutureValue).
EVOLVABLE_RESULTS = {"reportOnlySuccess", "reportOnlyFailure", "reportOnlyNotApplied", "reportOnlyInterrupted"}

DEFAULT_METHOD_CONFIGS = [
    {"id": "Fido2", "state": "enabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
    {"id": "MicrosoftAuthenticator", "state": "enabled", "includeTargets": [{"targetType": "group",
                                                                             "id": "all_users"}]},
    {"id": "Sms", "state": "disabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
    {"id": "Voice", "state": "disabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
    {"id": "Email", "state": "disabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
    {"id": "SoftwareOath", "state": "disabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
    {"id": "X509Certificate", "state": "disabled", "includeTargets": [{"targetType": "group", "id": "all_users"}]},
]


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def validate(policy: Any, *, partial: bool = False) -> dict[str, Any]:
    if not isinstance(policy, dict):
        raise _bad("Invalid request body: a conditionalAccessPolicy object was expected.")
    if not partial and not str(policy.get("displayName", "")).strip():
        raise _bad("displayName is required.")
    if ("state" in policy or not partial) and policy.get("state") not in STATES:
        raise _bad(f"Invalid value '{policy.get('state')}' for property 'state': must be one of "
                   f"{', '.join(sorted(STATES))}.")
    conditions = policy.get("conditions")
    if conditions is not None or not partial:
        if not isinstance(conditions, dict):
            raise _bad("conditions is required.")
        users = conditions.get("users")
        if not isinstance(users, dict) or not any(users.get(k) for k in (
                "includeUsers", "includeGroups", "includeRoles", "includeGuestsOrExternalUsers")):
            raise _bad("Conditions.Users must include users, groups, roles or guests.")
        apps = conditions.get("applications")
        if not isinstance(apps, dict):
            raise _bad("Conditions.Applications is required.")
        actions = apps.get("includeUserActions") or []
        if actions and apps.get("includeApplications"):
            raise _bad("A policy targets either cloud apps or user actions, not both.")
        contexts = apps.get("includeAuthenticationContextClassReferences")
        if not actions and not apps.get("includeApplications") and not contexts:
            raise _bad("Conditions.Applications must include applications, user actions or authentication "
                       "contexts.")
        unknown = set(actions) - USER_ACTIONS
        if unknown:
            raise _bad(f"Invalid user action(s): {', '.join(sorted(unknown))}.")
    grant = policy.get("grantControls")
    if grant is not None or (not partial and policy.get("sessionControls") is None):
        if not isinstance(grant, dict):
            raise _bad("A policy needs grantControls or sessionControls.")
        controls = grant.get("builtInControls") or []
        strength = grant.get("authenticationStrength")
        if not controls and not strength and not grant.get("termsOfUse"):
            raise _bad("grantControls must have at least one built-in control, an authentication strength or "
                       "terms of use.")
        bad = set(controls) - CONTROLS
        if bad:
            raise _bad(f"Invalid built-in control(s): {', '.join(sorted(bad))}.")
        if "block" in controls and (len(controls) > 1 or strength):
            raise _bad("The block control cannot be combined with other controls.")
        if "mfa" in controls and strength:
            raise _bad("The mfa control and an authentication strength cannot be combined.")
        if grant.get("operator", "OR") not in {"OR", "AND"}:
            raise _bad("grantControls.operator must be OR or AND.")
    return policy


def ca_policy(ctx: Ctx, pid: str) -> dict[str, Any]:
    found = next((p for p in ctx.tenant.ca_policies if p["id"] == pid), None)
    if found is None:
        raise GraphError(404, "ResourceNotFound", f"Could not find a policy with id '{pid}'.")
    return found


def create_ca_policy(ctx: Ctx) -> Reply:
    policy = copy.deepcopy(validate(ctx.body))
    now = iso(ctx.tenant.clock.now())
    policy.update({"id": str(uuid.uuid4()), "createdDateTime": now, "modifiedDateTime": None})
    ctx.tenant.ca_policies.append(policy)
    return Reply(201, {"@odata.context": f"{ctx.base_url}/{ctx.version}/$metadata#identity/conditionalAccess/"
                       "policies/$entity", **policy})


def update_ca_policy(ctx: Ctx, pid: str) -> Reply:
    policy = ca_policy(ctx, pid)
    validate(ctx.body, partial=True)
    merged = {**copy.deepcopy(policy), **copy.deepcopy(ctx.body)}
    validate(merged)
    policy.clear()
    policy.update({**merged, "id": pid, "modifiedDateTime": iso(ctx.tenant.clock.now())})
    return Reply(204)


def methods_policy(ctx: Ctx) -> dict[str, Any]:
    raw = ctx.tenant.raw.get("policies", {})
    configs = {c["id"]: c for c in (copy.deepcopy(c) for c in DEFAULT_METHOD_CONFIGS)}
    for cid, config in ctx.tenant.method_configs.items():
        configs[cid] = {"id": cid, **config}
    tap = ctx.tenant.tap_policy
    configs["TemporaryAccessPass"] = {"id": "TemporaryAccessPass", **{k: v for k, v in tap.items() if k != "id"}}
    return {"@odata.context": f"{ctx.base_url}/{ctx.version}/$metadata#policies/authenticationMethodsPolicy/$entity",
            "id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
            "policyMigrationState": raw.get("policyMigrationState", "migrationComplete"),
            "authenticationMethodConfigurations": [
                {"@odata.type": f"#microsoft.graph.{_camel(str(c['id']))}AuthenticationMethodConfiguration", **c}
                for c in configs.values()]}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def sign_ins(ctx: Ctx) -> dict[str, Any]:
    require_licence(ctx, "P1")
    rows = sorted(ctx.tenant.sign_ins, key=lambda e: e.get("createdDateTime", ""), reverse=True)
    if "include-unknown-enum-members" not in ctx.prefer:
        rows = [_hide_evolvable(r) for r in rows]
    granted = ctx.tenant.app_roles
    if granted is not None and not granted & CA_READERS:
        # signIn resource, appliedConditionalAccessPolicies: "The app needs Policy.Read.All (or
        # Policy.Read.ConditionalAccess) to read it" - without such a permission the property is not returned.
        rows = [{k: v for k, v in r.items() if k != "appliedConditionalAccessPolicies"} for r in rows]
    return query(ctx, rows, "auditLogs/signIns", default_top=1000, max_top=1000)


CA_READERS = {"Policy.Read.All", "Policy.Read.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess"}


def _hide_evolvable(row: dict[str, Any]) -> dict[str, Any]:
    applied = row.get("appliedConditionalAccessPolicies")
    if not isinstance(applied, list) or not any(p.get("result") in EVOLVABLE_RESULTS for p in applied):
        return row
    return {**row, "appliedConditionalAccessPolicies": [
        {**p, "result": "unknownFutureValue"} if p.get("result") in EVOLVABLE_RESULTS else p for p in applied]}


def register(router: Router) -> None:
    router.add("GET", "/identity/conditionalAccess/policies/{pid}", ca_policy)
    router.add("POST", "/identity/conditionalAccess/policies", create_ca_policy)
    router.add("PATCH", "/identity/conditionalAccess/policies/{pid}", update_ca_policy)
    router.add("GET", "/policies/authenticationMethodsPolicy", methods_policy)
    router.add("GET", "/auditLogs/signIns", sign_ins)
