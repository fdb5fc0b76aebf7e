"""What `mfaops doctor` checks: every setting, every service reached, and what the identity lacks per feature,
each check pass / fail / skip with one line of fix. Graph permissions are probed with harmless reads (a 403 says the
permission is missing); writes cannot be probed, so with a token they are read from its ``roles``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiota_abstractions.method import Method

from shared.bootstrap import Container
from shared.errors import GraphForbiddenError
from shared.jobs.model import JobState


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # pass | warn | fail | skip
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


# feature -> (permission, a read that needs it, or None for a write that only a token's roles can show)
FEATURES: list[tuple[str, str, str | None]] = [
    ("reset", "Directory.Read.All", "/users/{user}/transitiveMemberOf"),
    ("reset", "UserAuthenticationMethod.ReadWrite.All", "/users/{user}/authentication/methods"),
    ("reset", "Policy.Read.All", "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/"
                                 "TemporaryAccessPass"),
    ("reset", "User.RevokeSessions.All", None),
    ("detection", "AuditLog.Read.All", "/auditLogs/directoryAudits?$top=1"),
    ("detection", "IdentityRiskyUser.Read.All", "/identityProtection/riskyUsers?$top=1"),
    ("detection", "IdentityRiskEvent.Read.All", "/identityProtection/riskDetections?$top=1"),
]


async def diagnose(container: Container, *, roles: frozenset[str] | None) -> list[Check]:
    checks = [Check("settings", "pass", "every setting is valid"), _verification(container)]
    checks.append(await _storage(container))
    graph_check, user_id = await _graph(container)
    checks.append(graph_check)
    if user_id:
        checks += await _permissions(container, user_id, roles)
    checks.append(await _servicenow(container))
    checks.append(_servicebus(container))
    return checks


def _verification(container: Container) -> Check:
    """The proof-before-reset gate: off is a warning (any approved ticket then resets MFA), unreadable a failure."""
    from shared.verify.policy import VerifyPolicyError, policy_in_force

    settings = container.settings
    try:
        policy = policy_in_force(settings.verify_policy)
    except VerifyPolicyError as exc:
        return Check("verification", "fail", str(exc)[:200], "fix the policy file (errors name line and field)")
    if policy is None:
        return Check("verification", "warn", "VERIFY_POLICY=none: resets are not gated by any proof of identity; "
                     "an approved ticket alone resets MFA", "unset VERIFY_POLICY (the built-in policy) or name a "
                     "policy file")
    tiers = ", ".join(f"{t.id} ({t.require.mode} of {', '.join(t.require.kinds) or 'nothing'})" for t in policy.tiers)
    if any("manager" in t.require.kinds for t in policy.tiers) and not settings.alert_mail_from:
        return Check("verification", "warn", f"tiers {tiers}; managers are not mailed: ALERT_MAIL_FROM is not set",
                     "set ALERT_MAIL_FROM to the mfaops mailbox (and grant Mail.Send confined to it)")
    return Check("verification", "pass", f"tiers {tiers}")


async def _storage(container: Container) -> Check:
    try:
        await container.job_store().ensure_tables()
        await container.job_store().list_by_state(JobState.FAILED, 1)
    except Exception as exc:  # any failure to reach Storage is the finding
        return Check("storage", "fail", f"{type(exc).__name__}: {str(exc)[:160]}",
                     "set TABLE_SERVICE_URL (and give the identity Storage Table Data Contributor) or "
                     "TABLE_CONNECTION_STRING")
    return Check("storage", "pass", f"tables {container.settings.jobs_table}, {container.settings.jobs_by_user_table}")


async def _raw(container: Container, path: str) -> Any:
    gateway: Any = container.graph()
    return await gateway._raw(Method.GET, gateway._v1 + path)


async def _graph(container: Container) -> tuple[Check, str]:
    try:
        page = await _raw(container, "/users?$top=1&$select=id")
    except GraphForbiddenError:
        return (Check("graph", "fail", "Graph answered 403 to GET /users",
                      "grant Directory.Read.All (bicep/graph-permissions.bicep)"), "")
    except Exception as exc:  # unreachable, no credential: the finding
        return (Check("graph", "fail", f"{type(exc).__name__}: {str(exc)[:160]}",
                      "check GRAPH_BASE_URL and the identity (az login, AZURE_CLIENT_ID, managed identity)"), "")
    users = (page or {}).get("value") or []
    return (Check("graph", "pass", f"reached {container.settings.graph_base_url}"),
            str(users[0]["id"]) if users else "")


async def _permissions(container: Container, user_id: str, roles: frozenset[str] | None) -> list[Check]:
    out = []
    for feature, permission, probe in FEATURES:
        name = f"permission {permission} ({feature})"
        if probe is None:
            if roles is None:
                out.append(Check(name, "skip", "a write: not probed, and no token to read roles from"))
            elif permission in roles:
                out.append(Check(name, "pass", "in the token's roles"))
            else:
                out.append(Check(name, "fail", "not in the token's roles",
                                 f"grant {permission} (bicep/graph-permissions.bicep)"))
            continue
        try:
            await _raw(container, probe.format(user=user_id))
        except GraphForbiddenError:
            out.append(Check(name, "fail", f"403 on GET {probe.split('?')[0]}",
                             f"grant {permission} (bicep/graph-permissions.bicep)"))
            continue
        except Exception as exc:  # a licence or an outage: say it, do not guess
            out.append(Check(name, "fail", f"{type(exc).__name__}: {str(exc)[:160]}", "see the error"))
            continue
        out.append(Check(name, "pass", f"GET {probe.split('?')[0]} answered"))
    return out


async def _servicenow(container: Container) -> Check:
    if not container.settings.servicenow_instance_url:
        return Check("servicenow", "fail", "SERVICENOW_INSTANCE_URL is not set", "set SERVICENOW_INSTANCE_URL")
    try:
        await container.tickets().get_ticket("sc_req_item", "0" * 32)
    except Exception as exc:  # wrong password, unreachable instance
        return Check("servicenow", "fail", f"{type(exc).__name__}: {str(exc)[:160]}",
                     "check SERVICENOW_INSTANCE_URL, SERVICENOW_USERNAME and SERVICENOW_PASSWORD")
    return Check("servicenow", "pass", f"Table API at {container.settings.servicenow_instance_url} answered")


def _servicebus(container: Container) -> Check:
    queue = container._queue  # the local host's queue when --local
    if queue is not None:
        return Check("servicebus", "pass", "the local host's queue")
    if not container.settings.servicebus_namespace:
        return Check("servicebus", "fail", "ServiceBusConnection__fullyQualifiedNamespace is not set",
                     "set it to NAMESPACE.servicebus.windows.net")
    return Check("servicebus", "pass", f"namespace {container.settings.servicebus_namespace} configured "
                                       "(sending is checked by the first reset)")
