"""Authentication methods, the default-method rule, phone rules, TAP, sign-in preferences, requirements."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.graph import audit
from sandbox.graph.handlers_directory import require_user
from sandbox.graph.methods import BY_SEGMENT, DEFAULT_TARGETS, PASSWORD_ID, PHONE_IDS, REGISTER_TEXT, TYPES
from sandbox.graph.router import Ctx, GraphError, Reply, Router
from sandbox.graph.tenant import Method, Tenant, User, new_tap_value, stable_id
from sandbox.graph.views import iso, method_view, password_view

# Both wordings Graph gives for deleting the default method while others remain: the general one
# (microsoftgraph/microsoft-graph-docs issue 14470) and the phone one naming the method id (issue 18091); the phone
# delete reference page: "If the phone number is the user's default ... MFA ... method, it cannot be deleted".
DEFAULT_CONFLICT = ("Cannot delete default method with other methods configured. Please change default method "
                    "before deletion.")
DEFAULT_CONFLICT_BY_ID = ("The requested authentication method id of [{id}] matches the user's current default "
                          "authentication method, and cannot be deleted until the default authentication method is "
                          "changed")


def _segment(segment: str, version: str = "v1.0") -> str:
    if segment not in BY_SEGMENT or version not in BY_SEGMENT[segment].versions:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    return BY_SEGMENT[segment].name


def _listed(ctx: Ctx, method: Method) -> bool:
    """A method shows in a version's lists only where that version documents its type (hardware OATH: beta)."""
    return ctx.version in TYPES[method.type].versions


def _method_of(ctx: Ctx, user: User, method_id: str, kind: str | None = None) -> Method:
    method = user.find(method_id)
    if method is None or (kind is not None and method.type != kind):
        raise GraphError(404, "itemNotFound", f"The requested authentication method with id '{method_id}' was "
                         "not found for this user.")
    return method


