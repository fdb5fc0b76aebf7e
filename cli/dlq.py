"""``mfaops dlq``: the reset queue's dead letters (list, show, replay, purge)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from cli.app import (
    EXIT_USAGE,
    acting,
    confirm,
    container_or_exit,
    emit,
    fail,
    run,
    run_on,
    state,
    valid_upn,
)
from shared.bootstrap import Container

dlq_app = typer.Typer(help="The reset queue's dead letters: list, show, replay, purge.", no_args_is_help=True)


@dlq_app.command("list")
def dlq_list() -> None:
    """Dead letters of the reset queue, newest first.  Example: mfaops --local dlq list"""
    letters = run(lambda c: c.reset_service().dead_letters.list())  # type: ignore[union-attr]
    table = Table(title="dead letters")
    for column in ("message_id", "job_id", "deliveries", "reason", "at"):
        table.add_column(column)
    for d in letters:
        table.add_row(d.message.message_id, d.job_id, str(d.message.delivery_count), d.reason,
                      d.dead_lettered_at.isoformat())
    emit({"dead_letters": [d.to_dict() for d in letters]}, table)


@dlq_app.command("show")
def dlq_show(message_id: str) -> None:
    """One dead letter, with its body.  Example: mfaops --local dlq show sc_req_item:...:reset_mfa"""
    letter = run(lambda c: c.reset_service().dead_letters.get(message_id))  # type: ignore[union-attr]
    if letter is None:
        fail(f"no dead letter {message_id!r}", EXIT_USAGE)
    doc = {**letter.to_dict(), "body": letter.message.body.decode("utf-8", "replace")}
    emit(doc, None) if state.json else typer.echo(json.dumps(doc, indent=2))


@dlq_app.command("replay")
def dlq_replay(message_id: str = typer.Argument("", help="a dead letter's message id (or --all)"),
               all_: bool = typer.Option(False, "--all", help="every dead letter"),
               by: str = typer.Option("", "--by"), yes: bool = typer.Option(False, "--yes")) -> None:
    """Put dead letters back on the queue under a new message id; their jobs record the replay.
    Example: mfaops --local dlq replay --all --by secops@contoso.example --yes"""
    if bool(message_id) == all_:
        fail("give MESSAGE_ID or --all", EXIT_USAGE)
    if by:
        valid_upn(by, "--by")
    container = container_or_exit()
    service = container.reset_service()
    store = service.dead_letters
    assert store is not None

    async def work(c: Container) -> list[Any]:
        who = await acting(c, by)
        ids = [message_id] if message_id else [d.message.message_id for d in await store.list(limit=100_000)]
        confirm(f"Replay {len(ids)} dead letter(s)?", yes)
        return [await service.replay(i, by=who.by) for i in ids]

    jobs = run_on(container, work)
    emit({"replayed": [{"job_id": j.job_id, "state": j.state.value} for j in jobs]}, None) if state.json else \
        typer.echo(f"replayed {len(jobs)} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(yes: bool = typer.Option(False, "--yes")) -> None:
    """Delete every dead letter (their jobs stay failed, on the record).  Example: mfaops --local dlq purge --yes"""
    container = container_or_exit()
    confirm("Purge every dead letter?", yes)
    store = container.reset_service().dead_letters
    assert store is not None
    count = run_on(container, lambda c: store.purge())
    emit({"purged": count}, None) if state.json else typer.echo(f"purged {count} dead letter(s)")


