"""Users, groups, reports, audit logs, sign-ins, Identity Protection, Conditional Access, policies."""

from __future__ import annotations

import re
from typing import Any

from sandbox.graph import audit
from sandbox.graph.odata import apply_orderby, apply_select, filter_usage, parse_filter
from sandbox.graph.router import Ctx, GraphError, Reply, Router
from sandbox.graph.tenant import User, role_template
from sandbox.graph.views import directory_objects, iso, registration_view, user_view


def require_user(ctx: Ctx, key: str) -> User:
    user = ctx.tenant.user(key)
    if user is None:
        raise GraphError(404, "Request_ResourceNotFound",
                         f"Resource '{key}' does not exist or one of its queried reference-property objects are "
                         "not present.")
    return user


def query(ctx: Ctx, items: list[dict[str, Any]], context: str, *, default_top: int = 100,
          max_top: int = 999) -> dict[str, Any]:
    predicate = parse_filter(ctx.query.get("$filter"))
    selected = [apply_select(i, ctx.query.get("$select")) for i in items if predicate(i)]
    return ctx.page(apply_orderby(selected, ctx.query.get("$orderby")), default_top=default_top,
                    max_top=max_top, context=context)


def _plain(ctx: Ctx) -> bool:
    return not any(ctx.query.get(k) for k in ("$filter", "$orderby"))


# Advanced query parameters on /users ("Advanced query capabilities on Microsoft Entra ID objects"): ne, not and
# endswith in $filter, and $count, are supported only with ConsistencyLevel: eventual and $count=true; Graph
# answers 400 Request_UnsupportedQuery otherwise.
ADVANCED_OPERATORS = {"ne", "not", "endswith"}


def list_users(ctx: Ctx) -> dict[str, Any]:
    _, operators = filter_usage(ctx.query.get("$filter"))
    if operators & ADVANCED_OPERATORS or "$count" in ctx.query or "$search" in ctx.query:
        require_advanced(ctx)
    if _plain(ctx):  # page over ids and render only the page: a 50,000-user tenant pages quickly
        select = ctx.query.get("$select")
        return ctx.page(ctx.tenant.order, context="users",
                        render=lambda uid: apply_select(user_view(ctx.tenant.users[uid]), select))
    users = [user_view(ctx.tenant.users[uid]) for uid in ctx.tenant.order]
    return query(ctx, users, "users")


def count_users(ctx: Ctx) -> Reply:
    """``GET /users/$count``: a bare number (text/plain in Graph), and only as an advanced query
    (user-list "Example 6: Get only a count of users": ConsistencyLevel: eventual is required)."""
    if ctx.sim.request_headers.get("consistencylevel", "").lower() != "eventual":
        raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
    return Reply(200, len(ctx.tenant.users), {"Content-Type": "text/plain"})


