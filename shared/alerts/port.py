"""The alerts port: tell a human, through every sink the settings name."""

from __future__ import annotations

import abc
from typing import Any


class Alerts(abc.ABC):
    @abc.abstractmethod
    async def raise_alert(self, kind: str, summary: str, **facts: Any) -> None:
        """Tell a human. ``facts`` are identifiers and counts, never secrets."""


class AlertSendError(Exception):
    """A sink could not deliver the alert (the caller records it as failed and tries again later)."""
