"""Which system the CLI acts on: the app settings from the environment (Azure), or ``--local``, the system that
``make run`` serves from this checkout (its connection details are in ``.sandbox/local.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from shared.bootstrap import Container
from shared.settings import load_settings

LOCAL_FILE = Path(__file__).resolve().parent.parent / ".sandbox" / "local.json"


class TargetError(Exception):
    """The target cannot be reached or configured (exit 2: nothing was done)."""


def write_local(details: dict[str, str]) -> None:
    """Called by ``make run`` at start: where its Graph, ServiceNow, Azurite and keys are (0600: holds secrets)."""
    LOCAL_FILE.parent.mkdir(exist_ok=True)
    LOCAL_FILE.write_text(json.dumps(details))
    LOCAL_FILE.chmod(0o600)


def build_container(*, local: bool, env_file: Path | None = None) -> Container:
    environ = dict(os.environ)
    if env_file is not None:
        if not env_file.is_file():
            raise TargetError(f"--env-file: no file at {env_file}")
        for line in env_file.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                environ[key.strip()] = value.strip().strip('"')
    if local:
        if not LOCAL_FILE.is_file():
            raise TargetError("no local system is running: start it with `make run` (or `make run ARGS=--no-scenario`)")
        details = json.loads(LOCAL_FILE.read_text())
        if not _reachable(details.get("MFAOPS_LOCAL_BASE_URL", "")):
            raise TargetError("the local system is not running: start it with `make run` (or `make run "
                              "ARGS=--no-scenario`)")
        environ.update(details)
        from sandbox.queue import HttpQueueClient

        return Container(load_settings(environ), queue=HttpQueueClient(details["MFAOPS_LOCAL_QUEUE_URL"]))
    return Container(load_settings(environ))


def remove_local() -> None:
    """Called by ``make run`` when it stops: no stale details for `mfaops --local`."""
    LOCAL_FILE.unlink(missing_ok=True)


def _reachable(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/graph/_sandbox/clock", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False
