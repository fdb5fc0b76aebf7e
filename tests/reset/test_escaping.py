"""Issue 23, finding 5: the same hostile strings through every sink: Teams (Adaptive Card Markdown), the
ServiceNow journal and incident, mail HTML. (Rich in the CLI: tests/test_cli.py; the HTML report:
tests/posture.) Each sink is the real adapter writing to its local receiver."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from sandbox.system import Sandbox
from shared.alerts.incident import IncidentAlerts
from shared.alerts.mail import MailAlerts
from shared.alerts.teams import adaptive_card
from shared.escaping import card_markdown, servicenow_text

HOSTILE = [
    "[Click to approve](https://evil.example)",
    "[/]",
    "[link=https://evil.example]x[/link]",
    "<script>alert(1)</script>",
    "[code]<img src=x onerror=alert(1)>[/code]",
    "[ CODE ]<b>x</b>[/ code ]",
    "**bold** _it_\n# heading\n- item\n1. item",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
    "![img](https://evil.example/x.png)",
    "<https://evil.example>",
    "line\r\nBcc: victim@evil.example",
    "`code` > quote | pipe ~strike~",
]
RENDER = MarkdownIt("commonmark").enable("strikethrough").enable("table")


def _rendered(text: str) -> str:
    return RENDER.render(text)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_teams_card_renders_hostile_text_as_text(hostile: str) -> None:
    card = adaptive_card("risky_registration", f"app {hostile} registered", {"app": hostile, hostile: "x"})
    content = card["attachments"][0]["content"]
    texts = [b["text"] for b in content["body"] if b["type"] == "TextBlock"]
    texts += [f[k] for b in content["body"] if b["type"] == "FactSet" for f in b["facts"] for k in ("title", "value")]
    for text in texts:
        html = _rendered(text)
        # Markdown made nothing of it: no link, image, emphasis, heading, list, code or raw HTML.
        assert not re.search(r"<(a|img|em|strong|h\d|li|ul|ol|code|blockquote|s|del|script)\b", html), (text, html)
        assert "{{" not in text.replace("\\{\\{", "")
        assert "://" not in text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_escaped_text_still_reads_the_same(hostile: str) -> None:
    # What the operator sees after Markdown: the hostile string, as text (whitespace aside).
    shown = re.sub(r"<[^>]+>", "", _rendered(card_markdown(hostile)))
    import html

    assert " ".join(html.unescape(shown).split()) == " ".join(hostile.split())


async def test_the_servicenow_journal_and_incident_hold_no_code_block(sandbox: Sandbox) -> None:
    tickets = sandbox.container.tickets()
    for hostile in HOSTILE:
        await tickets.write_back("sc_req_item", "a1" * 16, f"note about {hostile}")
        await IncidentAlerts(tickets).raise_alert("risky_registration", f"app {hostile}", app=hostile,
                                                  finding_id=hostile[:20])
    notes = sandbox.servicenow.journal_for("a1" * 16)
    assert len(notes) == len(HOSTILE)
    for text in [*notes, *(str(r.get("description")) + str(r.get("short_description"))
                           for r in sandbox.servicenow.created)]:
        assert not re.search(r"\[\s*/?\s*code\s*\]", text, re.IGNORECASE), text
    assert all("\n" not in str(r["short_description"]) for r in sandbox.servicenow.created)
    assert servicenow_text("[code]<b>x</b>[/code]") == "(code)<b>x</b>(/code)"


async def test_mail_html_holds_no_markup_and_the_subject_one_line(sandbox: Sandbox) -> None:
    sandbox.graph.tenant.app_roles = None  # every permission, Mail.Send included
    mail = MailAlerts(sandbox.container.graph(), "grace.hopper@contoso.example", ["secops@contoso.example"])
    for hostile in HOSTILE:
        await mail.raise_alert("risky_registration", f"app {hostile}", app=hostile)
    sent = sandbox.graph.tenant.mail[-len(HOSTILE):]
    assert len(sent) == len(HOSTILE)
    for message in sent:
        body = message["message"]["body"]["content"]
        assert "<script" not in body and "<img" not in body and "<b>" not in body
        tags = set(re.findall(r"</?([a-z]+)", body))
        assert tags <= {"p", "table", "tr", "th", "td"}, tags
        subject = message["message"]["subject"]
        assert "\n" not in subject and "\r" not in subject
