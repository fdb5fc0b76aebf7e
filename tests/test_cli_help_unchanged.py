"""Issue 28: the CLI was reshaped into a module per command family with no behaviour change. Every command's
`--help` (41 pages, rendered at a fixed width) is compared with what it printed before the reshaping
(tests/fixtures/cli_help.json, recorded from the single-module CLI); the JSON shapes are held by the CLI tests."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli.main import app

BEFORE = Path(__file__).resolve().parent / "fixtures" / "cli_help.json"


def _paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    out: list[list[str]] = [[]]

    def walk(group: object, path: list[str]) -> None:
        commands = group.commands  # type: ignore[attr-defined]
        for name in sorted(commands):
            out.append([*path, name])
            if hasattr(commands[name], "commands"):
                walk(commands[name], [*path, name])

    walk(root, [])
    return out


def test_every_help_page_is_what_it_was_before_the_reshaping() -> None:
    before = json.loads(BEFORE.read_text(encoding="utf-8"))
    runner = CliRunner()
    now = {}
    for path in _paths():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "110", "TERM": "dumb", "NO_COLOR": "1"})
        now[" ".join(path)] = [result.exit_code, result.output]
    assert sorted(now) == sorted(before)
    changed = [name for name in before if now[name] != before[name]]
    assert changed == [], f"--help changed for: {changed}"
