"""Alerts to a Teams channel through a Workflows webhook ("Post to a channel when a webhook request is
received"), as an Adaptive Card: the shape Microsoft documents for Workflows, which replaced Office 365
connectors (the MessageCard format those took is retired)."""

from __future__ import annotations

from typing import Any

import httpx

from shared.alerts.port import Alerts, AlertSendError
from shared.escaping import card_markdown

_COLOURS = {"critical": "attention", "high": "attention", "medium": "warning", "low": "default"}


def adaptive_card(kind: str, summary: str, facts: dict[str, Any]) -> dict[str, Any]:
    severity = str(facts.get("severity", ""))
    shown = [{"title": card_markdown(k), "value": card_markdown(v)} for k, v in facts.items()
             if v not in ("", None, [], {})]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
             "color": _COLOURS.get(severity, "default"),
             "text": card_markdown(f"mfaops: {kind}" + (f" ({severity})" if severity else ""))},
            {"type": "TextBlock", "wrap": True, "text": card_markdown(summary)},
            {"type": "FactSet", "facts": shown},
        ],
    }
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "contentUrl": None, "content": card}]}


class TeamsAlerts(Alerts):
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self._url = url  # holds the workflow's signature: never logged

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        try:
            response = await self._client.post(self._url, json=adaptive_card(kind, summary, facts))
        except httpx.TransportError as exc:
            raise AlertSendError(f"Teams webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise AlertSendError(f"Teams webhook answered {response.status_code}")
