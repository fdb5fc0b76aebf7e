"""Alerts as ServiceNow incidents through the Table API (``POST /api/now/table/incident``)."""

from __future__ import annotations

from typing import Any

from shared.alerts.port import Alerts, AlertSendError
from shared.escaping import one_line, servicenow_text
from shared.itsm.port import TicketSystem, TicketSystemError

# ServiceNow's incident urgency/impact: 1 high, 2 medium, 3 low.
_LEVEL = {"critical": "1", "high": "1", "medium": "2", "low": "3"}


class IncidentAlerts(Alerts):
    def __init__(self, tickets: TicketSystem, table: str = "incident", assignment_group: str = "") -> None:
        self._tickets = tickets
        self._table = table
        self._group = assignment_group

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        level = _LEVEL.get(str(facts.get("severity", "")), "3")
        details = "\n".join(f"{k}: {v}" for k, v in facts.items() if v not in ("", None))
        fields = {"short_description": one_line(servicenow_text(f"mfaops {kind}: {summary}"), 160),
                  "description": servicenow_text(f"{summary}\n\n{details}"),
                  "urgency": level, "impact": level, "category": "security",
                  "correlation_id": str(facts.get("finding_id") or facts.get("job_id") or "")}
        if self._group:
            fields["assignment_group"] = self._group
        try:
            await self._tickets.create_record(self._table, fields)
        except TicketSystemError as exc:
            raise AlertSendError(f"ServiceNow incident not created: {exc}") from exc
