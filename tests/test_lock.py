"""The lock is in sync with requirements.txt: every runtime requirement is pinned there, at a version its range
allows, and requirements.txt applies the lock as constraints (the Functions remote build reads only
requirements.txt)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def lines(name: str) -> list[str]:
    return [ln.split("#", 1)[0].strip() for ln in (ROOT / name).read_text().splitlines()
            if ln.split("#", 1)[0].strip()]


def test_every_runtime_requirement_is_pinned_in_the_lock_within_its_range() -> None:
    pins = {}
    for line in lines("requirements.lock"):
        name, _, version = line.partition("==")
        assert version, f"not a pin: {line}"
        pins[canonicalize_name(name)] = version
    wanted = [Requirement(ln) for ln in lines("requirements.txt") if not ln.startswith("-")]
    for requirement in wanted:
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(pinned, prereleases=True), (requirement, pinned)


def test_requirements_txt_applies_the_lock() -> None:
    assert "-c requirements.lock" in lines("requirements.txt")
