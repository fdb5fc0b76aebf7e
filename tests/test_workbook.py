"""The workbook and the alert rules query only tables and fields the app emits: metric names defined in
shared/telemetry/spans.py, log lines whose text the code writes, custom dimensions the code sets."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"traces", "customMetrics", "requests", "dependencies", "exceptions"}


def queries() -> list[str]:
    workbook = json.loads((ROOT / "bicep" / "workbooks" / "operations.json").read_text())
    found = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
    found += [r["query"] for r in json.loads((ROOT / "bicep" / "alerts" / "rules.json").read_text())]
    return found


def code() -> str:
    return "\n".join(p.read_text() for p in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/*.py")])


def test_every_query_names_known_tables_metrics_messages_and_dimensions() -> None:
    source = code()
    metrics = set(re.findall(r'create_counter\("([a-z._]+)"', source))
    assert len(metrics) >= 9
    for query in queries():
        table = query.split("|", 1)[0].strip()
        assert table in TABLES, query
        for name in re.findall(r"name (?:==|in) \(?'([^']+)'", query) + re.findall(r"'(mfaops\.[a-z._]+)'", query):
            assert name in metrics, (name, query)
        for prefix in re.findall(r"message startswith '([^']+)'", query):
            head = prefix.split(" ")[0].rstrip(":")
            assert re.search(r'log\.\w+\("' + re.escape(head), source) or re.search(
                r'"' + re.escape(prefix.split(":")[0]), source), (prefix, query)
        for dimension in re.findall(r"customDimensions\.(\w+)", query):
            assert f'"{dimension}"' in source, (dimension, query)


def test_the_rules_say_what_they_mean_and_the_operations_page_lists_them() -> None:
    rules = json.loads((ROOT / "bicep" / "alerts" / "rules.json").read_text())
    readme = (ROOT / "docs" / "operations.md").read_text()  # the alert rules are documented with operations
    assert {r["name"] for r in rules} == {"job-failed", "dead-lettered", "blast-radius", "high-finding",
                                          "posture-failing"}
    for rule in rules:
        assert rule["meaning"] and 0 <= rule["severity"] <= 4
        assert f"mfaops-{rule['name']}" in readme, rule["name"]
