"""`python -m sandbox run --no-scenario` as a child process, for tests that drive the local system over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.azurite import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def serving(secret: str, *, tenant: Path | None = None, env: dict[str, str] | None = None) -> Iterator[int]:
    """The local system on a free port, once it printed ``ready``; stopped afterwards."""
    port = free_port()
    args = [sys.executable, "-m", "sandbox", "run", "--no-scenario", "--port", str(port)]
    if tenant is not None:
        args += ["--tenant", str(tenant)]
    # The TAP sweep timer would otherwise fire at the next quarter hour and change what a test is looking at.
    quiet = {"TAP_SWEEP_SCHEDULE": "0 0 0 1 1 *", "MONITOR_SCHEDULE": "0 0 0 1 1 *"}
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "SERVICENOW_WEBHOOK_SECRET": secret, **quiet, **(env or {})})
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.strip() == "ready" or not line:
                break
        assert line.strip() == "ready"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=60)
