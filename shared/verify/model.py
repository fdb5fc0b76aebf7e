"""A verification: the proofs a reset waits for before any Graph write, as they stand. Pure data, no I/O.

What the job JSON shows (``view``) is what an operator or a ticket may read; what the gate needs to decide
(the manager's object id, a keyed digest of the last four digits of the number on record) is kept beside it and
never shown."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING, PASSED, FAILED, EXPIRED, NOT_REQUIRED = "pending", "passed", "failed", "expired", "not_required"
SCANNED = "scanned"  # a verified_id proof whose request the user's wallet retrieved: still open
KINDS = ("manager", "callback", "verified_id")
DELIVERIES = ("operator", "manager", "verified_user")
# A proof that failed for one of these reasons says nothing about the caller (the directory lacks what the proof
# needs): with ``require: any`` another proof may still pass. Every other failure (a denial, a refused or mismatched
# call-back, an expiry) ends the verification at once.
MAX_REASON_CHARS = 500  # a manager's reason for a denial
STRUCTURAL = frozenset({"no_manager", "manager_disabled", "not_independent", "no_number_on_record"})
OPEN = frozenset({PENDING, SCANNED})
# What a verified_id proof shows of its presentation request (the rest of its data stays private: the browser it is
# bound to, the client address).
SHOWN = ("request_id", "url", "expiry", "type", "issuer", "score", "threshold")


def new_verification_id() -> str:
    """128 random bits, URL-safe: the id is in a link a manager opens, and must not be guessable."""
    return secrets.token_urlsafe(16)


def digits_digest(digits: str, key: bytes) -> str:
    return hmac.new(key, b"callback-last4:" + digits.encode(), hashlib.sha256).hexdigest()


def mask_number(number: str) -> str:
    """A phone number with all but its last two digits hidden (the form the rest of mfaops shows)."""
    digits = [c for c in number if c.isdigit()]
    return "*" * max(0, len(digits) - 2) + "".join(digits[-2:])


@dataclass(slots=True)
class Proof:
    kind: str
    state: str = PENDING
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.state in OPEN

    def view(self) -> dict[str, Any]:
        out = {"kind": self.kind, "state": self.state, "by": self.by,
               "at": self.at.isoformat() if self.at else None, "reason": self.reason}
        out.update({k: self.data[k] for k in SHOWN if k in self.data})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.view(), "data": dict(self.data)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proof:
        at = data.get("at")
        return cls(kind=str(data["kind"]), state=str(data.get("state", PENDING)), by=data.get("by"),
                   at=datetime.fromisoformat(at) if at else None, reason=data.get("reason"),
                   data=dict(data.get("data") or {}))


@dataclass(slots=True)
class Verification:
    id: str
    tier: str | None
    mode: str  # "all" or "any"
    kinds: list[str]
    state: str
    proofs: list[Proof]
    expires_at: datetime | None
    tap_delivery: str
    created_at: datetime | None = None
    # Kept for the gate's decisions, never in the view: who may decide as the manager, and the number on record.
    manager_id: str = ""
    manager_upn: str = ""
    phone_mask: str = ""
    phone_digest: str = ""
    # The user as the directory had them when the verification opened: a presented credential must name them.
    display_name: str = ""
    mail: str = ""

    @classmethod
    def not_required(cls, *, tier: str | None = None, tap_delivery: str = "operator") -> Verification:
        return cls(id=new_verification_id(), tier=tier, mode="all", kinds=[], state=NOT_REQUIRED, proofs=[],
                   expires_at=None, tap_delivery=tap_delivery)

    def proof(self, kind: str) -> Proof | None:
        return next((p for p in self.proofs if p.kind == kind), None)

    @property
    def decided(self) -> bool:
        return self.state != PENDING

    def settle(self) -> str:
        """The verification's state from its proofs' (called after each proof changes)."""
        if self.state != PENDING:
            return self.state
        states = [p.state for p in self.proofs]
        decisive = [p for p in self.proofs if p.state in (FAILED, EXPIRED) and p.reason not in STRUCTURAL]
        if any(p.state == EXPIRED for p in self.proofs):
            self.state = EXPIRED
        elif decisive:
            self.state = FAILED
        elif self.mode == "all":
            if FAILED in states:
                self.state = FAILED
            elif states and all(s == PASSED for s in states):
                self.state = PASSED
        else:
            if PASSED in states:
                self.state = PASSED
            elif states and all(s == FAILED for s in states):
                self.state = FAILED
        return self.state

    def failed_proof(self) -> Proof | None:
        return next((p for p in self.proofs if p.state in (FAILED, EXPIRED)), None)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "tier": self.tier, "require": {self.mode: list(self.kinds)}, "state": self.state,
                "proofs": [p.view() for p in self.proofs],
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "tap_delivery": self.tap_delivery}

    def to_dict(self) -> dict[str, Any]:
        return {**self.view(), "proofs": [p.to_dict() for p in self.proofs],
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "manager_id": self.manager_id, "manager_upn": self.manager_upn, "phone_mask": self.phone_mask,
                "phone_digest": self.phone_digest, "display_name": self.display_name, "mail": self.mail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        require = data.get("require") or {"all": []}
        mode = "any" if "any" in require else "all"
        expires, created = data.get("expires_at"), data.get("created_at")
        return cls(id=str(data["id"]), tier=data.get("tier"), mode=mode, kinds=[str(k) for k in require[mode]],
                   state=str(data.get("state", PENDING)),
                   proofs=[Proof.from_dict(p) for p in data.get("proofs", [])],
                   expires_at=datetime.fromisoformat(expires) if expires else None,
                   tap_delivery=str(data.get("tap_delivery", "operator")),
                   created_at=datetime.fromisoformat(created) if created else None,
                   manager_id=str(data.get("manager_id", "")), manager_upn=str(data.get("manager_upn", "")),
                   phone_mask=str(data.get("phone_mask", "")), phone_digest=str(data.get("phone_digest", "")),
                   display_name=str(data.get("display_name", "")), mail=str(data.get("mail", "")))
