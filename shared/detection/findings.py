"""A finding: one rule's hit on one event (or on one mfaops job), with one sentence of evidence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.detection.events import iso

SEVERITIES = ("low", "medium", "high", "critical")


def lower(severity: str) -> str:
    index = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    return SEVERITIES[max(0, index - 1)]


def at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)


@dataclass(frozen=True, slots=True)
class Finding:
    event_id: str
    rule: str
    severity: str
    target: str
    summary: str
    time: datetime
    target_id: str = ""
    actor: str = ""
    ip: str = ""
    methods: tuple[str, ...] = ()
    expected: bool = False
    expected_by: str = ""  # the mfaops job whose TAP made the registration expected

    @property
    def finding_id(self) -> str:
        return hashlib.sha256(f"{self.rule}|{self.event_id}".encode()).hexdigest()[:24]

    def marked_expected(self, job_id: str, *, mode: str) -> Finding:
        severity = lower(self.severity) if mode == "downgrade" else self.severity
        return replace(self, expected=True, expected_by=job_id, severity=severity)

    def to_line(self) -> dict[str, Any]:
        return {"kind": "finding", "event_id": self.event_id, "rule": self.rule, "severity": self.severity,
                "target": self.target, "summary": self.summary}

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_line(), "finding_id": self.finding_id, "time": iso(self.time), "target_id": self.target_id,
                "actor": self.actor, "ip": self.ip, "methods": list(self.methods), "expected": self.expected,
                "expected_by": self.expected_by}
