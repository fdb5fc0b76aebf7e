"""Start and stop Azurite's Table service (npm package ``azurite``) on a free loopback port."""

from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The storage emulator's published development account (not a secret; the same on every machine).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

INSTALL_HINT = "install Node.js 18+ and npm, then run `npm ci` in the repository (or `make test`, which does)"


class AzuriteError(RuntimeError):
    pass


@dataclass(eq=False)
class Azurite:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
                f"TableEndpoint=http://127.0.0.1:{self.port}/{DEV_ACCOUNT};")

    def stop(self) -> None:
        _LIVE.discard(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# Every Azurite this process started and has not stopped: stopped at exit (a normal end, Ctrl-C, a SystemExit
# from SIGTERM), and, on Linux, each is also told to die with its parent (a SIGKILL leaves no orphan).
_LIVE: set[Azurite] = set()


@atexit.register
def _stop_all() -> None:
    for azurite in list(_LIVE):
        azurite.stop()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the thread that started it ends (prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the atexit hook still stops it
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def azurite_table_binary() -> Path:
    binary = ROOT / "node_modules" / ".bin" / "azurite-table"
    if not binary.exists():
        raise AzuriteError(f"Azurite is not installed ({binary} is missing): {INSTALL_HINT}")
    if shutil.which("node") is None:
        raise AzuriteError(f"node is not on PATH: {INSTALL_HINT}")
    return binary


def start_azurite(timeout_s: float = 30.0, *, location: str | None = None, port: int | None = None) -> Azurite:
    """In memory by default; with ``location``, on disk there (a restart on the same port and location keeps
    every table: the chaos run stops and restarts it mid-run)."""
    binary = azurite_table_binary()
    port = port or free_port()
    # Run in a scratch folder so nothing Azurite writes lands in the work tree.
    scratch = location or tempfile.mkdtemp(prefix="mfaops-azurite-")
    persistence = ["--location", scratch] if location else ["--inMemoryPersistence"]
    process = subprocess.Popen(
        [str(binary), "--tableHost", "127.0.0.1", "--tablePort", str(port), *persistence,
         "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=scratch,
        # The death signal follows the *thread* that forks: only the main thread's children get it (a thread of
        # a pool may end before the process does).
        preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
    )
    azurite = Azurite(port=port, process=process)
    _LIVE.add(azurite)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AzuriteError(f"Azurite exited with {process.returncode}: {err.strip()[:500]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return azurite
        except OSError:
            time.sleep(0.1)
    azurite.stop()
    raise AzuriteError(f"Azurite did not answer on 127.0.0.1:{port} within {timeout_s:.0f} s")
