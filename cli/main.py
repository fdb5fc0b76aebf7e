"""The entry point of ``mfaops``: the one module that imports the command families and puts them on the app
(cli/app.py holds the app, the exit codes and the output helpers every family uses; no family imports another)."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

import typer

from cli.app import EXIT_FAILED, app, emit, err, state
from cli.cleanup import cleanup_app
from cli.dlq import dlq_app
from cli.doctor import doctor
from cli.inventory import inventory_app
from cli.jobs import jobs_app, who_reset
from cli.methods import methods
from cli.monitor import monitor_app
from cli.posture import posture_app
from cli.report import report_app
from cli.reset import reset
from cli.tap import tap_app
from cli.verify import verify_app


def version_cmd() -> None:
    """The installed mfaops version.  Example: mfaops version"""
    try:
        number = version("mfaops")
    except PackageNotFoundError:
        number = "0+unknown"
    emit({"version": number}, None) if state.json else typer.echo(f"mfaops {number}")


# In the order the commands have always been listed in `mfaops --help`.
app.add_typer(jobs_app, name="jobs")
app.add_typer(tap_app, name="tap")
app.add_typer(cleanup_app, name="cleanup")
app.add_typer(dlq_app, name="dlq")
app.command("version")(version_cmd)
app.command("who-reset")(who_reset)
app.command("methods")(methods)
app.command("reset")(reset)
app.command("doctor")(doctor)
app.add_typer(monitor_app, name="monitor")
app.add_typer(posture_app, name="posture")
app.add_typer(verify_app, name="verify")
app.add_typer(inventory_app, name="inventory")
app.add_typer(report_app, name="report")


def entry() -> None:
    """Console script: Typer's usage errors exit 2 as documented; nothing escapes as a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: finished items are on the record; re-run with the same --batch-id to resume")
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # the promise is one line and an exit code, never a traceback
        first = (str(exc).splitlines() or [""])[0][:300]
        err.print(f"error: {type(exc).__name__}: {first}", markup=False, highlight=False)
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    entry()

