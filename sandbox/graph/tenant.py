"""The simulated tenant's state, seeded from a tenant file (see the README for its shape)."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.graph.methods import (
    DEFAULT_TARGETS,
    EMAIL_ID,
    PHONE_IDS,
    ROLE_TEMPLATES,
    TYPES,
)

_NS = uuid.UUID("0b7f3c55-2f5e-4c1b-8d0e-5a4f8c9e7d21")
DEFAULT_TAP_POLICY: dict[str, Any] = {
    "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
    "id": "TemporaryAccessPass", "state": "enabled", "defaultLifetimeInMinutes": 60, "defaultLength": 8,
    "minimumLifetimeInMinutes": 60, "maximumLifetimeInMinutes": 480, "isUsableOnce": False,
    "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": False}],
    "excludeTargets": [],
}


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


class Clock:
    """The sandbox clock: real time plus an offset that tests may move."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, when: datetime) -> None:
        self.offset = when - datetime.now(UTC)


@dataclass
class Method:
    id: str
    type: str
    props: dict[str, Any]
    created: datetime
    used: bool = False  # temporary access passes only
    # When the method was last used to sign in (beta's lastUsedDateTime); None: Graph does not fill it ("null if the
    # authentication method doesn't populate it").
    last_used: datetime | None = None

    @property
    def phone_type(self) -> str | None:
        return self.props.get("phoneType") if self.type == "phone" else None


@dataclass
class User:
    id: str
    upn: str
    display_name: str
    account_enabled: bool = True
    user_type: str = "Member"
    roles: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # group ids
    methods: list[Method] = field(default_factory=list)
    default_method: str | None = None
    per_user_mfa: str = "disabled"
    system_preferred: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    last_updated: datetime | None = None
    manager: str | None = None  # the manager's object id

    def find(self, method_id: str) -> Method | None:
        return next((m for m in self.methods if m.id == method_id), None)

    def default_target(self) -> Method | None:
        """The method the user's default (userPreferredMethodForSecondaryAuthentication) names: the first of
        its kind (push names an Authenticator registration, any of them)."""
        return next(iter(self.default_kind()), None)

    def default_kind(self) -> list[Method]:
        if not self.default_method or self.default_method not in DEFAULT_TARGETS:
            return []
        kind, phone_type = DEFAULT_TARGETS[self.default_method]
        return [m for m in self.methods if m.type == kind and m.phone_type == phone_type]

    def tap(self) -> Method | None:
        return next((m for m in self.methods if m.type == "temporaryAccessPass"), None)


@dataclass
class Tenant:
    id: str
    display_name: str
    domain: str
    users: dict[str, User] = field(default_factory=dict)
    by_upn: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # user ids in file order (paging is stable)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    tap_policy: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TAP_POLICY))
    ca_policies: list[dict[str, Any]] = field(default_factory=list)
    named_locations: list[dict[str, Any]] = field(default_factory=list)
    method_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    risk_detections: list[dict[str, Any]] = field(default_factory=list)
    risky_users: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    mail: list[dict[str, Any]] = field(default_factory=list)
    app: dict[str, str] = field(default_factory=dict)
    # The app's granted application permissions ("app": {"appRoles": [...]}); None: everything is granted.
    app_roles: set[str] | None = None
    clock: Clock = field(default_factory=Clock)
    servicenow: dict[str, Any] = field(default_factory=dict)
    licenses: dict[str, bool] = field(default_factory=lambda: {"P1": True, "P2": True})
    raw: dict[str, Any] = field(default_factory=dict)

    def user(self, key: str) -> User | None:
        uid = key if key in self.users else self.by_upn.get(key.lower())
        return self.users.get(uid) if uid else None

    def group_by_name(self, name: str) -> dict[str, Any] | None:
        lowered = name.lower()
        return next((g for g in self.groups.values() if g["displayName"].lower() == lowered), None)

    def add_user(self, user: User) -> None:
        self.users[user.id] = user
        self.by_upn[user.upn.lower()] = user.id
        self.order.append(user.id)


def method_from_spec(upn: str, index: int, spec: dict[str, Any], now: datetime) -> Method:
    kind = spec.get("type", "")
    if kind not in TYPES or kind == "password":
        raise ValueError(f"user {upn}: unknown method type {kind!r}")
    props = {k: v for k, v in spec.items() if k not in {"type", "id", "used", "createdDateTime", "lastUsedDateTime"}}
    if kind == "phone":
        props.setdefault("phoneType", "mobile")
        props.setdefault("phoneNumber", "+1 4255550100")
        props.setdefault("smsSignInState", "notAllowedByPolicy")
        method_id = PHONE_IDS[props["phoneType"]]
    elif kind == "email":
        props.setdefault("emailAddress", upn)
        method_id = EMAIL_ID
    else:
        method_id = spec.get("id") or stable_id(upn, kind, str(index))
    created = spec.get("createdDateTime")
    # A TAP with no dates was issued just now (so the demo has a usable one); other methods a month ago.
    default_when = now if kind == "temporaryAccessPass" else now - timedelta(days=30)
    when = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else default_when
    if kind == "temporaryAccessPass":
        props.setdefault("startDateTime", when.isoformat())
        props.setdefault("lifetimeInMinutes", 60)
        props.setdefault("isUsableOnce", True)
    last = spec.get("lastUsedDateTime")
    return Method(id=spec.get("id") or method_id, type=kind, props=props, created=when,
                  used=bool(spec.get("used", False)),
                  last_used=datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None)


