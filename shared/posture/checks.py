"""The posture checks. Each reads the gathered tenant data and returns one Check with its evidence, the fix in
one sentence, and the public baseline controls it maps to (Maester, CISA ScubaGear, EIDSCA), saying where those
baselines are blind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.graph.method_names import PHISHING_RESISTANT_TYPES
from shared.posture.data import Account, TenantPosture
from shared.posture.grants import DETECTION, MAIL, POSTURE_FIX, RESET
from shared.posture.model import Check
from shared.settings import Settings

REGISTER = "urn:user:registersecurityinfo"
ACTIVE = {"enabled", "enabledForReportingButNotEnforced"}
PAA, AUTH_ADMIN, GA = ("Privileged Authentication Administrator", "Authentication Administrator",
                       "Global Administrator")
PHISHING_RESISTANT = set(PHISHING_RESISTANT_TYPES)  # decided once, in shared/graph/method_names.py


def _users(policy: dict[str, Any]) -> dict[str, Any]:
    return dict((policy.get("conditions") or {}).get("users") or {})


def targets_registration(policy: dict[str, Any]) -> bool:
    apps = (policy.get("conditions") or {}).get("applications") or {}
    return REGISTER in (apps.get("includeUserActions") or [])


def for_all_users(policy: dict[str, Any]) -> bool:
    return "All" in (_users(policy).get("includeUsers") or [])


def includes_guests(policy: dict[str, Any]) -> bool:
    users = _users(policy)
    return for_all_users(policy) or "GuestsOrExternalUsers" in (users.get("includeUsers") or []) or bool(
        users.get("includeGuestsOrExternalUsers"))


def grant(policy: dict[str, Any]) -> str:
    """block | mfa | strength | none: what the policy demands."""
    controls = (policy.get("grantControls") or {})
    built_in = controls.get("builtInControls") or []
    if "block" in built_in:
        return "block"
    if controls.get("authenticationStrength"):
        return "strength"
    if "mfa" in built_in:
        return "mfa"
    return "none"


def outside_trusted(policy: dict[str, Any]) -> bool:
    """Applies outside trusted locations: no location condition (everywhere), or all locations but some."""
    locations = (policy.get("conditions") or {}).get("locations")
    if not locations:
        return True
    return "All" in (locations.get("includeLocations") or [])


def protects(policy: dict[str, Any]) -> bool:
    return grant(policy) != "none" and outside_trusted(policy)


def applies_to(policy: dict[str, Any], account: Account) -> bool:
    users = _users(policy)
    ids = {account.id.lower(), account.upn.lower()}
    groups = {g.lower() for g in account.group_ids}
    roles = {r.lower() for r in account.role_template_ids}
    if ids & {u.lower() for u in users.get("excludeUsers") or []}:
        return False
    if groups & {g.lower() for g in users.get("excludeGroups") or []}:
        return False
    if roles & {r.lower() for r in users.get("excludeRoles") or []}:
        return False
    included = users.get("includeUsers") or []
    return ("All" in included or bool(ids & {u.lower() for u in included})
            or bool(groups & {g.lower() for g in users.get("includeGroups") or []})
            or bool(roles & {r.lower() for r in users.get("includeRoles") or []}))


def _ref(policy: dict[str, Any]) -> dict[str, str]:
    return {"id": str(policy.get("id", "")), "name": str(policy.get("displayName", "")),
            "state": str(policy.get("state", "")), "grant": grant(policy)}


# Registration must be protected from native apps too (Microsoft Authenticator registers from one): a policy for
# browsers only leaves it open (Maester PR #2175 flags it as well).
CLIENT_APP_TYPES = ("browser", "mobileAppsAndDesktopClients")


def registration_gaps(policy: dict[str, Any], locations: dict[str, dict[str, Any]]) -> list[str]:
    """Why a registration policy leaves registration open although it demands something: an excluded location that
    is not a trusted one (a country, an untrusted IP range: Maester MT.1011 passes both, maester#2227 and #2188), or
    client app types that miss the modern ones."""
    gaps = []
    conditions = policy.get("conditions") or {}
    for excluded in (conditions.get("locations") or {}).get("excludeLocations") or []:
        if excluded == "AllTrusted":
            continue
        found = locations.get(str(excluded).lower())
        if found is None:
            gaps.append(f"excludes location {excluded}, which is not a named location mfaops can see")
        elif not (found.get("@odata.type", "").endswith("ipNamedLocation") and found.get("isTrusted")):
            kind = "a country location" if "countriesAndRegions" in found else "an untrusted IP range"
            gaps.append(f"excludes {found.get('displayName', excluded)!s} ({kind}): registration is open from there")
    types = [str(t) for t in conditions.get("clientAppTypes") or ["all"]]
    if "all" not in types:
        missing = [t for t in CLIENT_APP_TYPES if t not in types]
        if missing:
            gaps.append(f"applies only to {', '.join(types)}: registration from {', '.join(missing)} is open")
    return gaps


def registration_ca(t: TenantPosture, s: Settings) -> Check:
    refs = ("Maester MT.1011 (passes a registration policy without looking at its grant controls, and one that "
            "excludes a country or an untrusted range or covers browsers only; mfaops fails those: maester#2227, "
            "#2188, PR #2175)",)
    locations = {str(n.get("id", "")).lower(): n for n in t.named_locations}
    candidates = [p for p in t.ca_policies if targets_registration(p) and for_all_users(p)]
    gaps = {str(p.get("id", "")): registration_gaps(p, locations) for p in candidates}
    good = [p for p in candidates if protects(p) and not gaps[str(p.get("id", ""))]]
    evidence = {"policies": [{**_ref(p), "gaps": gaps[str(p.get("id", ""))]} for p in candidates]}
    if any(p.get("state") == "enabled" for p in good):
        return Check("registration-ca", "pass", "An enabled Conditional Access policy protects security-info "
                     "registration for all users outside trusted locations.", evidence, references=refs)
    if any(p.get("state") == "enabledForReportingButNotEnforced" for p in good):
        return Check("registration-ca", "warn", "The policy protecting security-info registration is only in "
                     "report-only mode.", evidence, "Check `mfaops posture impact`, then `mfaops posture "
                     "apply-registration-policy --enable --by UPN`.", refs)
    active = [p for p in candidates if p.get("state") in ACTIVE]
    holes = [g for p in active if protects(p) for g in gaps[str(p.get("id", ""))]]
    if holes:
        why = "; ".join(holes)
    elif active:
        why = "a registration policy exists but demands nothing outside trusted locations"
    else:
        why = "no Conditional Access policy targets the user action urn:user:registersecurityinfo for all users"
    return Check("registration-ca", "fail", f"Security-info registration is not protected: {why}.", evidence,
                 "Exclude only trusted named locations (or AllTrusted) and cover all client apps; or run `mfaops "
                 "posture apply-registration-policy --report-only --by UPN`, review, then --enable.", refs)


def registration_managed_device(t: TenantPosture, s: Settings) -> Check:
    """CISA ScubaGear MS.AAD.3.8: managed devices SHOULD be required to register MFA (a compliant or hybrid-joined
    device in the registration policy's grant)."""
    refs = ("CISA ScubaGear MS.AAD.3.8",)
    candidates = [p for p in t.ca_policies if targets_registration(p) and for_all_users(p)]
    managed = [p for p in candidates if {"compliantDevice", "domainJoinedDevice"} & set(
        (p.get("grantControls") or {}).get("builtInControls") or [])]
    evidence = {"policies": [_ref(p) for p in managed]}
    if any(p.get("state") == "enabled" for p in managed):
        return Check("registration-managed-device", "pass", "Registering security info requires a managed device.",
                     evidence, references=refs)
    fix = ("Require a compliant or hybrid Microsoft Entra joined device in a Conditional Access policy for the user "
           "action urn:user:registersecurityinfo (a SHOULD of ScubaGear MS.AAD.3.8).")
    if managed:
        return Check("registration-managed-device", "warn", "The managed-device requirement for registration is "
                     "only in report-only mode.", evidence, fix, refs)
    return Check("registration-managed-device", "warn", "Security info can be registered from any device.", evidence,
                 fix, refs)


def break_glass_excluded(t: TenantPosture, s: Settings) -> Check:
    refs = ("Maester MT.1005",)
    misses = [{"policy": p.get("displayName", p.get("id")), "policy_id": p.get("id"), "account": a.upn}
              for p in t.ca_policies if p.get("state") in ACTIVE for a in t.break_glass if applies_to(p, a)]
    evidence: dict[str, Any] = {"accounts": [a.upn for a in t.break_glass], "not_excluded": misses,
                                "not_found": t.missing_break_glass}
    if not t.break_glass:
        return Check("break-glass-excluded", "fail", "No break-glass account is configured or found "
                     "(BREAK_GLASS_UPNS / BREAK_GLASS_GROUP).", evidence, "Name the emergency-access accounts in "
                     "BREAK_GLASS_UPNS or BREAK_GLASS_GROUP.", refs)
    if misses:
        return Check("break-glass-excluded", "fail", f"{len(misses)} policy/account pairs do not exclude a "
                     "break-glass account.", evidence, "Exclude the break-glass group from every policy named.", refs)
    if t.missing_break_glass:
        return Check("break-glass-excluded", "warn", "Some configured break-glass accounts do not exist.", evidence,
                     "Fix BREAK_GLASS_UPNS.", refs)
    return Check("break-glass-excluded", "pass", "Every break-glass account is excluded from every enabled or "
                 "report-only policy.", evidence, references=refs)


def tap_policy(t: TenantPosture, s: Settings) -> Check:
    refs = ("EIDSCA.AT01", "EIDSCA.AT02")
    config = t.method_config("TemporaryAccessPass")
    evidence = {k: config.get(k) for k in ("state", "defaultLifetimeInMinutes", "minimumLifetimeInMinutes",
                                           "maximumLifetimeInMinutes", "isUsableOnce", "includeTargets")}
    evidence["mfaops"] = {"TAP_LIFETIME_MINUTES": s.tap_lifetime_minutes, "TAP_USABLE_ONCE": s.tap_usable_once}
    if not s.default_issue_tap:
        return Check("tap-policy", "pass", "mfaops issues no TAPs (DEFAULT_ISSUE_TAP=false).", evidence,
                     references=refs)
    if config.get("state") != "enabled" or not config.get("includeTargets"):
        return Check("tap-policy", "fail", "mfaops issues TAPs but the Temporary Access Pass method is not enabled "
                     "for the users it resets.", evidence, "Enable the TAP method for the users mfaops resets.", refs)
    problems = []
    lifetime = s.tap_lifetime_minutes
    low, high = int(config.get("minimumLifetimeInMinutes") or 60), int(config.get("maximumLifetimeInMinutes") or 480)
    if lifetime and not low <= lifetime <= high:
        problems.append(f"TAP_LIFETIME_MINUTES={lifetime} is outside the policy's {low}-{high} minutes")
    if not s.tap_usable_once and config.get("isUsableOnce"):
        problems.append("TAP_USABLE_ONCE=false but the policy makes every pass one-time")
    if s.tap_usable_once is False and s.tap_allow_multi_use is False:
        problems.append("mfaops issues multi-use passes that its own sweep deletes (TAP_ALLOW_MULTI_USE=false)")
    if problems:
        return Check("tap-policy", "fail", "; ".join(problems) + ".", evidence,
                     "Bring TAP_LIFETIME_MINUTES / TAP_USABLE_ONCE within the TAP policy.", refs)
    return Check("tap-policy", "pass", "The TAP method is enabled and mfaops's lifetime and one-time settings fit "
                 "the policy.", evidence, references=refs)


def per_user_mfa(t: TenantPosture, s: Settings) -> Check:
    ca_in_use = any(p.get("state") == "enabled" for p in t.ca_policies)
    evidence = {"users": t.per_user_mfa, "checked": t.per_user_checked, "users_total": t.per_user_total,
                "conditional_access_in_use": ca_in_use}
    sampled = t.per_user_checked < t.per_user_total
    note = f" (checked {t.per_user_checked} of {t.per_user_total} users, POSTURE_PER_USER_MFA_MAX_USERS)" \
        if sampled else ""
    if t.per_user_mfa and ca_in_use:
        return Check("per-user-mfa", "warn", f"{len(t.per_user_mfa)} users are still enabled/enforced in legacy "
                     f"per-user MFA while Conditional Access is in use{note}.", evidence,
                     "Set them to disabled and let Conditional Access require MFA.")
    return Check("per-user-mfa", "pass", f"No user is left in legacy per-user MFA{note}." if not t.per_user_mfa
                 else "Per-user MFA is in use, but no Conditional Access policy is enabled to replace it.", evidence)


def privileged_role_holders(t: TenantPosture, s: Settings) -> Check:
    holders = {role: sorted(m["upn"] or m["id"] for m in t.role_members.get(role, [])) for role in (PAA, AUTH_ADMIN,
                                                                                                     GA)}
    distinct = {u for members in holders.values() for u in members}
    evidence = {"holders": holders, "count": len(distinct), "limit": s.max_privileged_auth_admins}
    if len(distinct) > s.max_privileged_auth_admins:
        return Check("privileged-role-holders", "warn", f"{len(distinct)} users can reset others' MFA at the top "
                     f"tier, more than MAX_PRIVILEGED_AUTH_ADMINS={s.max_privileged_auth_admins}.", evidence,
                     "Remove standing assignments; use PIM for eligible ones.")
    return Check("privileged-role-holders", "pass", f"{len(distinct)} holders of {PAA}, {AUTH_ADMIN} and {GA}.",
                 evidence)


def mfaops_permissions(t: TenantPosture, s: Settings) -> Check:
    mails = "mail" in s.alert_sink_set or _asks_managers(s)
    needed = set(RESET) | set(DETECTION) | (set(MAIL) if mails else set()) | (
        set(POSTURE_FIX) if s.posture_allow_fix else set())
    if t.granted is None:
        return Check("mfaops-permissions", "warn", "Could not read the permissions mfaops holds.",
                     {"needed": sorted(needed), "why": t.unavailable.get("grants", "")},
                     "Run `mfaops doctor` with the managed identity.")
    missing, extra = sorted(needed - t.granted), sorted(t.granted - needed)
    evidence = {"needed": sorted(needed), "granted": sorted(t.granted), "missing": missing, "extra": extra}
    if missing:
        return Check("mfaops-permissions", "fail", f"mfaops lacks {', '.join(missing)} for its enabled features.",
                     evidence, "Deploy bicep/graph-permissions.bicep with the flags of the enabled features.")
    if extra:
        return Check("mfaops-permissions", "warn", f"mfaops holds more than it needs: {', '.join(extra)}.", evidence,
                     "Remove the extra app role assignments (least privilege).")
    return Check("mfaops-permissions", "pass", "mfaops holds exactly what its enabled features need.", evidence)


def _open_to_all(config: dict[str, Any]) -> bool:
    return config.get("state") == "enabled" and any(str(t.get("id")) == "all_users"
                                                    for t in config.get("includeTargets") or [])


def weak_methods_policy(t: TenantPosture, s: Settings) -> Check:
    refs = ("CISA ScubaGear MS.AAD.3.5",)
    weak = [c for c in ("Sms", "Voice", "Email") if _open_to_all(t.method_config(c))]
    strong = [c for c in ("Fido2", "MicrosoftAuthenticator", "X509Certificate")
              if t.method_config(c).get("state") == "enabled"]
    evidence = {"weak_open_to_all": weak, "phishing_resistant_enabled": strong}
    if weak and strong:
        return Check("weak-methods-policy", "warn", f"{', '.join(weak)} are enabled for all users while "
                     f"{', '.join(strong)} are available.", evidence, "Disable SMS, voice and e-mail OTP, or scope "
                     "them to the groups that still need them.", refs)
    return Check("weak-methods-policy", "pass", "No weak method is open to all users alongside phishing-resistant "
                 "ones.", evidence, references=refs)


def break_glass_mfa_ready(t: TenantPosture, s: Settings) -> Check:
    x509 = t.method_config("X509Certificate")
    cba_targets = {str(x.get("id")) for x in x509.get("includeTargets") or []} if x509.get("state") == "enabled" \
        else set()
    ready, not_ready = [], []
    for account in t.break_glass:
        kinds = {m.type for m in account.methods}
        cba = bool(account.certificate_user_ids) and ("all_users" in cba_targets or bool(
            cba_targets & set(account.group_ids)))
        if kinds & PHISHING_RESISTANT or cba:
            ready.append({"account": account.upn, "via": sorted(kinds & PHISHING_RESISTANT) + (["certificate"]
                                                                                              if cba else [])})
        else:
            not_ready.append({"account": account.upn, "methods": sorted(kinds) or ["none"]})
    evidence = {"ready": ready, "not_ready": not_ready}
    if not_ready:
        return Check("break-glass-mfa-ready", "fail", f"{len(not_ready)} break-glass accounts hold no phishing-"
                     "resistant method; Microsoft's mandatory MFA for the admin portals applies to them too.",
                     evidence, "Register a FIDO2 key (or certificate-based authentication) on each; mfaops never "
                     "changes these accounts.")
    return Check("break-glass-mfa-ready", "pass", "Every break-glass account holds a phishing-resistant method.",
                 evidence)


def registration_guests(t: TenantPosture, s: Settings) -> Check:
    policies = [p for p in t.ca_policies if targets_registration(p) and includes_guests(p)
                and p.get("state") == "enabled"]
    evidence = {"policies": [_ref(p) for p in policies]}
    if any(grant(p) == "block" and outside_trusted(p) for p in policies):
        return Check("registration-guests", "pass", "Guests' registration is blocked outside trusted locations.",
                     evidence)
    if policies:
        return Check("registration-guests", "warn", "Guests are covered by a registration policy that requires "
                     "MFA, which a guest without methods cannot satisfy (a TAP does not work for guests).", evidence,
                     "Add a registration policy for guests that blocks outside trusted locations.")
    return Check("registration-guests", "fail", "No enabled registration policy covers guests.", evidence,
                 "Add a registration policy for GuestsOrExternalUsers that blocks outside trusted locations.")


def method_targets(t: TenantPosture, s: Settings) -> Check:
    allowed = {m.strip().lower() for m in s.posture_open_methods.split(",") if m.strip()}
    configs = t.methods_policy.get("authenticationMethodConfigurations") or []
    open_all = sorted(str(c.get("id")) for c in configs if _open_to_all(c))
    unexpected = [m for m in open_all if m.lower() not in allowed]
    evidence = {"open_to_all_users": open_all, "expected_open": sorted(allowed), "unexpected": unexpected}
    if unexpected:
        return Check("method-targets", "warn", f"{', '.join(unexpected)} can be registered by all users, beyond "
                     "POSTURE_OPEN_METHODS.", evidence, "Scope those methods to the groups that need them.")
    return Check("method-targets", "pass", "Only the expected methods are open to all users.", evidence)


def methods_migration(t: TenantPosture, s: Settings) -> Check:
    refs = ("CISA ScubaGear MS.AAD.3.4",)
    state = str(t.methods_policy.get("policyMigrationState") or "unknown")
    evidence = {"policyMigrationState": state}
    if state == "migrationComplete":
        return Check("methods-migration", "pass", "The authentication methods policy migration is complete.",
                     evidence, references=refs)
    return Check("methods-migration", "warn", f"The authentication methods policy migration is {state}: legacy "
                 "MFA and SSPR settings still decide which methods count.", evidence,
                 "Finish the migration in Entra (Authentication methods > Manage migration).", refs)


CHECKS: tuple[Callable[[TenantPosture, Settings], Check], ...] = (
    registration_ca, registration_managed_device, break_glass_excluded, tap_policy, per_user_mfa,
    privileged_role_holders, mfaops_permissions,
    weak_methods_policy, break_glass_mfa_ready, registration_guests, method_targets, methods_migration)


def run_checks(t: TenantPosture, s: Settings) -> list[Check]:
    return [check(t, s) for check in CHECKS]


def _asks_managers(s: Settings) -> bool:
    """Whether the verification policy in force mails managers (Mail.Send is then needed)."""
    from shared.verify.policy import VerifyPolicyError, policy_in_force

    try:
        policy = policy_in_force(s.verify_policy)
    except VerifyPolicyError:
        return False
    return policy is not None and any("manager" in t.require.kinds for t in policy.tiers)
