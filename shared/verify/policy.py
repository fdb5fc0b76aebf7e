"""The verification policy (``VERIFY_POLICY``, YAML): which proofs a user's reset waits for, and who receives the
TAP. Tiers are tried in order; the first whose ``when`` matches the user applies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import MfaopsError
from shared.policyfile import PolicyFileError, validated

MAX_POLICY_BYTES = 32 * 1024
ProofKind = Literal["manager", "callback", "verified_id"]
Delivery = Literal["operator", "manager", "verified_user"]


class VerifyPolicyError(MfaopsError):
    """The verification policy is not valid; the message names the line and the field."""


def _groups(names: list[str]) -> list[str]:
    for name in names:
        try:
            name.encode()
        except UnicodeEncodeError:
            raise ValueError("a group name is not valid Unicode text (a lone surrogate)") from None
        if not name.strip() or len(name) > 256 or not name.isprintable():
            raise ValueError(f"group {name[:80]!r}: a display name or object id of 1 to 256 printable characters")
    return names


class When(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    groups: list[str] = Field(default_factory=list, max_length=20)
    privileged: bool | None = None

    @field_validator("groups")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return _groups(value)


class Require(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    all: list[ProofKind] | None = Field(default=None, max_length=3)
    any: list[ProofKind] | None = Field(default=None, max_length=3)

    @model_validator(mode="after")
    def _one(self) -> Require:
        if (self.all is None) == (self.any is None):
            raise ValueError("give either all or any (a list of proofs: manager, callback, verified_id)")
        kinds = self.kinds
        if len(set(kinds)) != len(kinds):
            raise ValueError("a proof is named twice")
        if self.any is not None and not self.any:
            raise ValueError("any: [] can never pass; use all: [] for a tier that needs no proof")
        return self

    @property
    def mode(self) -> str:
        return "all" if self.all is not None else "any"

    @property
    def kinds(self) -> list[str]:
        return list(self.all if self.all is not None else self.any or [])


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    when: When = Field(default_factory=When)
    require: Require
    tap_delivery: Delivery = "operator"
    # Self-service recovery (SELF_SERVICE_RECOVERY): the user proves themselves with Verified ID alone, no agent.
    self_service: bool = False

    @model_validator(mode="after")
    def _delivery(self) -> Tier:
        if self.tap_delivery == "verified_user" and "verified_id" not in self.require.kinds:
            raise ValueError("tap_delivery verified_user needs the verified_id proof (the TAP goes to the page where "
                             "the user presented their credential)")
        if self.tap_delivery == "verified_user" and self.require.mode == "any" and len(self.require.kinds) > 1:
            raise ValueError("tap_delivery verified_user with require any: the page's holder may never have "
                             "presented; use all")
        if self.self_service and (self.require.kinds != ["verified_id"] or self.tap_delivery != "verified_user"):
            raise ValueError("self_service: the tier must require exactly verified_id and deliver the TAP to the "
                             "verified user (no agent takes part in a self-service recovery)")
        if self.tap_delivery == "manager" and "manager" not in self.require.kinds:
            raise ValueError("tap_delivery manager needs the manager proof (the TAP goes to the approving manager)")
        if self.tap_delivery == "manager" and self.require.mode == "any" and len(self.require.kinds) > 1:
            raise ValueError("tap_delivery manager with require any: the manager may never approve; use all")
        return self


class VerifyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    expire_after_minutes: int = Field(default=60, ge=5, le=10_080)
    tiers: list[Tier] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _shape(self) -> VerifyPolicy:
        ids = [t.id for t in self.tiers]
        if len(ids) != len(set(ids)):
            raise ValueError("tier ids must be unique")
        last = self.tiers[-1]
        if last.when.groups or last.when.privileged is not None:
            raise ValueError(f"the last tier ({last.id}) must have no when: every user needs a tier")
        return self

    @property
    def groups(self) -> list[str]:
        """Every group a tier names: the reset's first read decides the user's membership of each."""
        seen: dict[str, str] = {}
        for tier in self.tiers:
            for group in tier.when.groups:
                seen.setdefault(group.strip().lower(), group.strip())
        return list(seen.values())


DEFAULT_POLICY_YAML = """\
expire_after_minutes: 60
tiers:                       # first match wins
  - id: privileged
    when: {privileged: true}          # holds a PRIVILEGED_ROLES role
    require: {all: [manager, callback]}
    tap_delivery: manager
  - id: standard
    require: {any: [manager]}
    tap_delivery: manager
