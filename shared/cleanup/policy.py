"""The cleanup policy file (``CLEANUP_POLICY``, YAML), validated with errors that name the line and the field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import MfaopsError
from shared.graph.method_names import NAMES
from shared.graph.method_names import PHISHING_RESISTANT as PHISHING_RESISTANT_NAMES
from shared.policyfile import PolicyFileError, validated

MAX_POLICY_BYTES = 64 * 1024  # a real policy is a few hundred bytes; pure-Python YAML costs ~0.5 ms a KiB

# Graph's methodsRegistered vocabulary -> (method @odata.type suffix, phoneType or None): the names some Graph API
# removes, every spelling of each (shared/graph/method_names.py is the one table; fido2, fido2SecurityKey and
# the passKey* names all name a FIDO2 method).
VOCABULARY: dict[str, tuple[str, str | None]] = {n.name: (n.resource, n.phone_type) for n in NAMES.values()
                                                 if n.deletable}
# Types no Graph API removes, and where an admin removes them instead.
NOT_DELETABLE = {n.name: n.note for n in NAMES.values() if not n.deletable}
PHISHING_RESISTANT = tuple(sorted(PHISHING_RESISTANT_NAMES))


class PolicyError(MfaopsError):
    """The policy file is not valid. The message names the line and the field."""


def _check_types(types: list[str]) -> list[str]:
    for name in types:
        if name in NOT_DELETABLE:
            raise ValueError(f"{name} cannot be removed through Graph: {NOT_DELETABLE[name]}")
        if name not in VOCABULARY:
            raise ValueError(f"{name!r} is not a methodsRegistered type mfaops can remove "
                             f"({', '.join(sorted(VOCABULARY))})")
    return types


def _group_names(names: list[str]) -> list[str]:
    """A group is an object id or a display name (Entra allows 256 characters); it goes into an OData filter
    and into Table Storage, so it must be printable Unicode text."""
    for name in names:
        try:
            name.encode()
        except UnicodeEncodeError:
            raise ValueError(f"group {name.encode(errors='backslashreplace').decode()!r} is not valid Unicode "
                             "text (a lone surrogate)") from None
        if not name.strip() or len(name) > 256 or not name.isprintable():
            raise ValueError(f"group {name[:80]!r}: a display name or object id of 1 to 256 printable characters")
    return names


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")
    include_groups: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("include_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        return _group_names(value)


class _RemovesTypes(_Rule):
    """A rule that names the method types it removes (checked against what Graph can delete)."""

    remove: list[str] = Field(min_length=1)

    @field_validator("remove")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _check_types(value)


class WeakWhenPhishingResistant(_RemovesTypes):
    kind: Literal["weak_when_phishing_resistant"]


class DisabledAccount(_Rule):
    kind: Literal["disabled_account"]


class Guest(_Rule):
    kind: Literal["guest"]


class KeepNewest(_RemovesTypes):
    kind: Literal["keep_newest"]
    keep: int = Field(ge=0, le=100)


class MethodType(_RemovesTypes):
    kind: Literal["method_type"]


class Unused(_RemovesTypes):
    """Methods last used more than ``days`` ago, by the inventory's lastUsedDateTime. A method Graph gives no
    lastUsedDateTime is never taken as unused (it is listed under the plan's ``unknown``). Without ``allow_last`` the
    rule keeps a user's last usable method and a method that satisfies the tenant's MFA."""

    kind: Literal["unused"]
    days: int = Field(ge=1, le=3650)
    allow_last: bool = False


Rule = Annotated[WeakWhenPhishingResistant | DisabledAccount | Guest | KeepNewest | MethodType | Unused,
                 Field(discriminator="kind")]


class CleanupPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    max_removals_per_run: int = Field(ge=1, le=100_000)
    exclude_groups: list[str] = Field(default_factory=list, max_length=50)
    rules: list[Rule] = Field(min_length=1, max_length=100)

    @field_validator("exclude_groups")
    @classmethod
    def _groups(cls, value: list[str]) -> list[str]:
        return _group_names(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> CleanupPolicy:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self


def load_policy(text: str) -> CleanupPolicy:
    """Parse and validate; PolicyError naming the line (and the field) of the first problem."""
    try:
        return validated(text, CleanupPolicy, what="max_removals_per_run and rules", kinds=_KINDS,
                         max_bytes=MAX_POLICY_BYTES)
    except PolicyFileError as exc:
        raise PolicyError(str(exc)) from None


_KINDS = {"weak_when_phishing_resistant", "disabled_account", "guest", "keep_newest", "method_type", "unused"}
