"""A check's result and a run of them: the `posture check --json` contract."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATUSES = ("pass", "warn", "fail")
# Ids of the public baselines a check maps to: Maester MT.nnnn, CISA ScubaGear MS.AAD.x.y(vN), EIDSCA.XXnn.
_BASELINE_ID = re.compile(r"\b(MT\.\d{4}|MS\.AAD\.\d+\.\d+(?:v\d+)?|EIDSCA\.[A-Z]{2}\d{2})\b")


def worse(a: str, b: str) -> bool:
    """True when status ``a`` is worse than ``b``."""
    return STATUSES.index(a) > STATUSES.index(b)


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    status: str  # pass | warn | fail
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    references: tuple[str, ...] = ()

    @property
    def baseline_ids(self) -> list[str]:
        """The Maester, ScubaGear and EIDSCA ids this check covers, for a team that runs those to compare."""
        return sorted(set(_BASELINE_ID.findall(" ".join(self.references))))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "summary": self.summary, "evidence": self.evidence,
                "fix": self.fix, "references": list(self.references), "baseline_ids": self.baseline_ids}


@dataclass
class Report:
    tenant: str
    checked_at: datetime
    checks: list[Check]
    drift: list[dict[str, str]] = field(default_factory=list)
    run_id: str = ""
    methods: dict[str, Any] | None = None  # the weak-method picture (shared/inventory/figures.py), HTML only

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def ordered(self) -> list[Check]:
        """Failing first, then warnings, then passes (the report's order)."""
        return sorted(self.checks, key=lambda c: -STATUSES.index(c.status))

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "checked_at": self.checked_at.isoformat(),
                "checks": [c.to_dict() for c in self.checks], "drift": self.drift, "run_id": self.run_id}
