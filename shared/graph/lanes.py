"""Which lane a Graph request travels in. A reset, a verification or an operator's single command is
`interactive`; the inventory, the TAP sweep, cleanup, the monitor, posture and bulk resets are `background`. The
lane belongs to the flow, not to the call site: a flow's entry point says it once (`@background_flow`) and every
request it makes, however deep, travels in that lane, because a context variable follows the flow through its
awaits and into the tasks it starts. The budget (shared/graph/budget.py) serves the interactive lane first."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

INTERACTIVE = "interactive"
BACKGROUND = "background"
LANES = (INTERACTIVE, BACKGROUND)

_lane: ContextVar[str] = ContextVar("mfaops_graph_lane", default=INTERACTIVE)

P = ParamSpec("P")
R = TypeVar("R")


def current_lane() -> str:
    return _lane.get()


@contextlib.contextmanager
def lane(name: str) -> Iterator[None]:
    if name not in LANES:
        raise ValueError(f"unknown Graph lane {name!r}")
    token = _lane.set(name)
    try:
        yield
    finally:
        _lane.reset(token)


def background_flow(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Every Graph request of this coroutine, and of what it awaits or starts, travels in the background lane."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with lane(BACKGROUND):
            return await fn(*args, **kwargs)

    return wrapper
