"""Text from a tenant or a caller (an app's display name, a UPN, a method's name, an error message) made inert
for the place it is written. Each sink calls the function named after it; none of them trusts its input.

Written here rather than taken from a library: no kept package escapes Adaptive Card Markdown or ServiceNow
journal tags, and the HTML case is the standard library's ``html.escape``."""

from __future__ import annotations

import html
import re

# Adaptive Cards render a TextBlock's and a FactSet's text as a Markdown subset (bold, italic, lists, links:
# "Text features" in the Adaptive Cards docs) and expand {{DATE()}}/{{TIME()}} functions. A backslash escapes
# any ASCII punctuation in CommonMark, so each character that can open a construct is escaped.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def card_markdown(value: object) -> str:
    """For an Adaptive Card TextBlock or FactSet (Teams): no link, emphasis, heading, list or template."""
    text = _CONTROL.sub(" ", str(value))
    # "://" escaped too, so that a client's auto-linking does not turn a hostile URL into a link.
    return _MARKDOWN.sub(r"\\\1", text).replace("://", "\\:\\/\\/")


# A ServiceNow journal field (work notes, comments) and an incident's description render text between
# [code] and [/code] as HTML (glide.ui.security.allow_codetag, on by default: "Using HTML in journal fields").
_CODE_TAG = re.compile(r"\[\s*/?\s*code\s*\]", re.IGNORECASE)


def servicenow_text(value: object) -> str:
    """For a ServiceNow journal entry or description: no [code] HTML block, no control characters."""
    text = _CONTROL.sub(" ", str(value))
    return _CODE_TAG.sub(lambda m: m.group(0).replace("[", "(").replace("]", ")"), text)


def mail_html(value: object) -> str:
    """For the HTML body of a mail: every tag and entity as text."""
    return html.escape(_CONTROL.sub(" ", str(value)), quote=True)


def one_line(value: object, limit: int = 200) -> str:
    """For a header-like field (a mail subject, a short description): one line, so nothing can be appended."""
    return re.sub(r"[\r\n\t]+", " ", _CONTROL.sub(" ", str(value)))[:limit]


def csv_cell(value: object) -> str:
    """A spreadsheet reads a cell starting with = + - @ (or a tab or carriage return) as a formula: such a cell is
    written as text (a leading apostrophe), OWASP's advice on CSV injection."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
