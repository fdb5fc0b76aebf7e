"""The Graph gateway port: what mfaops asks of a tenant, in its own words."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.errors import GraphError, GraphNotFoundError

# The method types mfaops can delete, in the vocabulary of the tenant file and the job record.
REMOVABLE_TYPES = frozenset({
    "phone", "email", "fido2", "microsoftAuthenticator", "softwareOath", "temporaryAccessPass",
    "windowsHelloForBusiness", "platformCredential", "externalAuthenticationMethod",
    "hardwareOath",  # the assignment, through beta (the token stays in the directory)
})


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    upn: str
    display_name: str = ""
    enabled: bool = True
    user_type: str = "Member"
    mail: str = ""


@dataclass(frozen=True, slots=True)
class Memberships:
    """What a guardrail may conclude about a user's groups and roles. Absence proves nothing unless the read says
    it was complete: ``groups_complete``/``roles_complete`` are set only by a read that followed every page, and
    ``checked_groups`` names (lower-cased ids and display names) the groups asked about one by one. The defaults
    are "not known", so a read that forgets to say makes the guardrail refuse rather than proceed."""

    group_ids: frozenset[str] = frozenset()
    group_names: frozenset[str] = frozenset()
    role_names: frozenset[str] = frozenset()
    role_template_ids: frozenset[str] = frozenset()
    checked_groups: frozenset[str] = frozenset()
    groups_complete: bool = False
    roles_complete: bool = False

    def knows_group(self, group: str) -> bool:
        """Whether membership of ``group`` (an id or a display name) was decided by the read."""
        return self.groups_complete or group.strip().lower() in self.checked_groups

    def in_group(self, group: str) -> bool:
        wanted = group.strip().lower()
        return wanted in {g.lower() for g in self.group_ids} or wanted in {n.lower() for n in self.group_names}


@dataclass(frozen=True, slots=True)
class AuthMethod:
    type: str
    id: str
    label: str = ""  # phoneType for phones, displayName for devices: enough for a work note
    created: datetime | None = None
    last_used: datetime | None = None  # beta's lastUsedDateTime; None: not filled by Graph for this method
    # Graph's own JSON of the method as listed (never holds a TAP value: Graph lists TAPs without it), for the
    # operator's view; not compared, not recorded on jobs.
    graph: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def removable(self) -> bool:
        return self.type in REMOVABLE_TYPES


class TapValue:
    """A Temporary Access Pass value. Its repr and str hide it, so it cannot leak through a log or an
    f-string by accident; ``reveal()`` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "TapValue(***)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class IssuedTap:
    method_id: str
    value: TapValue
    start: datetime
    lifetime_minutes: int
    usable_once: bool

    @property
    def expires(self) -> datetime:
        return self.start + timedelta(minutes=self.lifetime_minutes)


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    method: AuthMethod
    error: GraphError | None = None

    @property
    def removed(self) -> bool:
        """Deleted now, or already gone (404): either way the method is no longer there."""
        return self.error is None or isinstance(self.error, GraphNotFoundError)


@dataclass(frozen=True, slots=True)
class TapRequest:
    lifetime_minutes: int | None
    usable_once: bool


@dataclass(slots=True)
class ChainResult:
    """What one reset's write chain did: an outcome per delete (in order), the revoke and the TAP, and notes on
    every break in the chain and how it was resumed (the job's steps show them)."""

    deletes: list[DeleteOutcome]
    revoked: bool = False
    revoke_error: GraphError | None = None
    tap: IssuedTap | None = None
    tap_error: GraphError | None = None
    notes: list[str] = field(default_factory=list)
    round_trips: int = 0

    def revoke_problem(self) -> str:
        """Why sessions were not revoked, never empty when they were not ("failed: None" told nobody anything)."""
        if self.revoked:
            return ""
        if self.revoke_error is not None:
            return str(self.revoke_error)
        failed = [o for o in self.deletes if not o.removed]
        if failed:
            return (f"not sent: {len(failed)} method delete(s) failed first ({failed[0].error}), and the revoke "
                    "waits until every delete is done")
        return "not sent: the chain stopped before it"


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """Everything a reset needs to know about a user, read in one round trip."""

    user: DirectoryUser
    memberships: Memberships
    methods: list[AuthMethod]
    default_method: str | None
    # The proofs' facts, from the same read: the manager (None: the directory names none; ``manager_read`` says
    # the read asked), and the number on record (mobilePhone, else the first businessPhones), never a number from
    # the authentication methods, which whoever holds the account may have registered.
    manager: DirectoryUser | None = None
    manager_read: bool = False
    phone_on_record: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_link: str | None = None