def list_methods(ctx: Ctx, uid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    values = [password_view(user)] + [method_view(ctx.tenant, m, ctx.version) for m in user.methods if _listed(ctx, m)]
    return {"@odata.context": f"{ctx.base_url}/{ctx.version}/$metadata#users('{user.id}')/authentication/methods",
            "value": values}


def get_method(ctx: Ctx, uid: str, mid: str) -> dict[str, Any]:
    user = require_user(ctx, uid)
    if mid == PASSWORD_ID:
        return password_view(user)
    method = _method_of(ctx, user, mid)
    if not _listed(ctx, method):
        raise GraphError(404, "itemNotFound", f"The requested authentication method with id '{mid}' was not found "
                         "for this user.")
    return method_view(ctx.tenant, method, ctx.version)


def list_of_type(ctx: Ctx, uid: str, segment: str) -> dict[str, Any]:
    if segment == "passwordMethods":
        return {"value": [password_view(require_user(ctx, uid))]}
    kind = _segment(segment, ctx.version)
    user = require_user(ctx, uid)
    return {"value": [method_view(ctx.tenant, m, ctx.version) for m in user.methods if m.type == kind]}


def get_of_type(ctx: Ctx, uid: str, segment: str, mid: str) -> dict[str, Any]:
    if segment == "passwordMethods":
        return get_method(ctx, uid, mid)
    return method_view(ctx.tenant, _method_of(ctx, require_user(ctx, uid), mid, _segment(segment, ctx.version)),
                       ctx.version)


def delete_of_type(ctx: Ctx, uid: str, segment: str, mid: str) -> Reply:
    if segment == "passwordMethods":
        raise GraphError(405, "Request_BadRequest", "The request method 'DELETE' is not allowed on this resource.")
    if segment == "externalAuthenticationMethods":
        # externalauthenticationmethod-delete documents only "DELETE .../externalAuthenticationMethods/{id}/$ref":
        # the method itself is a reference to the provider's, and only the reference is removed.
        raise GraphError(405, "Request_BadRequest", "The request method 'DELETE' is not allowed on this resource.")
    return _delete(ctx, uid, segment, mid)


def delete_external_ref(ctx: Ctx, uid: str, mid: str) -> Reply:
    return _delete(ctx, uid, "externalAuthenticationMethods", mid)


def _delete(ctx: Ctx, uid: str, segment: str, mid: str) -> Reply:
    user = require_user(ctx, uid)
    method = _method_of(ctx, user, mid, _segment(segment, ctx.version))
    if method.phone_type == "mobile" and any(m.phone_type == "alternateMobile" for m in user.methods):
        raise GraphError(400, "badRequest", "A user can't have an alternateMobile number without a mobile number. "
                         "Delete the alternateMobile number first.")
    # The default names a kind of method: deleting one of two Authenticator registrations leaves the default
    # usable; deleting the last of its kind while any other removable method remains (of any type: nothing
    # documents an exemption) is what Graph refuses.
    kind = user.default_kind()
    is_default = kind == [method]
    others = [m for m in user.methods if m is not method and TYPES[m.type].segment is not None]
    if is_default and others:
        raise GraphError(400, "badRequest", DEFAULT_CONFLICT_BY_ID.format(id=method.id)
                         if method.type == "phone" else DEFAULT_CONFLICT)
    user.methods.remove(method)
    if is_default:
        user.default_method = None
    now = ctx.tenant.clock.now()
    user.last_updated = now
    audit.write(ctx.tenant, when=now, service="Authentication Methods", activity="Admin deleted security info",
                user=user, initiated_by=audit.initiated_by_app(ctx.tenant), operation="Delete",
                # As Entra writes it: "Admin deleted temporary access pass method for user", one "method".
                result_reason=f"Admin deleted {REGISTER_TEXT[method.type]} method for user")
    return Reply(204)


def delete_generic(ctx: Ctx, uid: str, mid: str) -> Reply:
    raise GraphError(405, "Request_BadRequest", "The request method 'DELETE' is not allowed on this resource.")


def _tap_targeted(tenant: Tenant, user: User) -> bool:
    policy = tenant.tap_policy
    targets = {t.get("id") for t in policy.get("includeTargets", [])}
    excluded = {t.get("id") for t in policy.get("excludeTargets", [])}
    if excluded & set(user.groups):
        return False
    return "all_users" in targets or bool(targets & set(user.groups))


def create_tap(ctx: Ctx, uid: str) -> Reply:
    user = require_user(ctx, uid)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    policy = ctx.tenant.tap_policy
    if policy.get("state") != "enabled" or not _tap_targeted(ctx.tenant, user):
        raise GraphError(400, "badRequest", "Temporary Access Pass is not enabled for this user by the "
                         "authentication methods policy.")
    lifetime = body.get("lifetimeInMinutes", policy.get("defaultLifetimeInMinutes", 60))
    low = policy.get("minimumLifetimeInMinutes", 10)
    high = policy.get("maximumLifetimeInMinutes", 43200)
    if not isinstance(lifetime, int) or not (max(10, low) <= lifetime <= min(43200, high)):
        raise GraphError(400, "badRequest", f"The lifetime of the Temporary Access Pass must be between {low} and "
                         f"{high} minutes as set by the policy.")
    usable_once = body.get("isUsableOnce", policy.get("isUsableOnce", False))
    if policy.get("isUsableOnce") and usable_once is False:
        raise GraphError(400, "badRequest", "The policy only allows one-time use Temporary Access Passes.")
    now = ctx.tenant.clock.now()
    start = datetime.fromisoformat(body["startDateTime"].replace("Z", "+00:00")) if body.get("startDateTime") \
        else now
    value = new_tap_value(int(policy.get("defaultLength", 8)))
    ctx.sim.issued_tap_values.append(value)  # what a secrets scan looks for in everything mfaops wrote
    existing = user.tap()
    if existing is not None:  # one TAP per user: a new one replaces the old
        user.methods.remove(existing)
    method = Method(id=stable_id(user.id, "tap", now.isoformat()), type="temporaryAccessPass", created=now,
                    props={"startDateTime": iso(start), "lifetimeInMinutes": lifetime,
                           "isUsableOnce": bool(usable_once)})
    user.methods.append(method)
    user.last_updated = now
    end = start + timedelta(minutes=lifetime)
    audit.write(ctx.tenant, when=now, service="Authentication Methods", activity="Admin registered security info",
                user=user, initiated_by=audit.initiated_by_app(ctx.tenant), operation="Add",
                result_reason="Admin registered temporary access pass method for user",
                modified=[audit.prop("TemporaryAccessPass.Id", None, method.id),
                          audit.prop("TemporaryAccessPass.StartDateTime", None, iso(start)),
                          audit.prop("TemporaryAccessPass.EndDateTime", None, iso(end)),
                          audit.prop("TemporaryAccessPass.AccessPassUsage", None,
                                     "OneTime" if usable_once else "MultiUse")])
    view = method_view(ctx.tenant, method, ctx.version)
    view["temporaryAccessPass"] = value  # the value exists only in this response
    return Reply(201, view, {"Location": f"{ctx.base_url}/{ctx.version}/users/{user.id}/authentication/"
                                         f"temporaryAccessPassMethods/{method.id}"})


def add_phone(ctx: Ctx, uid: str) -> Reply:
    user = require_user(ctx, uid)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    phone_type = body.get("phoneType")
    if phone_type not in PHONE_IDS or not body.get("phoneNumber"):
        raise GraphError(400, "badRequest", "phoneNumber and a phoneType of mobile, alternateMobile or office are "
                         "required.")
    if any(m.phone_type == phone_type for m in user.methods):
        raise GraphError(400, "badRequest", f"A {phone_type} phone method already exists for this user.")
    if phone_type == "alternateMobile" and not any(m.phone_type == "mobile" for m in user.methods):
        raise GraphError(400, "badRequest", "A user can't have an alternateMobile number without a mobile number.")
    method = Method(id=PHONE_IDS[phone_type], type="phone", created=ctx.tenant.clock.now(),
                    props={"phoneNumber": body["phoneNumber"], "phoneType": phone_type,
                           "smsSignInState": "notAllowedByPolicy"})
    user.methods.append(method)
    audit.write(ctx.tenant, when=method.created, service="Authentication Methods",
                activity="Admin registered security info", user=user, operation="Add",
                initiated_by=audit.initiated_by_app(ctx.tenant),
                result_reason=f"Admin registered {phone_type} phone method for user")
    return Reply(201, method_view(ctx.tenant, method, ctx.version))


def get_preferences(ctx: Ctx, uid: str) -> dict[str, Any]:
    # signInPreferences (beta) has two properties: isSystemPreferredAuthenticationMethodEnabled and
    # userPreferredMethodForSecondaryAuthentication (the resource page; the beta SDK's model agrees).
    user = require_user(ctx, uid)
    return {"isSystemPreferredAuthenticationMethodEnabled": user.system_preferred,
            "userPreferredMethodForSecondaryAuthentication": user.default_method}


def patch_preferences(ctx: Ctx, uid: str) -> Reply:
    user = require_user(ctx, uid)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if "userPreferredMethodForSecondaryAuthentication" in body:
        wanted = body["userPreferredMethodForSecondaryAuthentication"]
        if wanted not in DEFAULT_TARGETS:
            raise GraphError(400, "badRequest", f"Invalid value '{wanted}' for userPreferredMethodForSecondary"
                             "Authentication.")
        previous = user.default_method
        user.default_method = wanted
        if user.default_target() is None:
            user.default_method = previous
            raise GraphError(400, "badRequest", f"The user has no method that can be used as '{wanted}'.")
        audit.write(ctx.tenant, when=ctx.tenant.clock.now(), service="Authentication Methods",
                    activity="Admin updated security info", user=user,
                    initiated_by=audit.initiated_by_app(ctx.tenant), result_reason="Admin changed default method")
    if "isSystemPreferredAuthenticationMethodEnabled" in body:
        user.system_preferred = bool(body["isSystemPreferredAuthenticationMethodEnabled"])
    return Reply(204)


def get_requirements(ctx: Ctx, uid: str) -> dict[str, Any]:
    return {"perUserMfaState": require_user(ctx, uid).per_user_mfa}


def patch_requirements(ctx: Ctx, uid: str) -> Reply:
    user = require_user(ctx, uid)
    state = (ctx.body or {}).get("perUserMfaState")
    if state not in {"disabled", "enabled", "enforced"}:
        raise GraphError(400, "badRequest", f"Invalid perUserMfaState '{state}'.")
    states = {"disabled": 0, "enabled": 1, "enforced": 2}
    audit.write(ctx.tenant, when=ctx.tenant.clock.now(), service="Core Directory", activity="Update user", user=user,
                initiated_by=audit.initiated_by_app(ctx.tenant),
                modified=[audit.prop("StrongAuthenticationRequirement",
                                     [{"State": states[user.per_user_mfa]}] if user.per_user_mfa != "disabled" else [],
                                     [{"State": states[state]}] if state != "disabled" else [])])
    user.per_user_mfa = state
    return Reply(204)


def register(router: Router) -> None:
    base = "/users/{uid}/authentication"
    router.add("GET", base + "/methods", list_methods)
    router.add("GET", base + "/methods/{mid}", get_method)
    router.add("DELETE", base + "/methods/{mid}", delete_generic)
    router.add("GET", base + "/signInPreferences", get_preferences, versions=("beta",))
    router.add("PATCH", base + "/signInPreferences", patch_preferences, versions=("beta",))
    router.add("GET", base + "/requirements", get_requirements, versions=("beta",))
    router.add("PATCH", base + "/requirements", patch_requirements, versions=("beta",))
    router.add("POST", base + "/temporaryAccessPassMethods", create_tap)
    router.add("POST", base + "/phoneMethods", add_phone)
    router.add("DELETE", base + "/externalAuthenticationMethods/{mid}/$ref", delete_external_ref)
    router.add("GET", base + "/{segment}", list_of_type)
    router.add("GET", base + "/{segment}/{mid}", get_of_type)
    router.add("DELETE", base + "/{segment}/{mid}", delete_of_type)
