"""The one typed settings object, read from app settings (environment variables).

Every field here is documented in the README's settings table (a test keeps the two in step). Secrets are
``SecretStr`` so they never show in ``repr``, logs or validation errors; in Azure they come from Key Vault
references.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigurationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Table Storage: an account URL (managed identity) in Azure, a connection string for Azurite locally.
    table_service_url: str = Field(default="", alias="TABLE_SERVICE_URL")
    table_connection_string: SecretStr = Field(default=SecretStr(""), alias="TABLE_CONNECTION_STRING")
    jobs_table: str = Field(default="mfaopsjobs", alias="JOBS_TABLE")
    jobs_by_user_table: str = Field(default="mfaopsjobsbyuser", alias="JOBS_BY_USER_TABLE")
    job_update_retries: int = Field(default=8, ge=1, le=50, alias="JOB_UPDATE_RETRIES")
    # Ticket jobs get ids derived under this key, so knowing a ticket does not give its job id (Key Vault).
    job_id_key: SecretStr = Field(default=SecretStr(""), alias="JOB_ID_KEY")

    # Identity: client id of the user-assigned managed identity (empty: system-assigned / developer login).
    azure_client_id: str = Field(default="", alias="AZURE_CLIENT_ID")

    # Microsoft Graph.
    graph_base_url: str = Field(default="https://graph.microsoft.com", alias="GRAPH_BASE_URL")
    # managed_identity in Azure; none only for the sandbox tenant on loopback.
    graph_auth: Literal["managed_identity", "none"] = Field(default="managed_identity", alias="GRAPH_AUTH")
    graph_max_retries: int = Field(default=3, ge=0, le=10, alias="GRAPH_MAX_RETRIES")
    graph_retry_after_cap_s: float = Field(default=30.0, gt=0, le=180, alias="GRAPH_RETRY_AFTER_CAP_S")
    # mfaops's own Graph budget per documented bucket ("capacity/window seconds"), shared by every flow of a
    # worker; a 429 with Retry-After always wins over it. Defaults: learn.microsoft.com/graph/throttling-limits
    # (identity and access for the smallest tenant size, its writes, the reports bucket, Identity Protection/CA).
    graph_budget_enabled: bool = Field(default=True, alias="GRAPH_BUDGET_ENABLED")
    graph_budget_identity: str = Field(default="3500/10", alias="GRAPH_BUDGET_IDENTITY")
    graph_budget_writes: str = Field(default="3000/150", alias="GRAPH_BUDGET_WRITES")
    graph_budget_reports: str = Field(default="5/10", alias="GRAPH_BUDGET_REPORTS")
    graph_budget_protection: str = Field(default="1/1", alias="GRAPH_BUDGET_PROTECTION")
    graph_budget_time_scale: float = Field(default=1.0, gt=0, le=1, alias="GRAPH_BUDGET_TIME_SCALE")

    # ServiceNow: the webhook's shared secret and the Table API the worker verifies tickets with.
    servicenow_webhook_secret: SecretStr = Field(default=SecretStr(""), alias="SERVICENOW_WEBHOOK_SECRET")
    servicenow_instance_url: str = Field(default="", alias="SERVICENOW_INSTANCE_URL")
    servicenow_username: str = Field(default="", alias="SERVICENOW_USERNAME")
    servicenow_password: SecretStr = Field(default=SecretStr(""), alias="SERVICENOW_PASSWORD")
    servicenow_accepted_approvals: str = Field(default="approved", alias="SERVICENOW_ACCEPTED_APPROVALS")
    servicenow_success_state: str = Field(default="", alias="SERVICENOW_SUCCESS_STATE")
    webhook_max_skew_s: int = Field(default=300, ge=30, le=3600, alias="WEBHOOK_MAX_SKEW_S")

    # Guardrails.
    break_glass_upns: str = Field(default="", alias="BREAK_GLASS_UPNS")
    break_glass_group: str = Field(default="", alias="BREAK_GLASS_GROUP")
    privileged_roles: str = Field(default="*", alias="PRIVILEGED_ROLES")
    privileged_approval_field: str = Field(default="u_mfa_privileged_approval", alias="PRIVILEGED_APPROVAL_FIELD")
    resets_per_hour_limit: int = Field(default=20, ge=1, le=10_000, alias="RESETS_PER_HOUR_LIMIT")
    allow_guest_reset: bool = Field(default=False, alias="ALLOW_GUEST_RESET")
    allow_disabled_reset: bool = Field(default=False, alias="ALLOW_DISABLED_RESET")
    # A user reset this recently is not reset again without an operator's approval (each reset deletes the TAP
    # the one before issued).
    reset_cooldown_minutes: int = Field(default=60, ge=0, le=10_080, alias="RESET_COOLDOWN_MINUTES")

    # What a reset does after removing the methods, unless the ticket says otherwise.
    default_revoke_sessions: bool = Field(default=True, alias="DEFAULT_REVOKE_SESSIONS")
    default_issue_tap: bool = Field(default=True, alias="DEFAULT_ISSUE_TAP")
    tap_lifetime_minutes: int = Field(default=0, ge=0, le=43200, alias="TAP_LIFETIME_MINUTES")
    tap_usable_once: bool = Field(default=True, alias="TAP_USABLE_ONCE")
    tap_drop_key: SecretStr = Field(default=SecretStr(""), alias="TAP_DROP_KEY")

    # The TAP sweep timer (NCRONTAB, six fields) and what it deletes.
    tap_sweep_schedule: str = Field(default="0 */15 * * * *", alias="TAP_SWEEP_SCHEDULE")
    tap_max_age_hours: int = Field(default=24, ge=1, le=720, alias="TAP_MAX_AGE_HOURS")
    tap_allow_multi_use: bool = Field(default=True, alias="TAP_ALLOW_MULTI_USE")
    tap_sweep_exempt_group: str = Field(default="", alias="TAP_SWEEP_EXEMPT_GROUP")

    # Stale-method cleanup: the timer plans with the policy file, and applies only when told to.
    cleanup_schedule: str = Field(default="0 0 3 * * *", alias="CLEANUP_SCHEDULE")
    cleanup_policy: str = Field(default="", alias="CLEANUP_POLICY")
    cleanup_apply: bool = Field(default=False, alias="CLEANUP_APPLY")

    # Service Bus: the reset queue (its dead-letter queue is '<queue>/$deadletterqueue').
    reset_queue: str = Field(default="mfaops-reset", alias="RESET_QUEUE")
    servicebus_namespace: str = Field(default="", alias="ServiceBusConnection__fullyQualifiedNamespace")
    queue_max_deliveries: int = Field(default=5, ge=1, le=100, alias="QUEUE_MAX_DELIVERIES")
    alerts_topic: str = Field(default="mfaops-alerts", alias="ALERTS_TOPIC")

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @property
    def job_id_secret(self) -> bytes:
        return self.job_id_key.get_secret_value().encode()

    @property
    def break_glass_upn_set(self) -> frozenset[str]:
        return frozenset(u.strip().lower() for u in self.break_glass_upns.split(",") if u.strip())

    @property
    def accepted_approvals(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.servicenow_accepted_approvals.split(",") if a.strip())

    @property
    def privileged_role_set(self) -> frozenset[str]:
        """Role names or template ids that make a user privileged; '*' means any directory role."""
        return frozenset(r.strip().lower() for r in self.privileged_roles.split(",") if r.strip())

    @field_validator("*", mode="before")
    @classmethod
    def _no_unresolved_key_vault_reference(cls, value: object) -> object:
        # App Service passes a Key Vault reference it could not resolve (the identity's role not there yet, a
        # wrong secret URI) to the app as the literal '@Microsoft.KeyVault(...)' string.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.strip().startswith("@Microsoft.KeyVault("):
            raise ValueError("is an unresolved Key Vault reference: check the app's identity can read the secret")
        return value

    @field_validator("table_service_url", "graph_base_url", "servicenow_instance_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # httpx joins base and path with a slash of its own; a trailing one gives '//users'.
        return value.rstrip("/")

    @field_validator("graph_budget_identity", "graph_budget_writes", "graph_budget_reports",
                     "graph_budget_protection")
    @classmethod
    def _rate(cls, value: str) -> str:
        capacity, _, window = value.partition("/")
        try:
            ok = float(capacity) > 0 and float(window) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("must be 'capacity/window seconds', both positive, e.g. 5/10")
        return value

    @property
    def graph_budget_limits(self) -> dict[str, tuple[float, float]]:
        def rate(value: str) -> tuple[float, float]:
            capacity, _, window = value.partition("/")
            return float(capacity), float(window)

        return {"identity": rate(self.graph_budget_identity), "writes": rate(self.graph_budget_writes),
                "reports": rate(self.graph_budget_reports), "protection": rate(self.graph_budget_protection)}

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate settings; a bad one raises ConfigurationError naming it (never its value)."""
    try:
        if environ is None:
            return Settings()
        return Settings.model_validate(environ)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            name = _setting_name(err["loc"])
            problems.append(f"{name}: {err['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None


def _setting_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    if info is not None and info.alias:
        return info.alias
    return field.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The worker's settings, read once."""
    return load_settings()
