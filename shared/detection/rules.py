"""Rules that need no tenant context: they read the event stream alone (``mfaops monitor classify`` runs
only these), keeping small windows of state whose size is bounded, never the whole stream.

Each rule's window and threshold is a setting; the ideas and the public rules they come from are listed in the
README ("Registration monitor") after ../shared/reference/detections.md.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import timedelta

from shared.detection.events import Registration
from shared.detection.findings import Finding
from shared.settings import Settings

CHANGES = frozenset({"registered", "updated", "deleted", "default"})
ADDS = frozenset({"registered", "updated"})
STATE_CAP = 100_000  # entries per keyed map: memory stays bounded on any stream


@dataclass(frozen=True, slots=True)
class RuleConfig:
    break_glass: frozenset[str]
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    country_codes: tuple[str, ...]
    tap_max_age: timedelta
    tap_allow_multi_use: bool
    burst_threshold: int
    burst_window: timedelta
    actor_threshold: int
    actor_window: timedelta
    shared_phone_users: int
    sspr_window: timedelta
    own_app_ids: frozenset[str]

    @classmethod
    def from_settings(cls, s: Settings) -> RuleConfig:
        return cls(break_glass=frozenset(s.break_glass_upn_set), trusted=s.trusted_networks,
                   country_codes=s.allowed_phone_codes, tap_max_age=timedelta(hours=s.tap_max_age_hours),
                   tap_allow_multi_use=s.tap_allow_multi_use, burst_threshold=s.monitor_burst_threshold,
                   burst_window=timedelta(minutes=s.monitor_burst_window_minutes),
                   actor_threshold=s.monitor_actor_threshold,
                   actor_window=timedelta(minutes=s.monitor_actor_window_minutes),
                   shared_phone_users=s.monitor_shared_phone_users,
                   sspr_window=timedelta(hours=s.monitor_sspr_window_hours),
                   own_app_ids=frozenset(a.lower() for a in s.mfaops_app_id_set))


def in_networks(ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks if net.version == address.version)


class _Capped(OrderedDict[str, object]):
    def touch(self, key: str, default: object) -> object:
        if key in self:
            self.move_to_end(key)
            return self[key]
        self[key] = default
        if len(self) > STATE_CAP:
            self.popitem(last=False)
        return default

    def put(self, key: str, value: object) -> None:
        self.touch(key, value)
        self[key] = value


class StreamRules:
    def __init__(self, config: RuleConfig) -> None:
        self.c = config
        self._by_ip = _Capped()
        self._by_actor = _Capped()
        self._phones = _Capped()
        self._last_change = _Capped()
        self._last_sspr = _Capped()

    def own(self, reg: Registration) -> bool:
        """mfaops's own app made the change (its jobs say why; the scan checks that a job did)."""
        return reg.actor_kind == "app" and reg.app_id.lower() in self.c.own_app_ids

    def evaluate(self, reg: Registration) -> list[Finding]:
        out: list[Finding] = []

        def hit(rule: str, severity: str, summary: str, event_id: str | None = None) -> None:
            out.append(Finding(event_id=event_id or reg.event_id, rule=rule, severity=severity, target=reg.target,
                               summary=summary, time=reg.time, target_id=reg.target_id, actor=reg.actor, ip=reg.ip,
                               methods=tuple(reg.methods_added or reg.methods_removed)))

        target_keys = {reg.target.lower(), reg.target_id.lower()} - {""}
        what = ", ".join(reg.methods_added or reg.methods_removed) or "security info"
        if reg.kind in CHANGES | {"per_user_mfa_off"} and target_keys & self.c.break_glass:
            hit("break-glass-target", "critical", f"{reg.activity} on break-glass account {reg.target} ({what}) "
                f"by {reg.actor or 'Microsoft'}")
        if reg.kind == "per_user_mfa_off":
            hit("per-user-mfa-disabled", "high", f"per-user MFA switched off for {reg.target} by "
                f"{reg.actor or 'Microsoft'}")
        if reg.kind in ADDS and "temporaryAccessPass" in reg.methods_added and reg.by_admin and not self.own(reg):
            hit("admin-tap-created", "high", f"{reg.actor} created a Temporary Access Pass for {reg.target} "
                "outside an mfaops job")
        if reg.tap is not None and reg.kind in ADDS:
            problems = []
            if reg.tap.usage.lower() == "multiple" and not self.c.tap_allow_multi_use:
                problems.append("multi-use")
            if reg.tap.start and reg.tap.end and reg.tap.end - reg.tap.start > self.c.tap_max_age:
                hours = (reg.tap.end - reg.tap.start).total_seconds() / 3600
                problems.append(f"valid {hours:.0f} h, over TAP_MAX_AGE_HOURS")
            if problems:
                hit("tap-policy", "medium", f"Temporary Access Pass for {reg.target} breaks policy: "
                    + ", ".join(problems))
        if reg.kind in ADDS:
            self._phone_rules(reg, hit)
        if reg.kind in ADDS and reg.ip and self.c.trusted and not in_networks(reg.ip, self.c.trusted):
            hit("untrusted-ip", "medium", f"{reg.target} registered {what} from {reg.ip}, outside TRUSTED_IP_RANGES")
        if reg.kind in ADDS and reg.ip:
            users = self._window(self._by_ip, reg.ip, reg, self.c.burst_window)
            if len(users) == self.c.burst_threshold:
                hit("ip-burst", "high", f"{len(users)} users registered security info from {reg.ip} within "
                    f"{int(self.c.burst_window.total_seconds() // 60)} min")
        if reg.kind in CHANGES and reg.by_admin and not self.own(reg) and reg.actor:
            users = self._window(self._by_actor, reg.actor.lower(), reg, self.c.actor_window)
            if len(users) == self.c.actor_threshold:
                hit("one-actor-many-users", "high", f"{reg.actor} changed the methods of {len(users)} users "
                    f"within {int(self.c.actor_window.total_seconds() // 60)} min")
        self._sspr_rule(reg, hit)
        return out

    def _window(self, store: _Capped, key: str, reg: Registration, window: timedelta) -> set[str]:
        seen = store.touch(key, deque())
        assert isinstance(seen, deque)
        seen.append((reg.time, reg.target_id or reg.target))
        while seen and abs(seen[0][0] - reg.time) > window:
            seen.popleft()
        if len(seen) > 1000:
            seen.popleft()
        return {t for _, t in seen}

    def _phone_rules(self, reg: Registration, hit: object) -> None:
        for digest, code in reg.phones:
            if self.c.country_codes and code and not any(code == c or code.startswith(c)
                                                         for c in self.c.country_codes):
                hit("phone-country", "medium",  # type: ignore[operator]
                    f"{reg.target} registered a phone number with country code {code}, outside "
                    "ALLOWED_PHONE_COUNTRY_CODES")
            users = self._phones.touch(digest, set())
            assert isinstance(users, set)
            user = (reg.target_id or reg.target).lower()
            if user not in users:
                users.add(user)
                if len(users) == self.c.shared_phone_users:
                    hit("shared-phone", "high",  # type: ignore[operator]
                        f"the phone number {reg.target} registered is on {len(users)} users")

    def _sspr_rule(self, reg: Registration, hit: object) -> None:
        user = (reg.target_id or reg.target).lower()
        if reg.kind in ADDS:
            self._last_change.put(user, reg.time)
            sspr = self._last_sspr.get(user)
            if isinstance(sspr, tuple) and timedelta(0) <= sspr[0] - reg.time <= self.c.sspr_window:
                hit("registration-then-sspr", "high",  # type: ignore[operator]
                    f"{reg.target} registered security info, then reset their password (self-service)", sspr[1])
        elif reg.kind == "sspr":
            self._last_sspr.put(user, (reg.time, reg.event_id))
            last = self._last_change.get(user)
            if last is not None and timedelta(0) <= reg.time - last <= self.c.sspr_window:  # type: ignore[operator]
                hit("registration-then-sspr", "high",  # type: ignore[operator]
                    f"{reg.target} reset their password (self-service) after registering security info")
