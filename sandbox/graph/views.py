"""JSON shapes of the simulator's objects, as Graph returns them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.graph.methods import PASSWORD_ID, PHONE_REPORT, TYPES
from sandbox.graph.tenant import Method, Tenant, User, role_template


def iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "userPrincipalName": user.upn, "displayName": user.display_name,
            "accountEnabled": user.account_enabled, "userType": user.user_type,
            "mail": user.extra.get("mail", user.upn if user.user_type == "Member" else None),
            "authorizationInfo": {"certificateUserIds": list(user.extra.get("certificateUserIds", []))},
            # The user resource's default properties include both phones (null / [] when none is set).
            "mobilePhone": user.extra.get("mobilePhone"), "businessPhones": list(user.extra.get("businessPhones", [])),
            **{k: v for k, v in user.extra.items() if k not in {"mail", "certificateUserIds", "mobilePhone",
                                                                "businessPhones"}}}


def tap_usability(tenant: Tenant, method: Method) -> tuple[bool, str]:
    now = tenant.clock.now()
    start = _dt(method.props["startDateTime"])
    end = start + timedelta(minutes=int(method.props["lifetimeInMinutes"]))
    if tenant.tap_policy.get("state") != "enabled":
        return False, "DisabledByPolicy"
    if now < start:
        return False, "NotYetValid"
    if now >= end:
        return False, "Expired"
    if method.used and method.props.get("isUsableOnce"):
        return False, "OneTimeUsed"
    return True, "EnabledByPolicy"


def _dt(value: Any) -> Any:
    return value if not isinstance(value, str) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def method_view(tenant: Tenant, method: Method, version: str = "v1.0") -> dict[str, Any]:
    kind = TYPES[method.type]
    out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind.odata}", "id": method.id}
    if method.type not in {"phone", "email"}:
        out["createdDateTime"] = iso(method.created)
    # "registeredAs" is the tenant file's word for the report's name of the method, not a Graph property.
    props = {k: v for k, v in method.props.items() if k not in ("temporaryAccessPass", "registeredAs")}
    out.update(props)
    if version == "beta":
        # beta's authenticationMethod carries both dates (null where Graph does not fill them).
        out["createdDateTime"] = iso(method.created) if method.type not in {"phone", "email"} else None
        out["lastUsedDateTime"] = iso(method.last_used) if method.last_used else None
    if method.type == "temporaryAccessPass":
        usable, reason = tap_usability(tenant, method)
        out.update({"temporaryAccessPass": None, "startDateTime": iso(_dt(props["startDateTime"]))})
        if version == "v1.0":  # isUsable and methodUsabilityReason are v1.0 properties (the beta model has neither)
            out.update({"isUsable": usable, "methodUsabilityReason": reason})
    return out


def password_view(user: User) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": PASSWORD_ID, "password": None,
            "createdDateTime": None}


def methods_registered(user: User) -> list[str]:
    names: list[str] = []
    for m in user.methods:
        name = PHONE_REPORT.get(m.phone_type or "", "") if m.type == "phone" else \
            str(m.props.get("registeredAs") or TYPES[m.type].report)
        if name and name not in names:
            names.append(name)
    return names


def registration_view(tenant: Tenant, user: User) -> dict[str, Any]:
    registered = methods_registered(user)
    mfa = any(TYPES[m.type].mfa for m in user.methods)
    passwordless = any(TYPES[m.type].passwordless for m in user.methods)
    return {
        "id": user.id, "userPrincipalName": user.upn, "userDisplayName": user.display_name,
        "userType": user.user_type.lower(), "isAdmin": bool(user.roles), "isMfaCapable": mfa,
        "isMfaRegistered": mfa, "isPasswordlessCapable": passwordless, "isSsprCapable": mfa,
        "isSsprEnabled": True, "isSsprRegistered": mfa or "email" in registered,
        "isSystemPreferredAuthenticationMethodEnabled": user.system_preferred,
        "lastUpdatedDateTime": iso(user.last_updated or tenant.clock.now()),
        "methodsRegistered": registered, "systemPreferredAuthenticationMethods": [],
        "userPreferredMethodForSecondaryAuthentication": user.default_method or "none",
    }


def directory_objects(tenant: Tenant, user: User) -> list[dict[str, Any]]:
    objects = [{"@odata.type": "#microsoft.graph.group", **tenant.groups[g]} for g in user.groups]
    objects += [{"@odata.type": "#microsoft.graph.directoryRole", "id": role_template(r), "displayName": r,
                 "roleTemplateId": role_template(r)} for r in user.roles]
    return objects
