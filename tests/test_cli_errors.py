"""Command lines answer bad input with a message and a non-zero exit, never a stack trace."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "says"), [
    (("sandbox", "run", "--port", "99999"), "outside 1-65535"),
    (("sandbox", "run", "--tenant", "/no/such/tenant.json"), "no tenant file"),
    (("bench.reset", "--methods", "x"), "not a whole number"),
    (("bench.reset", "--methods", "11"), "at most 10"),
    (("bench.throughput", "--resets", "0"), "at least 1"),
    (("bench.coldstart", "--runs", "-1"), "at least 1"),
])
def test_bad_arguments(args: tuple[str, ...], says: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("sandbox", "run", "--once", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2
    assert "could not listen" in result.stderr
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr


def test_an_invalid_setting_is_named() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "run", "--once", "--port", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "LOG_LEVEL": "chatty"})
    assert result.returncode == 2
    assert "LOG_LEVEL" in result.stderr and "chatty" not in result.stderr and "Traceback" not in result.stderr
