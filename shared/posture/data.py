"""What the posture checks read from the tenant, gathered once per run (Conditional Access and Identity
Protection share one request per second per tenant: a handful of reads, not one per check)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from shared.errors import GraphError
from shared.graph.port import AuthMethod, GraphGateway
from shared.posture.grants import GrantSource
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    upn: str
    group_ids: frozenset[str] = frozenset()
    role_template_ids: frozenset[str] = frozenset()
    methods: tuple[AuthMethod, ...] = ()
    certificate_user_ids: tuple[str, ...] = ()


@dataclass
class TenantPosture:
    tenant: str
    ca_policies: list[dict[str, Any]]
    methods_policy: dict[str, Any]
    role_members: dict[str, list[dict[str, str]]]
    break_glass: list[Account]
    missing_break_glass: list[str]  # UPNs in BREAK_GLASS_UPNS the tenant does not have
    per_user_mfa: dict[str, str]  # upn -> enabled | enforced (only those)
    per_user_checked: int
    per_user_total: int
    granted: frozenset[str] | None
    unavailable: dict[str, str] = field(default_factory=dict)
    named_locations: list[dict[str, Any]] = field(default_factory=list)

    def method_config(self, config_id: str) -> dict[str, Any]:
        for config in self.methods_policy.get("authenticationMethodConfigurations") or []:
            if str(config.get("id", "")).lower() == config_id.lower():
                return dict(config)
        return {}


async def gather(graph: GraphGateway, settings: Settings, grants: GrantSource | None, *,
                 per_user: bool = True) -> TenantPosture:
    unavailable: dict[str, str] = {}

    async def read(name: str, call: Any, default: Any) -> Any:
        try:
            return await call()
        except GraphError as exc:
            unavailable[name] = f"{exc.code or exc.status}: {exc.args[0]}"
            return default

    org = await read("organization", graph.organization, {})
    policies = await read("conditional_access", graph.ca_policies, [])
    locations = await read("named_locations", graph.named_locations, [])
    methods = await read("methods_policy", graph.methods_policy, {})
    roles = await read("roles", graph.role_members, {})
    accounts, missing = await _break_glass(graph, settings, read)
    found, checked, total = await _per_user(graph, settings, read) if per_user else ({}, 0, 0)
    granted = None
    if grants is not None:
        try:
            granted = await grants.roles()
        except Exception as exc:  # no token, no control route: the check says so instead of guessing
            unavailable["grants"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    tenant = str(org.get("displayName") or org.get("id") or "")
    return TenantPosture(tenant=tenant, ca_policies=policies, methods_policy=methods, role_members=roles,
                         break_glass=accounts, missing_break_glass=missing, per_user_mfa=found,
                         per_user_checked=checked, per_user_total=total, granted=granted, unavailable=unavailable,
                         named_locations=locations)


async def _break_glass(graph: GraphGateway, settings: Settings, read: Any) -> tuple[list[Account], list[str]]:
    keys = set(settings.break_glass_upn_set)
    if settings.break_glass_group.strip():
        keys |= await read("break_glass_group", lambda: graph.group_member_ids(settings.break_glass_group.strip()),
                           set())
    accounts, missing = [], []
    for key in sorted(keys):
        try:
            snap = await graph.snapshot(key)
        except GraphError:
            missing.append(key)
            continue
        certs = await read("certificate_user_ids", lambda uid=snap.user.id: graph.certificate_user_ids(uid), [])
        # Every group, every page: the CA exclusions are checked against all of the account's groups.
        held = await read("memberships", lambda uid=snap.user.id: graph.memberships(uid), snap.memberships)
        accounts.append(Account(id=snap.user.id, upn=snap.user.upn, group_ids=held.group_ids,
                                role_template_ids=snap.memberships.role_template_ids, methods=tuple(snap.methods),
                                certificate_user_ids=tuple(certs)))
    return accounts, missing


async def _per_user(graph: GraphGateway, settings: Settings, read: Any) -> tuple[dict[str, str], int, int]:
    """Legacy per-user MFA has no bulk read: one beta authentication/requirements read per user, and those count
    in the reports bucket (5 per 10 s), so a run reads a sample of POSTURE_PER_USER_MFA_MAX_USERS users."""
    users = await read("users", lambda: graph.list_users("accountEnabled eq true", ["id", "userPrincipalName"]), [])
    sample = users[:settings.posture_per_user_mfa_max_users]
    gate = asyncio.Semaphore(8)
    found: dict[str, str] = {}

    async def one(user: dict[str, Any]) -> None:
        async with gate:
            try:
                state = await graph.per_user_mfa(str(user["id"]))
            except GraphError:
                return
        if state in {"enabled", "enforced"}:
            found[str(user.get("userPrincipalName") or user["id"])] = state

    await asyncio.gather(*(one(u) for u in sample))
    return found, len(sample), len(users)
