"""The `unused` rule: which methods went unused past the rule's days, which cannot be judged (Graph gives no
lastUsedDateTime: "null if the authentication method doesn't populate it"), and which a rule must leave so the user
keeps a method to sign in with.

A method satisfies the tenant's MFA when it is a second factor (not e-mail, which serves self-service password
reset only, and not a Temporary Access Pass, which expires) and its method is enabled in the tenant's
authentication methods policy (learn.microsoft.com/graph/api/resources/authenticationmethodspolicy): Microsoft
Authenticator, FIDO2, software and hardware OATH each by their own configuration, a mobile phone by SMS or voice, an
office phone by voice; Windows Hello for Business and platform credentials are configured outside that policy and
always count. A policy that cannot be read leaves nothing to decide with, and the plan is refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.isotime import parse_time

# method resource -> the authenticationMethodConfiguration ids that enable it (any one enabled is enough); None:
# configured outside the methods policy, always counted.
_ENABLED_BY: dict[str, tuple[str, ...] | None] = {
    "microsoftAuthenticatorAuthenticationMethod": ("MicrosoftAuthenticator",),
    "fido2AuthenticationMethod": ("Fido2",),
    "softwareOathAuthenticationMethod": ("SoftwareOath",),
    "hardwareOathAuthenticationMethod": ("HardwareOath",),
    "phoneAuthenticationMethod": ("Sms", "Voice"),
    "windowsHelloForBusinessAuthenticationMethod": None,
    "platformCredentialAuthenticationMethod": None,
    "externalAuthenticationMethod": None,
}


def enabled_configurations(policy: dict[str, Any]) -> set[str]:
    return {str(c.get("id")) for c in policy.get("authenticationMethodConfigurations") or []
            if c.get("state") == "enabled"}


def resource(method: dict[str, Any]) -> str:
    return str(method.get("@odata.type", "")).rsplit(".", 1)[-1]


def satisfies_mfa(method: dict[str, Any], enabled: set[str]) -> bool:
    kind = resource(method)
    if kind not in _ENABLED_BY:
        return False
    needs = _ENABLED_BY[kind]
    if needs is None:
        return True
    if kind == "phoneAuthenticationMethod" and method.get("phoneType") == "office":
        needs = ("Voice",)  # an office phone takes calls, not texts
    return bool(set(needs) & enabled)


# userPreferredMethodForSecondaryAuthentication -> the method it names (resource, phoneType or None).
_DEFAULT_NAMES = {"push": ("microsoftAuthenticatorAuthenticationMethod", None),
                  "oath": ("softwareOathAuthenticationMethod", None),
                  "sms": ("phoneAuthenticationMethod", "mobile"),
                  "voiceMobile": ("phoneAuthenticationMethod", "mobile"),
                  "voiceAlternateMobile": ("phoneAuthenticationMethod", "alternateMobile"),
                  "voiceOffice": ("phoneAuthenticationMethod", "office")}


def is_default(method: dict[str, Any], default: str | None) -> bool:
    named = _DEFAULT_NAMES.get(default or "")
    return named is not None and resource(method) == named[0] and named[1] in (None, method.get("phoneType"))


def _keep_order(default: str | None, chosen: list[dict[str, Any]]) -> Any:
    """What to keep, best first: never an alternate mobile phone while the mobile phone goes (Graph refuses to
    delete the mobile number before the alternate), then the user's default (Graph refuses to delete it while other
    methods remain, and it is the one they sign in with), then the most recently used, then the newest."""
    mobile_goes = any(resource(m) == "phoneAuthenticationMethod" and m.get("phoneType") == "mobile" for m in chosen)

    def order(m: dict[str, Any]) -> tuple[bool, bool, str, str]:
        blocked = mobile_goes and m.get("phoneType") == "alternateMobile"
        return (not blocked, is_default(m, default), str(m.get("lastUsedDateTime") or ""),
                str(m.get("createdDateTime") or ""))

    return order


@dataclass
class Judged:
    chosen: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    held: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (method, reason)


def judge(candidates: list[dict[str, Any]], methods: list[dict[str, Any]], *, days: int, now: datetime,
          allow_last: bool, enabled: set[str] | None, default: str | None = None) -> Judged:
    """``candidates``: the user's methods of the rule's types; ``methods``: all the user's methods (not the
    password). ``enabled``: the methods policy's enabled configurations (needed unless ``allow_last``)."""
    out = Judged()
    cutoff = now - timedelta(days=days)
    for method in candidates:
        used = parse_time(method.get("lastUsedDateTime"))
        if used is None:
            out.unknown.append(method)
        elif used < cutoff:
            out.chosen.append(method)
    if allow_last or not out.chosen:
        return out
    if enabled is None:
        raise ValueError("the authentication methods policy is needed to decide what satisfies MFA")
    chosen_ids = {str(m.get("id")) for m in out.chosen}
    rest = [m for m in methods if str(m.get("id")) not in chosen_ids and resource(m) != "passwordAuthenticationMethod"]
    if not any(satisfies_mfa(m, enabled) for m in rest):
        # Keep the most recently used of what the rule chose that satisfies MFA, else the most recent of all.
        keepable = sorted((m for m in out.chosen if satisfies_mfa(m, enabled)), key=_keep_order(default, out.chosen),
                          reverse=True)
        if keepable:
            out.held.append((keepable[0], "keeps_mfa"))
        elif not rest:
            out.held.append((max(out.chosen, key=_keep_order(default, out.chosen)), "last_method"))
        out.chosen = [m for m in out.chosen if all(m is not h for h, _ in out.held)]
    return out
