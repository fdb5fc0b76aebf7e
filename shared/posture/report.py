"""The posture report as one self-contained HTML page: no scripts, fonts or CDNs; a summary bar, one card per
check coloured by status (failing first), evidence tables and the fix. Everything from the tenant is escaped."""

from __future__ import annotations

import html
import json
from typing import Any

from shared.posture.model import Report

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}
header{background:#1b1f24;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
.summary{display:flex;gap:12px;padding:16px 24px}.pill{padding:8px 14px;border-radius:16px;font-weight:600}
.pill.fail{background:#fde2e1;color:#8a1c13}.pill.warn{background:#fff3cd;color:#7a5200}
.pill.pass{background:#dff5e3;color:#1d6b2f}main{padding:0 24px 24px;display:grid;gap:12px}
.card{background:#fff;border-radius:8px;border-left:6px solid #999;padding:12px 16px;box-shadow:0 1px 2px #0002}
.card.fail{border-color:#d93025}.card.warn{border-color:#f5a623}.card.pass{border-color:#34a853}
.card h2{margin:0 0 4px;font-size:16px}.status{text-transform:uppercase;font-size:12px;font-weight:700}
.fix{margin:8px 0 0;font-style:italic}table{border-collapse:collapse;margin-top:8px;font-size:13px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}.refs{color:#555;font-size:12px}
.methods{border-color:#1a73e8}.methods h3{font-size:14px;margin:12px 0 0}details{margin-top:8px}
"""


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        if isinstance(value, list) and all(isinstance(v, dict) for v in value) and value:
            keys = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
            rows = "".join("<tr>" + "".join(f"<td>{_cell(v.get(k, ''))}</td>" for k in keys) + "</tr>"
                           for v in value)
            return f"<table><tr>{head}</tr>{rows}</table>"
        return html.escape(json.dumps(value, default=str))
    return html.escape(str(value))


_LISTED = 100  # users named per list on the page; the JSON and CSV carry them all

_FIGURES = (("weak_only", "Users whose only methods are phone or e-mail"),
            ("privileged_without_phishing_resistant",
             "Privileged users without a phishing-resistant method (a policy for ScubaGear MS.AAD.3.6 locks them out)"),
            ("no_method", "Users with no method"))


def _trend(figures: dict[str, Any], key: str) -> str:
    change = (figures.get("trend") or {}).get(key)
    return f"{change:+d}" if isinstance(change, int) else ""


def methods_section(figures: dict[str, Any]) -> str:
    """The weak-method picture (shared/inventory/figures.py) as a section: counts with their change since the last
    report, methods by type, unused methods by age band, and the users each list names."""
    if "error" in figures:
        return (f'<section class="card warn methods" id="methods"><h2>Methods</h2>'
                f"<p>Not available: {html.escape(str(figures['error']))}</p></section>")
    since = figures.get("previous_at")
    head = "<tr><th>figure</th><th>count</th><th>since the last report</th></tr>"
    counts = [("Users in the registration report", "users", figures.get("users", 0))]
    counts += [(label, key, figures.get(key, {}).get("count", 0)) for key, label in _FIGURES]
    summary = "".join(f'<tr data-figure="{key}"><td>{html.escape(label)}</td><td>{count}</td>'
                      f"<td>{_trend(figures, key)}</td></tr>" for label, key, count in counts)
    types = "".join(f'<tr data-type="{html.escape(str(k))}"><td>{html.escape(str(k))}</td><td>{v}</td>'
                    f"<td>{_trend(figures, f'type:{k}')}</td></tr>"
                    for k, v in (figures.get("by_method_type") or {}).items())
    ages = "".join(f'<tr data-age="{html.escape(str(k))}"><td>{html.escape(str(k))}</td><td>{v}</td>'
                   f"<td>{_trend(figures, f'unused:{k}')}</td></tr>"
                   for k, v in (figures.get("unused_by_age") or {}).items())
    lists = []
    for key, label in _FIGURES:
        users = list(figures.get(key, {}).get("users") or [])
        more = f"<li>and {len(users) - _LISTED} more</li>" if len(users) > _LISTED else ""
        named = "".join(f"<li>{html.escape(str(u))}</li>" for u in users[:_LISTED])
        lists.append(f'<details data-list="{key}"><summary>{html.escape(label)}: {len(users)}</summary>'
                     f"<ul>{named}{more}</ul></details>")
    return (f'<section class="card methods" id="methods"><h2>Methods</h2>'
            f"<p>From the registration report and the methods inventory ({figures.get('inventory_users', 0)} users "
            f"read){'; change since ' + html.escape(str(since)) if since else ''}.</p>"
            f'<table class="figures">{head}{summary}</table>'
            f'<h3>Users by method type</h3><table class="types"><tr><th>method</th><th>users</th><th>change</th></tr>'
            f"{types}</table>"
            f'<h3>Methods by days since last use</h3><table class="ages"><tr><th>days</th><th>methods</th>'
            f"<th>change</th></tr>{ages}</table>"
            f"<p>“unknown”: Graph gives no lastUsedDateTime for the method; it is never counted as unused.</p>"
            f"{''.join(lists)}</section>")


def _page(title: str, subtitle: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>{title}</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>{title}</h1><div>{subtitle}</div></header>{body}</body></html>")


def render_methods(figures: dict[str, Any], tenant: str = "") -> str:
    """`mfaops report methods --html`: the Methods section as a page of its own."""
    title = f"mfaops methods: {html.escape(tenant or 'tenant')}"
    return _page(title, f"generated {html.escape(str(figures.get('generated_at', '')))}",
                 f"<main>{methods_section(figures)}</main>")


def render(report: Report) -> str:
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in ("fail", "warn", "pass")}
    pills = "".join(f'<span class="pill {s}" data-count="{s}">{n} {s}</span>' for s, n in counts.items())
    cards = []
    for check in report.ordered():
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>"
                       for k, v in check.evidence.items())
        refs = ", ".join(html.escape(r) for r in check.references)
        cards.append(
            f'<section class="card {check.status}" data-check="{html.escape(check.id)}" data-status="{check.status}">'
            f'<span class="status">{check.status}</span><h2>{html.escape(check.id)}</h2>'
            f"<p>{html.escape(check.summary)}</p>"
            + (f"<table>{rows}</table>" if rows else "")
            + (f'<p class="fix">Fix: {html.escape(check.fix)}</p>' if check.fix else "")
            + (f'<p class="refs">Baselines: {refs}</p>' if refs else "") + "</section>")
    title = f"mfaops posture: {html.escape(report.tenant or 'tenant')}"
    methods = methods_section(report.methods) if report.methods is not None else ""
    return _page(title, f"checked {html.escape(report.checked_at.isoformat())}",
                 f'<div class="summary">{pills}</div><main>{"".join(cards)}{methods}</main>')
