"""Mail: the manager's approval message (user-sendmail)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiota_abstractions.method import Method

from shared.graph.errors import graph_errors

if TYPE_CHECKING:

    pass

from shared.graph.sdk.base import SdkBase


class Mail(SdkBase):
    async def send_mail(self, sender: str, message: dict[str, Any]) -> None:
        async with graph_errors(f"send mail as {sender}"):
            await self._raw(Method.POST, f"{self._v1}/users/{sender}/sendMail",
                            {"message": message, "saveToSentItems": False})
