"""``mfaops methods USER``: a user's methods as Graph lists them, numbers masked."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cli.app import (
    emit,
    run,
    valid_user,
)


def _mask(value: str) -> str:
    """All but the last two digits (a phone number) or characters (anything else) hidden."""
    from shared.verify.model import mask_number

    if any(c.isdigit() for c in value) and not any(c.isalpha() for c in value):
        return mask_number(value)
    return "*" * max(0, len(value) - 2) + value[-2:]


def methods(user: str) -> None:
    """The user's authentication methods, the default marked, phone numbers masked but the last two digits.
    Example: mfaops --local methods ada.lovelace@contoso.example"""
    valid_user(user)
    snapshot = run(lambda c: c.graph().snapshot(user))
    from shared.reset.plan import DEFAULT_KINDS

    kind = DEFAULT_KINDS.get(snapshot.default_method or "")
    rows: list[dict[str, Any]] = []
    table = Table(title=f"methods of {snapshot.user.upn} (default {snapshot.default_method or 'none'})")
    for column in ("type", "id", "detail", "created", "default"):
        table.add_column(column)
    for m in snapshot.methods:
        is_default = kind is not None and m.type == kind[0] and (kind[1] is None or m.label == kind[1])
        # Graph's field names; a phone number or e-mail address shows its last two characters only.
        row = {"@odata.type": m.graph.get("@odata.type", ""), "id": m.id, **{
            k: (_mask(str(v)) if k in ("phoneNumber", "emailAddress") else v) for k, v in m.graph.items()
            if k not in ("@odata.type", "id")}, "isDefault": is_default}
        rows.append(row)
        detail = " ".join(str(x) for x in (row.get("phoneType"), row.get("phoneNumber"), row.get("emailAddress"),
                                            row.get("displayName"), row.get("model")) if x)
        table.add_row(m.type, m.id, detail, m.created.isoformat() if m.created else "", "yes" if is_default else "")
    emit({"user": {"id": snapshot.user.id, "userPrincipalName": snapshot.user.upn},
          "userPreferredMethodForSecondaryAuthentication": snapshot.default_method, "methods": rows}, table)