@dataclass(frozen=True, slots=True)
class TapPolicy:
    enabled: bool
    default_lifetime_minutes: int
    minimum_lifetime_minutes: int
    maximum_lifetime_minutes: int
    usable_once: bool
    default_length: int
    include_targets: list[dict[str, Any]] = field(default_factory=list)
    exclude_targets: list[dict[str, Any]] = field(default_factory=list)


class GraphGateway(abc.ABC):
    @abc.abstractmethod
    async def get_user(self, key: str) -> DirectoryUser:
        """A user by object id or UPN; GraphNotFoundError when there is none."""

    @abc.abstractmethod
    async def memberships(self, user_id: str) -> Memberships:
        """Groups and directory roles the user holds, transitively."""

    @abc.abstractmethod
    async def list_methods(self, user_id: str) -> list[AuthMethod]:
        """Every registered method but the password."""

    @abc.abstractmethod
    async def default_method(self, user_id: str) -> str | None:
        """The user's default MFA method (push, oath, sms, voiceMobile, ...) from beta signInPreferences."""

    @abc.abstractmethod
    async def delete_method(self, user_id: str, method: AuthMethod) -> None:
        """Delete one method (DefaultMethodConflictError while it is the default and others remain)."""

    @abc.abstractmethod
    async def delete_methods(self, user_id: str, waves: list[list[AuthMethod]]) -> list[DeleteOutcome]:
        """Delete methods in as few round trips as Graph allows; one outcome per method, in order. Each wave
        starts only once the previous one is done (``dependsOn`` inside a ``$batch``)."""

    @abc.abstractmethod
    async def reset_chain(self, user_id: str, deletes: list[AuthMethod], *, revoke: bool,
                          tap: TapRequest | None) -> ChainResult:
        """Delete ``deletes`` in this order, then revoke sessions, then issue a TAP: one sequential ``$batch``
        chain (20 requests a batch), resumed from any break (throttling, a default or phone refusal)."""

    @abc.abstractmethod
    async def list_users(self, odata_filter: str, select: list[str]) -> list[dict[str, Any]]:
        """Every user the server-side ``$filter`` matches (all pages), with the ``$select``ed properties."""

    @abc.abstractmethod
    async def registered_with(self, *methods: str) -> list[dict[str, Any]]:
        """Rows of the registration details report whose methodsRegistered holds ``method`` (server-side filter;
        the report leaves disabled users out)."""

    @abc.abstractmethod
    async def group_member_ids(self, group: str) -> set[str]:
        """Object ids of a group's transitive members; ``group`` is an object id or a display name
        (GroupNotFoundError when a name matches no group: a typo must not read as "nobody")."""

    @abc.abstractmethod
    async def get_many(self, urls: dict[str, str], version: str = "v1.0") -> dict[str, tuple[int, Any]]:
        """GET each url (relative to ``version``) in parallel $batches of 20: key -> (status, body), each
        collection read to its last page."""

    @abc.abstractmethod
    async def delete_many(self, urls: dict[str, str], version: str = "v1.0") -> dict[str, GraphError | None]:
        """DELETE each url in parallel $batches of 20 (a 404 counts as done): key -> the error, or None."""

    @abc.abstractmethod
    async def snapshot(self, key: str, *, groups: Sequence[str] = ()) -> UserSnapshot:
        """User, directory roles (every page), methods and default method by object id or UPN
        (GraphNotFoundError if none). Group membership is decided only for ``groups`` (ids or display names; a
        name that matches no group raises GroupNotFoundError): the guardrails name the groups they need."""

    @abc.abstractmethod
    async def per_user_mfa(self, user_id: str) -> str:
        """Legacy per-user MFA state (disabled, enabled, enforced) from beta authentication/requirements."""

    @abc.abstractmethod
    async def set_per_user_mfa(self, user_id: str, state: str) -> None:
        """Set the legacy per-user MFA state."""

    @abc.abstractmethod
    async def set_default_method(self, user_id: str, method: str) -> None:
        """Change userPreferredMethodForSecondaryAuthentication (beta signInPreferences)."""

    @abc.abstractmethod
    async def create_tap(self, user_id: str, *, lifetime_minutes: int | None, usable_once: bool) -> IssuedTap:
        """Issue a Temporary Access Pass (replacing any the user has)."""

    @abc.abstractmethod
    async def tap_policy(self) -> TapPolicy:
        """The tenant's Temporary Access Pass policy."""

    @abc.abstractmethod
    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""

    @abc.abstractmethod
    async def registration_details(self, *, odata_filter: str | None = None, next_link: str | None = None,
                                   top: int | None = None) -> Page:
        """One page of the userRegistrationDetails report."""

    @abc.abstractmethod
    async def directory_audits(self, *, since: datetime, until: datetime | None = None,
                               activity: str | None = None, service: str | None = None) -> list[dict[str, Any]]:
        """Directory audit events in [since, until], oldest first, every page."""

    # -- the registration monitor (tenant context is read once per run) --------------------------------------
    @abc.abstractmethod
    async def audit_page(self, *, since: datetime, next_link: str | None = None, top: int = 999) -> Page:
        """One page of directory audits at or after ``since`` from the services that record method changes,
        oldest first (server-side ``$filter`` and ``$orderby``); follow ``next_link`` for the next page."""

    @abc.abstractmethod
    async def sign_ins(self, user_ids: list[str], *, since: datetime) -> list[dict[str, Any]]:
        """Sign-ins of these users since ``since`` (every page; Entra ID P1, else GraphForbiddenError)."""

    @abc.abstractmethod
    async def risky_users(self) -> list[dict[str, Any]]:
        """Users Identity Protection holds at risk or confirmed compromised (Entra ID P2)."""

    @abc.abstractmethod
    async def risk_detections(self, *, since: datetime) -> list[dict[str, Any]]:
        """Risk detections since ``since`` (Entra ID P2)."""

    @abc.abstractmethod
    async def role_holders(self) -> dict[str, set[str]]:
        """User id -> display names of the directory roles the user holds (activated roles, direct members)."""

    @abc.abstractmethod
    async def send_mail(self, sender: str, message: dict[str, Any]) -> None:
        """``POST /users/{sender}/sendMail`` with a Graph message resource (Mail.Send)."""

    # -- posture ------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def ca_policies(self) -> list[dict[str, Any]]:
        """Every Conditional Access policy, as Graph returns it."""

    @abc.abstractmethod
    async def named_locations(self) -> list[dict[str, Any]]:
        """Every Conditional Access named location (ipNamedLocation, countryNamedLocation), as Graph returns it."""

    @abc.abstractmethod
    async def create_ca_policy(self, policy: dict[str, Any]) -> dict[str, Any]:
        """Create a Conditional Access policy (Policy.ReadWrite.ConditionalAccess); the created policy."""

    @abc.abstractmethod
    async def update_ca_policy(self, policy_id: str, changes: dict[str, Any]) -> None:
        """PATCH a Conditional Access policy."""

    @abc.abstractmethod
    async def methods_policy(self) -> dict[str, Any]:
        """The authentication methods policy with its method configurations and migration state."""

    @abc.abstractmethod
    async def certificate_user_ids(self, user_id: str) -> list[str]:
        """``authorizationInfo.certificateUserIds`` of a user (certificate-based authentication bindings)."""

    @abc.abstractmethod
    async def sign_ins_since(self, since: datetime) -> list[dict[str, Any]]:
        """Sign-ins since ``since`` with every enum member Graph has (Prefer: include-unknown-enum-members)."""

    @abc.abstractmethod
    async def role_members(self) -> dict[str, list[dict[str, str]]]:
        """Directory role display name -> its members' ``id`` and ``upn`` (activated roles)."""

    @abc.abstractmethod
    async def organization(self) -> dict[str, Any]:
        """The tenant's organization resource (id, displayName, verifiedDomains)."""