"""


def load_verify_policy(text: str) -> VerifyPolicy:
    try:
        return validated(text, VerifyPolicy, what="expire_after_minutes and tiers", max_bytes=MAX_POLICY_BYTES)
    except PolicyFileError as exc:
        raise VerifyPolicyError(str(exc)) from None


def policy_in_force(setting: str) -> VerifyPolicy | None:
    """``VERIFY_POLICY``: empty, the built-in default; ``none``, no gate (None); else the path of a YAML file."""
    value = setting.strip()
    if value.lower() == "none":
        return None
    if not value:
        return load_verify_policy(DEFAULT_POLICY_YAML)
    try:
        text = Path(value).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyPolicyError(f"VERIFY_POLICY: cannot read {value}: {type(exc).__name__}") from None
    try:
        return load_verify_policy(text)
    except VerifyPolicyError as exc:
        raise VerifyPolicyError(f"VERIFY_POLICY {value}: {exc}") from None


def strengthens(stricter: VerifyPolicy, base: VerifyPolicy) -> str:
    """Why ``stricter`` does not only add requirements to ``base`` ('' when it does): the same tiers, in the same
    order, matching the same users, delivering the TAP the same way, each asking at least what ``base`` asks."""
    if [t.id for t in stricter.tiers] != [t.id for t in base.tiers]:
        return (f"the tiers must be those in force, in order ({', '.join(t.id for t in base.tiers)}); "
                "a bulk policy may only add proofs to them")
    if stricter.expire_after_minutes > base.expire_after_minutes:
        return f"expire_after_minutes may not be longer than the {base.expire_after_minutes} in force"
    for mine, theirs in zip(stricter.tiers, base.tiers, strict=True):
        if mine.when != theirs.when:
            return f"tier {mine.id}: when must be as in force"
        if mine.tap_delivery != theirs.tap_delivery:
            return f"tier {mine.id}: tap_delivery must be {theirs.tap_delivery}, as in force"
        if not _at_least(mine.require, theirs.require):
            return f"tier {mine.id}: asks less than the policy in force ({theirs.require.mode}: " \
                   f"{', '.join(theirs.require.kinds) or 'nothing'})"
    return ""


def _at_least(mine: Require, theirs: Require) -> bool:
    want, have = set(theirs.kinds), set(mine.kinds)
    if theirs.mode == "all":
        return (mine.mode == "all" and want <= have) or (mine.mode == "any" and bool(have) and
                                                          all(want <= {k} for k in have))
    # theirs: any of ``want``. Mine must imply one of them every way it can pass.
    if mine.mode == "all":
        return bool(have & want) or not want
    return bool(have) and have <= want


def tier_for(policy: VerifyPolicy, *, in_group: Callable[[str], bool | None], privileged: bool) -> Tier:
    """The first tier whose ``when`` holds for the user. ``in_group`` answers None when the membership was not
    decided: the tier cannot be chosen, and a gate that cannot decide refuses (VerifyPolicyError)."""
    for tier in policy.tiers:
        if tier.when.privileged is not None and tier.when.privileged != privileged:
            continue
        if tier.when.groups:
            answers = [in_group(g) for g in tier.when.groups]
            if any(a is None for a in answers):
                missing = next(g for g, a in zip(tier.when.groups, answers, strict=True) if a is None)
                raise VerifyPolicyError(f"tier {tier.id}: membership of {missing!r} was not decided")
            if not any(answers):
                continue
        return tier
    raise VerifyPolicyError("no tier matches (the last tier must have no when)")
