"""One registration, not two: Entra writes a Core Directory "Update user" next to the Authentication Methods
event for the same change (same user, seconds apart, often the same correlation id). The twin's facts (phone
hashes, the methods diff) are folded into the Authentication Methods record and the twin is dropped.

Events are held for ``window`` of event time only, so memory stays bounded on a stream of any length, and the
stream may come oldest or newest first (Graph lists newest first unless asked otherwise)."""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from shared.detection.events import Registration

WINDOW = timedelta(seconds=60)
MAX_HELD = 5000


def _twins(a: Registration, b: Registration) -> bool:
    if {a.service, b.service} != {"Authentication Methods", "Core Directory"}:
        return False
    if (a.target_id or a.target).lower() != (b.target_id or b.target).lower():
        return False
    if a.correlation_id and a.correlation_id == b.correlation_id:
        return True
    if abs(a.time - b.time) > timedelta(seconds=30):
        return False
    twin = a if a.service == "Core Directory" else b
    other = b if twin is a else a
    shared = set(twin.methods_added) & set(other.methods_added) or set(twin.methods_removed) & set(
        other.methods_removed)
    return bool(shared) or not (other.methods_added or other.methods_removed)


def _merge(primary: Registration, twin: Registration) -> None:
    primary.phones = list(dict.fromkeys(primary.phones + twin.phones))
    if not primary.methods_added and twin.methods_added:
        primary.methods_added = list(twin.methods_added)
    if not primary.methods_removed and twin.methods_removed:
        primary.methods_removed = list(twin.methods_removed)
    primary.default_changed = primary.default_changed or twin.default_changed
    primary.ip = primary.ip or twin.ip


class Correlator:
    def __init__(self, window: timedelta = WINDOW) -> None:
        self._held: deque[Registration] = deque()
        self._by_user: dict[str, list[Registration]] = {}
        self._window = window
        self.merged = 0

    def push(self, reg: Registration) -> list[Registration]:
        ready = []
        while self._held and (abs(self._held[0].time - reg.time) > self._window or len(self._held) >= MAX_HELD):
            gone = self._held.popleft()
            if not gone.merged_away:
                ready.append(gone)
            self._forget(gone)
        key = (reg.target_id or reg.target).lower()
        if reg.service in {"Authentication Methods", "Core Directory"} and reg.kind != "per_user_mfa_off":
            for held in self._by_user.get(key, ()):
                if not held.merged_away and _twins(held, reg):
                    primary, twin = (held, reg) if held.service == "Authentication Methods" else (reg, held)
                    _merge(primary, twin)
                    self.merged += 1
                    if primary is held:
                        return ready  # the new event is the twin: dropped
                    held.merged_away = True  # the held one was the twin: the new event takes its place
                    break
        self._held.append(reg)
        self._by_user.setdefault(key, []).append(reg)
        return ready

    def _forget(self, reg: Registration) -> None:
        key = (reg.target_id or reg.target).lower()
        same = self._by_user.get(key)
        if same:
            same.remove(reg)
            if not same:
                del self._by_user[key]

    def flush(self) -> list[Registration]:
        out = [r for r in self._held if not r.merged_away]
        self._held.clear()
        self._by_user.clear()
        return out
