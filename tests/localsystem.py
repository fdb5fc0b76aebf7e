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
    # The timers would otherwise fire mid-test (the TAP sweep at the quarter hour) and change what a test sees.
    quiet = {name: "0 0 0 1 1 *" for name in ("TAP_SWEEP_SCHEDULE", "MONITOR_SCHEDULE", "POSTURE_SCHEDULE",
                                              "STUCK_JOBS_SCHEDULE", "INVENTORY_SCHEDULE")}
    # Per-user MFA is read one user at a time in the 5-per-10-s reports bucket: a few users keep a check quick.
    quiet["POSTURE_PER_USER_MFA_MAX_USERS"] = "3"
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "SERVICENOW_WEBHOOK_SECRET": secret, **quiet,
                                 # the reset's mechanics with the gate off; the gate's tests pass VERIFY_POLICY
                                 "VERIFY_POLICY": "none", **(env or {})})
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
