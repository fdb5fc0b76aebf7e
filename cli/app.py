"""``mfaops``: the same guarded services as the Functions app, by hand.

Exit codes: 0 ok; 1 the operation failed; 2 usage or input error (nothing was done); 3 refused by a guardrail.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from cli.target import TargetError, build_container
from shared.bootstrap import Container
from shared.errors import (
    ConfigurationError,
    GraphError,
    GraphNotFoundError,
    JobNotFoundError,
    MfaopsError,
    NotIndependentError,
)
from shared.reset.request import check_user

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
HELP = __doc__
T = TypeVar("T")

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
# Markup off on every console: tables and messages carry values from tenants and callers (a method named "[/]"
# crashed the renderer, "[link=...]" made a live link), and none of our own output uses markup.
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
out = Console(markup=False, highlight=False)


class State:
    json = False
    local = False
    verbose = False
    env_file: Path | None = None


state = State()


@app.callback()
def main(json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout, nothing else."),
         local: bool = typer.Option(False, "--local", help="Act on the system `make run` serves from here."),
         verbose: bool = typer.Option(False, "--verbose", help="Say more on stderr."),
         env_file: Path | None = typer.Option(None, "--env-file", help="Read app settings from this file too.")
         ) -> None:
    state.json, state.local, state.verbose, state.env_file = json_output, local, verbose, env_file


def fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def run(work: Callable[[Container], Awaitable[T]]) -> T:
    """Build the target, run one service call, close; every failure one line on stderr and its exit code."""
    return run_on(container_or_exit(), work)


def run_on(container: Container, work: Callable[[Container], Awaitable[T]], *, reraise: bool = False) -> T:
    """One event loop per command: the container's clients live in it, and it closes them."""
    async def go() -> T:
        import click

        from shared.telemetry.setup import configure_telemetry
        from shared.telemetry.spans import job_span

        configure_telemetry()  # nothing unless APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_TRACES_EXPORTER is set
        context = click.get_current_context(silent=True)
        try:  # the command's path only ("mfaops reset"), never its arguments (UPNs, reasons)
            with job_span("cli", trigger="cli", command=context.command_path if context else "mfaops"):
                return await work(container)
        finally:
            await container.close()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        fail("interrupted: finished items are on the record; re-run with the same --batch-id to resume",
             EXIT_FAILED)
    except JobNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except NotIndependentError as exc:
        fail(str(exc), EXIT_USAGE)
    except GraphNotFoundError as exc:
        fail(f"not found in the tenant: {exc}", EXIT_USAGE)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    except (GraphError, MfaopsError) as exc:
        if reraise:
            raise
        fail(str(exc), EXIT_FAILED)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the service: {type(exc).__name__}: {exc}", EXIT_FAILED)


def emit(document: Any, table: Table | None = None) -> None:
    if state.json or table is None:
        sys.stdout.write(json.dumps(document, default=str) + "\n")
    else:
        out.print(table)


def valid_user(value: str) -> str:
    try:
        return check_user(value)
    except ValueError:
        fail(f"USER: {value!r} is not a user principal name or an object id", EXIT_USAGE)


# -- changing things ------------------------------------------------------------------------------------------
def valid_upn(value: str, option: str) -> str:
    from shared.reset.request import is_upn

    if not is_upn(value):
        fail(f"{option}: {value!r} is not a user principal name", EXIT_USAGE)
    return value


def valid_reason(value: str) -> str:
    if not value.strip() or len(value) > 500 or not value.isprintable():
        fail("--reason: say why, in printable text of at most 500 characters", EXIT_USAGE)
    return value


def confirm(question: str, yes: bool) -> None:
    """Every change asks on a terminal; --yes answers it; with no terminal and no --yes, nothing is done."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Not a terminal: pass --yes to go ahead", EXIT_USAGE)
    if not typer.confirm(question, default=False, err=True):
        fail("nothing was done", EXIT_USAGE)


async def acting(container: Container, by: str, *, required: bool = True) -> Any:
    """Who acts, said on stderr at start (inside the command's one event loop: the credential's session lives
    there). ``required`` False: a command whose changes are policy-driven (the TAP sweep) records an operator
    who gave no --by as such."""
    from cli.identity import Actor, IdentityError, who_acts

    try:
        who = await who_acts(container, by=by, local=state.local)
    except IdentityError as exc:
        if required or by:
            fail(str(exc), EXIT_USAGE)
        who = Actor(by="operator (no --by)", mode="local" if state.local else "app-only", asserted=True)
    except Exception as exc:  # no credential, no token: one line, not a traceback
        first = (str(exc).splitlines() or [""])[0][:200]
        fail(f"cannot get a token for Microsoft Graph: {type(exc).__name__}: {first}", EXIT_USAGE)
    err.print(who.describe(), markup=False, highlight=False)
    return who


def container_or_exit() -> Container:
    try:
        return build_container(local=state.local, env_file=state.env_file)
    except (TargetError, ConfigurationError) as exc:
        fail(str(exc), EXIT_USAGE)


# Rejections that are bad input, not a guardrail's refusal: the README's exit 2.
INPUT_REJECTIONS = frozenset({"user_not_found"})


def exit_for(job_state: str, code: str = "") -> int:
    if job_state == "rejected" and code in INPUT_REJECTIONS:
        return EXIT_USAGE
    return {"succeeded": EXIT_OK, "rejected": EXIT_REFUSED, "awaiting_approval": EXIT_REFUSED,
            "verification_failed": EXIT_REFUSED, "awaiting_verification": EXIT_OK}.get(job_state, EXIT_FAILED)


def policy_file(path: Path, option: str, load: Callable[[str], T], invalid: type[Exception]) -> T:
    """A policy file named by ``option``, parsed by ``load``; a missing, unreadable or invalid one: exit 2."""
    if not path.is_file():
        fail(f"{option}: no file at {path}", EXIT_USAGE)
    try:
        return load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option}: cannot read {path}: {type(exc).__name__}", EXIT_USAGE)
    except invalid as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
