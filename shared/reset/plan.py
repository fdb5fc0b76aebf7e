"""The order in which a user's methods are removed.

Graph refuses to delete the default method while other methods remain, and refuses to delete the mobile
phone while an alternate mobile remains. So: everything else first, then the mobile phone, then the
default method's kind last. When the default is the alternate mobile and a mobile exists the two rules
cross; the plan first moves the default to the mobile phone.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.graph.port import AuthMethod

# userPreferredMethodForSecondaryAuthentication -> (method type, phoneType or None)
DEFAULT_KINDS: dict[str, tuple[str, str | None]] = {
    "push": ("microsoftAuthenticator", None),
    "oath": ("softwareOath", None),
    "sms": ("phone", "mobile"),
    "voiceMobile": ("phone", "mobile"),
    "voiceAlternateMobile": ("phone", "alternateMobile"),
    "voiceOffice": ("phone", "office"),
}


@dataclass(frozen=True, slots=True)
class RemovalPlan:
    waves: list[list[AuthMethod]]
    kept: list[AuthMethod]
    switch_default_to: str | None = None

    @property
    def count(self) -> int:
        return sum(len(w) for w in self.waves)


def _is_kind(method: AuthMethod, kind: tuple[str, str | None] | None) -> bool:
    return kind is not None and method.type == kind[0] and (kind[1] is None or method.label == kind[1])


def plan_removal(methods: list[AuthMethod], default: str | None) -> RemovalPlan:
    removable = [m for m in methods if m.removable]
    kept = [m for m in methods if not m.removable]
    switch = None
    has_mobile = any(m.type == "phone" and m.label == "mobile" for m in removable)
    if default == "voiceAlternateMobile" and has_mobile:
        switch, default = "voiceMobile", "voiceMobile"
    kind = DEFAULT_KINDS.get(default or "")
    last = [m for m in removable if _is_kind(m, kind)]
    mobile = [m for m in removable if m.type == "phone" and m.label == "mobile" and m not in last]
    first = [m for m in removable if m not in last and m not in mobile]
    return RemovalPlan(waves=[w for w in (first, mobile, last) if w], kept=kept, switch_default_to=switch)
