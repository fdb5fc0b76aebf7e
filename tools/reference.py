"""The two generated references: docs/settings.md from the settings object (name, type, default, description: each
field's docstring) and docs/cli.md from the Typer app (every command, its help and its options). `python -m
tools.reference` writes them; tests/test_references.py fails when a committed page and the code differ, so the
documents cannot drift.

Written here rather than with a documentation generator: the pages are two tables from two objects the project owns,
and the drift test needs the same text the writer produces, with no tool's version in between."""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

import typer

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_PAGE = ROOT / "docs" / "settings.md"
CLI_PAGE = ROOT / "docs" / "cli.md"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _type_name(annotation: object) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    name = getattr(annotation, "__name__", None) or str(annotation)
    return {"SecretStr": "secret"}.get(name, name)


def field_docstrings() -> dict[str, str]:
    """Each Settings field's docstring (the string right after it), read from the module's source."""
    import ast
    import inspect

    import shared.settings

    tree = ast.parse(inspect.getsource(shared.settings))
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for before, after in zip(node.body, node.body[1:], strict=False):
                if (isinstance(before, ast.AnnAssign) and isinstance(before.target, ast.Name)
                        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)):
                    found[before.target.id] = " ".join(after.value.value.split())
    return found


def settings_reference() -> str:
    from shared.settings import Settings

    described = field_docstrings()

    lines = ["# Settings reference", "",
             "Generated from `shared/settings.py` by `python -m tools.reference` (a test fails when this page and the",
             "code differ). Every setting is an environment variable (an app setting in Azure, `local.settings.json` "
             "or", "`.env` locally); secrets are shown empty and never logged.", "",
             "| Setting | Type | Default | Description |", "|---|---|---|---|"]
    for field, info in Settings.model_fields.items():
        value = info.get_default(call_default_factory=True)  # the code's default, whatever this shell's environment
        shown = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        if isinstance(shown, bool):
            shown = str(shown).lower()
        lines.append(f"| `{info.alias}` | {_type_name(info.annotation)} | `{_cell(shown)}` | "
                     f"{_cell(described.get(field, ''))} |")
    return "\n".join(lines) + "\n"


# Typer vendors its own click (typer._click), so commands and parameters are read by what they have, not their class.
def _commands(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out: list[tuple[list[str], Any]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if getattr(command, "hidden", False):
            continue
        out.append(([*path, name], command))
        if hasattr(command, "commands"):
            out += _commands(command, [*path, name])
    return out


def _option(param: Any) -> tuple[str, str, str]:
    if param.param_type_name == "argument":
        return f"`{str(param.name).upper()}`", "argument" + ("" if param.required else " (optional)"), ""
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    default = "" if param.default in (None, "") or (param.is_flag and not param.default) else f"`{param.default}`"
    return names, _cell(param.help or ""), default


def cli_reference() -> str:
    import cli.main  # noqa: F401  (puts every command family on the app)
    from cli.app import app

    root = typer.main.get_command(app)
    lines = ["# CLI reference", "",
             "Generated from the Typer app (`cli/`) by `python -m tools.reference` (a test fails when this page and",
             "the code differ). Global options come before the command: `mfaops [--json] [--local] COMMAND ...`;",
             "exit codes are in [operations](operations.md).", ""]
    for path, command in [([], root), *_commands(root, [])]:
        title = " ".join(["mfaops", *path])
        lines += [f"## `{title}`", "", (command.help or "").strip(), ""]
        params = [p for p in command.params if p.name != "help" and not getattr(p, "hidden", False)]
        if params:
            lines += ["| option | help | default |", "|---|---|---|"]
            lines += ["| " + " | ".join(_option(p)) + " |" for p in params]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pages = {SETTINGS_PAGE: settings_reference(), CLI_PAGE: cli_reference()}
    if "--check" in args:
        stale = [p for p, text in pages.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for page in stale:
            print(f"{page.relative_to(ROOT)} differs from the code: run python -m tools.reference", file=sys.stderr)
        return 1 if stale else 0
    for page, text in pages.items():
        page.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