def tenant_from_dict(data: dict[str, Any]) -> Tenant:
    info = data.get("tenant", {})
    domain = info.get("domain", "contoso.example")
    tenant = Tenant(id=info.get("id") or stable_id("tenant", domain), display_name=info.get("displayName", domain),
                    domain=domain, raw=data)
    app = dict(data.get("app", {}))
    roles = app.pop("appRoles", None)
    tenant.app_roles = {str(r) for r in roles} if isinstance(roles, list) else None
    tenant.app = {"displayName": "mfaops", "appId": stable_id("app", domain),
                  "servicePrincipalId": stable_id("sp", domain), **app}
    for group in data.get("groups", []):
        gid = group.get("id") or stable_id("group", group["displayName"])
        tenant.groups[gid] = {**group, "id": gid}
    now = tenant.clock.now()
    for spec in data.get("users", []):
        upn = spec["userPrincipalName"]
        group_ids = []
        for name in spec.get("groups", []):
            found = tenant.group_by_name(name) or tenant.groups.get(name)
            if found is None:
                gid = stable_id("group", name)
                found = tenant.groups.setdefault(gid, {"id": gid, "displayName": name})
            group_ids.append(found["id"])
        user = User(
            id=spec.get("id") or stable_id("user", upn.lower()), upn=upn,
            display_name=spec.get("displayName", upn.split("@")[0]),
            account_enabled=spec.get("accountEnabled", True), user_type=spec.get("userType", "Member"),
            roles=list(spec.get("roles", [])), groups=group_ids,
            methods=[method_from_spec(upn, i, m, now) for i, m in enumerate(spec.get("methods", []))],
            default_method=spec.get("defaultMethod"), per_user_mfa=spec.get("perUserMfaState", "disabled"),
            system_preferred=spec.get("isSystemPreferredAuthenticationMethodEnabled", True),
            extra={k: v for k, v in spec.items() if k in {"mail", "department", "jobTitle", "usageLocation",
                                                                "certificateUserIds", "mobilePhone",
                                                                "businessPhones"}},
        )
        tenant.add_user(user)
    for spec in data.get("users", []):
        if spec.get("manager"):  # a UPN (or an object id) of another user in the file
            boss = tenant.user(str(spec["manager"]))
            if boss is None:
                raise ValueError(f"user {spec['userPrincipalName']}: manager {spec['manager']!r} is not in the tenant")
            member = tenant.user(spec["userPrincipalName"])
            assert member is not None
            member.manager = boss.id
    policies = data.get("policies", {})
    tenant.tap_policy = {**DEFAULT_TAP_POLICY, **policies.get("temporaryAccessPass", {})}
    tenant.ca_policies = [{"id": p.get("id") or stable_id("ca", p.get("displayName", str(i))), **p}
                          for i, p in enumerate(policies.get("conditionalAccess", []))]
    tenant.method_configs = dict(policies.get("authenticationMethodConfigurations", {}))
    tenant.named_locations = [_named_location(i, n) for i, n in enumerate(policies.get("namedLocations", []))]
    tenant.sign_ins = [_with_user_id(tenant, r, "userId") for r in data.get("signIns", [])]
    tenant.risk_detections = [_with_user_id(tenant, r, "userId") for r in data.get("riskDetections", [])]
    tenant.risky_users = [_with_user_id(tenant, r, "id") for r in data.get("riskyUsers", [])]
    tenant.audits = list(data.get("directoryAudits", []))
    tenant.servicenow = dict(data.get("servicenow", {}))
    tenant.licenses = {"P1": True, "P2": True, **{k: bool(v) for k, v in data.get("licenses", {}).items()}}
    return tenant


def _named_location(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    """A named location as Graph shows it (namedlocation, ipnamedlocation, countrynamedlocation resources): the tenant
    file gives ``ipRanges`` (CIDR strings) and ``isTrusted``, or ``countriesAndRegions``."""
    base = {"id": spec.get("id") or stable_id("location", spec.get("displayName", str(index))),
            "displayName": spec.get("displayName", f"location {index}"),
            "createdDateTime": "2026-01-01T00:00:00Z", "modifiedDateTime": "2026-01-01T00:00:00Z"}
    if "countriesAndRegions" in spec:
        return {"@odata.type": "#microsoft.graph.countryNamedLocation", **base,
                "countriesAndRegions": list(spec["countriesAndRegions"]),
                "includeUnknownCountriesAndRegions": bool(spec.get("includeUnknownCountriesAndRegions", False)),
                "countryLookupMethod": spec.get("countryLookupMethod", "clientIpAddress")}
    ranges = [{"@odata.type": "#microsoft.graph.iPv6CidrRange" if ":" in r else "#microsoft.graph.iPv4CidrRange",
               "cidrAddress": r} for r in spec.get("ipRanges", [])]
    return {"@odata.type": "#microsoft.graph.ipNamedLocation", **base, "isTrusted": bool(spec.get("isTrusted")),
            "ipRanges": ranges}


def _with_user_id(tenant: Tenant, row: dict[str, Any], key: str) -> dict[str, Any]:
    """Rows in the file may name the user by UPN only; Graph rows carry the object id too."""
    user = tenant.user(row.get("userPrincipalName", "")) if row.get("userPrincipalName") else None
    if user is not None and not row.get(key):
        row = {**row, key: user.id, "userDisplayName": row.get("userDisplayName", user.display_name)}
    return row


def load_tenant(path: str | Path) -> Tenant:
    return tenant_from_dict(json.loads(Path(path).read_text()))


def role_template(name: str) -> str:
    return ROLE_TEMPLATES.get(name) or stable_id("role", name)


def new_tap_value(length: int) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%&*+="
    return "".join(secrets.choice(alphabet) for _ in range(length))
