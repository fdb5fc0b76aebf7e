"""The ticket port: read a ticket to verify a request, write the outcome back."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from shared.errors import MfaopsError

# ServiceNow states that mean the ticket is over (incident: Resolved, Closed, Canceled; requested item and
# task: Closed Complete, Closed Incomplete, Closed Skipped).
CLOSED_STATES = {"incident": frozenset({"6", "7", "8"}), "sc_req_item": frozenset({"3", "4", "7"})}
_IDENTITY_FIELDS = ("requested_for", "requested_for.email", "requested_for.user_name", "caller_id",
                    "caller_id.email", "caller_id.user_name")


class TicketSystemError(MfaopsError):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Ticket:
    table: str
    sys_id: str
    number: str
    state: str
    approval: str
    active: bool
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return not self.active or self.state in CLOSED_STATES.get(self.table, frozenset())

    def is_for(self, *identifiers: str) -> bool:
        """Whether the ticket's requested-for user (caller, for incidents) is one of ``identifiers``."""
        wanted = {i.lower() for i in identifiers if i}
        return any(self.fields.get(f, "").lower() in wanted for f in _IDENTITY_FIELDS if self.fields.get(f))


class TicketSystem(abc.ABC):
    @abc.abstractmethod
    async def get_ticket(self, table: str, sys_id: str) -> Ticket | None:
        """The ticket, or None when there is no such record."""

    @abc.abstractmethod
    async def write_back(self, table: str, sys_id: str, work_note: str, *, state: str = "") -> None:
        """Append a work note (and set the state when given)."""

    @abc.abstractmethod
    async def create_record(self, table: str, fields: dict[str, str]) -> str:
        """Create a record (an incident, for alerts); its sys_id."""
