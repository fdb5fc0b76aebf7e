"""Alerts by e-mail through Graph ``sendMail`` (application permission Mail.Send, off by default in the grants:
scope it to the sending mailbox with an application access policy)."""

from __future__ import annotations

from typing import Any

from shared.alerts.port import Alerts, AlertSendError
from shared.errors import GraphError
from shared.escaping import mail_html, one_line
from shared.graph.port import GraphGateway


class MailAlerts(Alerts):
    def __init__(self, graph: GraphGateway, sender: str, recipients: list[str]) -> None:
        self._graph = graph
        self._sender = sender
        self._recipients = recipients

    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        rows = "".join(f"<tr><th align='left'>{mail_html(k)}</th><td>{mail_html(v)}</td></tr>"
                       for k, v in facts.items() if v not in ("", None))
        severity = facts.get("severity")
        message = {
            "subject": one_line(f"[mfaops] {kind}" + (f" ({severity})" if severity else "") + f": {summary}"),
            "body": {"contentType": "HTML", "content": f"<p>{mail_html(summary)}</p><table>{rows}</table>"},
            "toRecipients": [{"emailAddress": {"address": r}} for r in self._recipients],
        }
        try:
            await self._graph.send_mail(self._sender, message)
        except GraphError as exc:
            raise AlertSendError(f"sendMail failed: {exc}") from exc