def get_user(ctx: Ctx, uid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    out = apply_select(user_view(user), ctx.query.get("$select"))
    expand = (ctx.query.get("$expand") or "").strip()
    if expand:
        out.update(_expand_manager(ctx, user, expand))
    return out


_EXPAND = re.compile(r"^manager(?:\(\$select=([A-Za-z0-9_,]+)\))?$")


def _expand_manager(ctx: Ctx, user: User, expand: str) -> dict[str, Any]:
    """``$expand=manager`` and ``$expand=manager($select=...)`` on a user (user-list-manager, "Example 2/3": the
    manager as a directoryObject, absent when the user has none). Other navigation properties are not simulated:
    Graph names an unknown one in a 400."""
    match = _EXPAND.fullmatch(expand)
    if match is None:
        name = expand.split("(", 1)[0]
        raise GraphError(400, "BadRequest", "Parsing OData Select and Expand failed: Could not find a property "
                         f"named '{name}' on type 'microsoft.graph.user'.")
    boss = ctx.tenant.users.get(user.manager or "")
    if boss is None:
        return {}
    view = {"@odata.type": "#microsoft.graph.user", **user_view(boss)}
    return {"manager": apply_select(view, match.group(1))}


def member_of(ctx: Ctx, uid: str) -> dict[str, Any]:
    return query(ctx, directory_objects(ctx.tenant, require_user(ctx, uid)), "directoryObjects")


def member_of_cast(ctx: Ctx, uid: str, cast: str) -> dict[str, Any]:
    """``transitiveMemberOf/microsoft.graph.group`` and ``.../microsoft.graph.directoryRole``: the OData type cast
    segment filters the collection by type (user-list-transitivememberof, "Example 4: ... cast"), paged like it."""
    wanted = f"#microsoft.graph.{cast}"
    if ctx.query.get("$filter") or ctx.query.get("$orderby"):
        require_advanced(ctx)
    objects = [o for o in directory_objects(ctx.tenant, require_user(ctx, uid)) if o["@odata.type"] == wanted]
    body = query(ctx, objects, f"directoryObjects/{cast}")
    if ctx.query.get("$count", "").lower() == "true":
        predicate = parse_filter(ctx.query.get("$filter"))
        body = {"@odata.count": sum(1 for o in objects if predicate(o)), **body}
    return body


def require_advanced(ctx: Ctx) -> None:
    """Advanced query parameters on directory objects: "ConsistencyLevel: eventual ... and $count are required
    when using the $search, $filter, $orderby, or OData cast query parameters" (user-list-transitivememberof,
    and "Advanced query capabilities on Microsoft Entra ID objects"). Graph answers a query that needs them and
    lacks them 400 Request_UnsupportedQuery; the cast alone is answered without them, as the service does."""
    eventual = ctx.sim.request_headers.get("consistencylevel", "").lower() == "eventual"
    if not eventual or ctx.query.get("$count", "").lower() != "true":
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")


def _member_of_roles(ctx: Ctx, uid: str) -> dict[str, Any]:
    return member_of_cast(ctx, uid, "directoryRole")


def _member_of_groups(ctx: Ctx, uid: str) -> dict[str, Any]:
    return member_of_cast(ctx, uid, "group")


# directoryobject-checkmembergroups / user-checkmembergroups: "You can check up to a maximum of 20 groups per
# request"; the body is {"groupIds": [...]}; the answer is the subset the object is a transitive member of, as a
# Collection(Edm.String) with no paging. The 400 wording for a missing or oversized list is the simulator's own
# (the page documents the limit, not the message); the code is Graph's generic Request_BadRequest.
CHECK_MEMBER_GROUPS_LIMIT = 20


def check_member_groups(ctx: Ctx, uid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    ids = ctx.body.get("groupIds") if isinstance(ctx.body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise GraphError(400, "Request_BadRequest", "Invalid request: groupIds must be a non-empty list of ids.")
    if len(ids) > CHECK_MEMBER_GROUPS_LIMIT:
        raise GraphError(400, "Request_BadRequest",
                         f"Too many groupIds: {len(ids)}. At most {CHECK_MEMBER_GROUPS_LIMIT} may be checked.")
    held = {g.lower() for g in user.groups}
    return {"@odata.context": f"{ctx.base_url}/{ctx.version}/$metadata#Collection(Edm.String)",
            "value": [i for i in ids if i.lower() in held]}


def list_groups(ctx: Ctx) -> dict[str, Any]:
    return query(ctx, list(ctx.tenant.groups.values()), "groups")


def get_group(ctx: Ctx, gid: str) -> dict[str, Any]:
    group = ctx.tenant.groups.get(gid) or ctx.tenant.groups.get(gid.lower())
    if group is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist or one of its queried "
                         "reference-property objects are not present.")
    return apply_select(dict(group), ctx.query.get("$select"))


def group_members(ctx: Ctx, gid: str) -> dict[str, Any]:
    if gid not in ctx.tenant.groups:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist.")
    members = [{"@odata.type": "#microsoft.graph.user", **user_view(u)} for u in ctx.tenant.users.values()
               if gid in u.groups]
    return query(ctx, members, "directoryObjects")


def revoke_sessions(ctx: Ctx, uid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    now = ctx.tenant.clock.now()
    audit.write(ctx.tenant, when=now, service="Core Directory", activity="Update StsRefreshTokenValidFrom Timestamp",
                user=user, initiated_by=audit.initiated_by_app(ctx.tenant), category="UserManagement",
                modified=[audit.prop("StsRefreshTokensValidFrom", None, iso(now))])
    return {"@odata.context": f"{ctx.base_url}/{ctx.version}/$metadata#Edm.Boolean", "value": True}


def send_mail(ctx: Ctx, uid: str) -> Reply:
    user = require_user(ctx, uid)
    if not isinstance(ctx.body, dict) or "message" not in ctx.body:
        raise GraphError(400, "ErrorInvalidRequest", "The 'message' parameter is required.")
    ctx.tenant.mail.append({"from": user.upn, "at": iso(ctx.tenant.clock.now()), **ctx.body})
    return Reply(202)


# authenticationmethodsroot-list-userregistrationdetails documents $filter on these properties (and the resource
# page's "Supports $filter (eq)" notes), and no $top: the report pages by itself. Graph's reports run on ASP.NET
# OData, whose refusals these are.
REGISTRATION_FILTERABLE = {"isAdmin", "isMfaCapable", "isMfaRegistered", "isPasswordlessCapable", "isSsprCapable",
                           "isSsprEnabled", "isSsprRegistered", "isSystemPreferredAuthenticationMethodEnabled",
                           "methodsRegistered", "systemPreferredAuthenticationMethods", "userDisplayName",
                           "userPrincipalName", "userType", "userPreferredMethodForSecondaryAuthentication"}


def registration_details(ctx: Ctx) -> dict[str, Any]:
    if "$top" in ctx.query:
        raise GraphError(400, "BadRequest", "Query option 'Top' is not allowed. To allow it, set the "
                         "'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.")
    properties, _ = filter_usage(ctx.query.get("$filter"))
    for name in sorted(properties - REGISTRATION_FILTERABLE):
        raise GraphError(400, "BadRequest", "The query specified in the URI is not valid. The property "
                         f"'{name}' cannot be used in the $filter query option.")
    # Disabled accounts are left out: the List page says the report "doesn't work for disabled users" (and a
    # report in the Entra docs' tracker confirms they are missing); find them with /users?$filter=accountEnabled.
    rows = [registration_view(ctx.tenant, u) for u in (ctx.tenant.users[i] for i in ctx.tenant.order)
            if u.account_enabled]
    return query(ctx, rows, "reports/authenticationMethods/userRegistrationDetails")


def registration_detail(ctx: Ctx, uid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    if not user.account_enabled:  # "This method doesn't work for disabled users" (the Get page too)
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{uid}' does not exist or one of its queried "
                         "reference-property objects are not present.")
    return registration_view(ctx.tenant, user)


def directory_audits(ctx: Ctx) -> dict[str, Any]:
    events = sorted(ctx.tenant.audits, key=lambda e: e["activityDateTime"], reverse=True)
    return query(ctx, events, "auditLogs/directoryAudits", default_top=1000, max_top=1000)


# Sign-in logs need Entra ID P1 and Identity Protection's lists need P2; without the licence Graph answers 403
# Authentication_RequestFromNonPremiumTenantOrB2CTenant "Neither tenant is B2C or tenant doesn't have premium
# license" (signin-list "Prerequisites"; microsoft-graph-docs issues 7276 and 11986, steampipe-plugin-azuread
# issue 98 quote the body). The tenant file's "licenses" ({"P1": bool, "P2": bool}) decides.
def require_licence(ctx: Ctx, plan: str) -> None:
    if not ctx.tenant.licenses.get(plan, True):
        raise GraphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                         "Neither tenant is B2C or tenant doesn't have premium license")


def risky_users(ctx: Ctx) -> dict[str, Any]:
    require_licence(ctx, "P2")
    return query(ctx, ctx.tenant.risky_users, "identityProtection/riskyUsers", default_top=500, max_top=500)


def risk_detections(ctx: Ctx) -> dict[str, Any]:
    require_licence(ctx, "P2")
    rows = sorted(ctx.tenant.risk_detections, key=lambda e: e.get("activityDateTime", ""), reverse=True)
    return query(ctx, rows, "identityProtection/riskDetections", default_top=500, max_top=500)


def _roles(ctx: Ctx) -> dict[str, dict[str, Any]]:
    """Activated directory roles: the ones some user holds (directoryrole-list lists only activated roles)."""
    roles: dict[str, dict[str, Any]] = {}
    for user in ctx.tenant.users.values():
        for name in user.roles:
            rid = role_template(name)
            roles.setdefault(rid, {"id": rid, "displayName": name, "roleTemplateId": rid, "members": []})
            roles[rid]["members"].append(user)
    return roles


def directory_roles(ctx: Ctx) -> dict[str, Any]:
    rows = [{k: v for k, v in r.items() if k != "members"} for r in _roles(ctx).values()]
    return query(ctx, rows, "directoryRoles")


def role_members(ctx: Ctx, rid: str) -> dict[str, Any]:
    role = _roles(ctx).get(rid) or next((r for r in _roles(ctx).values() if r["roleTemplateId"] == rid), None)
    if role is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{rid}' does not exist or one of its queried "
                         "reference-property objects are not present.")
    members = [{"@odata.type": "#microsoft.graph.user", **user_view(u)} for u in role["members"]]
    return query(ctx, members, "directoryObjects")


def organization(ctx: Ctx) -> dict[str, Any]:
    org = {"id": ctx.tenant.id, "displayName": ctx.tenant.display_name,
           "verifiedDomains": [{"name": ctx.tenant.domain, "isDefault": True}]}
    return query(ctx, [org], "organization")


def named_locations(ctx: Ctx) -> dict[str, Any]:
    return query(ctx, ctx.tenant.named_locations, "identity/conditionalAccess/namedLocations")


def ca_policies(ctx: Ctx) -> dict[str, Any]:
    return query(ctx, ctx.tenant.ca_policies, "identity/conditionalAccess/policies")


def method_configuration(ctx: Ctx, config_id: str) -> dict[str, Any]:
    if config_id.lower() == "temporaryaccesspass":
        return ctx.tenant.tap_policy
    found = ctx.tenant.method_configs.get(config_id)
    if found is None:
        raise GraphError(404, "NotFound", f"Authentication method configuration '{config_id}' was not found.")
    return found


def register(router: Router) -> None:
    router.add("GET", "/users", list_users)
    router.add("GET", "/users/$count", count_users)
    router.add("GET", "/users/{uid}", get_user)
    router.add("GET", "/users/{uid}/transitiveMemberOf", member_of)
    router.add("GET", "/users/{uid}/memberOf", member_of)
    router.add("GET", "/users/{uid}/transitiveMemberOf/microsoft.graph.directoryRole", _member_of_roles)
    router.add("GET", "/users/{uid}/transitiveMemberOf/microsoft.graph.group", _member_of_groups)
    router.add("POST", "/users/{uid}/checkMemberGroups", check_member_groups)
    router.add("POST", "/users/{uid}/revokeSignInSessions", revoke_sessions)
    router.add("POST", "/users/{uid}/sendMail", send_mail)
    router.add("GET", "/groups", list_groups)
    router.add("GET", "/groups/{gid}", get_group)
    router.add("GET", "/groups/{gid}/transitiveMembers", group_members)
    router.add("GET", "/groups/{gid}/members", group_members)
    router.add("GET", "/reports/authenticationMethods/userRegistrationDetails", registration_details)
    router.add("GET", "/reports/authenticationMethods/userRegistrationDetails/{uid}", registration_detail)
    router.add("GET", "/auditLogs/directoryAudits", directory_audits)
    router.add("GET", "/identityProtection/riskyUsers", risky_users)
    router.add("GET", "/identityProtection/riskDetections", risk_detections)
    router.add("GET", "/identity/conditionalAccess/policies", ca_policies)
    router.add("GET", "/identity/conditionalAccess/namedLocations", named_locations)
    router.add("GET", "/directoryRoles", directory_roles)
    router.add("GET", "/organization", organization)
    router.add("GET", "/directoryRoles/{rid}/members", role_members)
    router.add("GET", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{config_id}",
            method_configuration)
