"""The house's shape (issue 28): the CLI's families hang off one app module and only the entry point imports them;
the simulator's handlers register on a router and never import the simulator; no CLI module outgrows a sitting;
and a module over ~400 lines says in its opening comment why it is one piece."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_HELPERS = {"app", "target", "identity", "bulk", "main", "__main__", "__init__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_the_entry_point_imports_the_cli_families_and_no_family_imports_another() -> None:
    families = {f"cli.{p.stem}" for p in (ROOT / "cli").glob("*.py") if p.stem not in CLI_HELPERS}
    assert {"cli.reset", "cli.jobs", "cli.dlq", "cli.tap", "cli.cleanup", "cli.monitor", "cli.posture", "cli.verify",
            "cli.inventory", "cli.report", "cli.methods", "cli.doctor"} <= families
    for path in (ROOT / "cli").glob("*.py"):
        if path.stem == "main":
            continue
        reached = _imports(path) & families
        assert reached == set(), f"{path.name} imports {reached}"
    assert "cli.main" not in set().union(*(_imports(p) for p in (ROOT / "cli").glob("*.py") if p.stem != "__main__"))


def test_the_simulator_handlers_register_on_the_router_and_never_import_the_simulator() -> None:
    for path in (ROOT / "sandbox" / "graph").glob("handlers_*.py"):
        assert "sandbox.graph.app" not in _imports(path), path.name
    assert "sandbox.graph.app" not in _imports(ROOT / "sandbox" / "graph" / "router.py")


def test_no_cli_module_is_over_about_250_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "cli").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 260} == {}


def test_a_module_over_about_400_lines_says_why_it_is_one_piece() -> None:
    unexplained = []
    for folder in ("shared", "functions", "cli", "sandbox", "bench", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if len(text.splitlines()) > 420:
                opening = ast.get_docstring(ast.parse(text)) or ""
                if "one piece" not in opening.lower():
                    unexplained.append(str(path.relative_to(ROOT)))
    assert unexplained == []
