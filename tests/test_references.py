"""The documents that cannot drift (issue 28): the settings and CLI references are generated from the code, and the
committed pages must be what the generator writes now; the package, the CLI and the changelog agree on the version."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tools.reference import CLI_PAGE, SETTINGS_PAGE, cli_reference, settings_reference

ROOT = Path(__file__).resolve().parent.parent


def test_the_settings_reference_is_what_the_settings_object_says() -> None:
    assert SETTINGS_PAGE.read_text(encoding="utf-8") == settings_reference(), "run python -m tools.reference"


def test_the_cli_reference_is_what_the_typer_app_says() -> None:
    assert CLI_PAGE.read_text(encoding="utf-8") == cli_reference(), "run python -m tools.reference"


def test_every_setting_has_a_description_and_every_command_its_help() -> None:
    from shared.settings import Settings
    from tools.reference import field_docstrings

    described = field_docstrings()
    assert [f for f in Settings.model_fields if not described.get(f)] == []
    page = cli_reference()
    untold = re.findall(r"^## `([^`]+)`\n\n\n", page, flags=re.M)
    assert untold == []


def test_the_check_mode_fails_on_a_stale_page(tmp_path: Path, monkeypatch: object) -> None:
    import tools.reference as reference

    stale = tmp_path / "settings.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(reference, "SETTINGS_PAGE", stale)  # type: ignore[attr-defined]
    monkeypatch.setattr(reference, "ROOT", tmp_path)  # type: ignore[attr-defined]
    monkeypatch.setattr(reference, "CLI_PAGE", tmp_path / "cli.md")  # type: ignore[attr-defined]
    assert reference.main(["--check"]) == 1
    assert reference.main([]) == 0 and reference.main(["--check"]) == 0


def test_the_version_is_one_number_in_the_package_the_cli_and_the_changelog() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    shown = subprocess.run([sys.executable, "-m", "cli", "--json", "version"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f'"version": "{declared}"' in shown.stdout
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.M)
    assert released and released[0] == declared
