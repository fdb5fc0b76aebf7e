"""The one typed settings object, read from app settings (environment variables).

Every field here is documented in the README's settings table (a test keeps the two in step). Secrets are
``SecretStr`` so they never show in ``repr``, logs or validation errors; in Azure they come from Key Vault
references.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
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
    # Empty: taken from the tenant's size (one count of users a day: 3,500 / 5,000 / 8,000 units per 10 s for
    # under 50, 50-500 and over 500 users); a value overrides it.
    graph_budget_identity: str = Field(default="", alias="GRAPH_BUDGET_IDENTITY")
    graph_budget_writes: str = Field(default="3000/150", alias="GRAPH_BUDGET_WRITES")
    graph_budget_reports: str = Field(default="5/10", alias="GRAPH_BUDGET_REPORTS")
    graph_budget_protection: str = Field(default="1/1", alias="GRAPH_BUDGET_PROTECTION")
    # Graph throttles per app per tenant: the budget, and every 429 one instance sees, are shared through Table
    # Storage, so scaled-out instances send one budget together.
    graph_budget_shared: bool = Field(default=True, alias="GRAPH_BUDGET_SHARED")
    graph_budget_max_wait_s: float = Field(default=120.0, gt=0, le=600, alias="GRAPH_BUDGET_MAX_WAIT_S")
    graph_budget_time_scale: float = Field(default=1.0, gt=0, le=1, alias="GRAPH_BUDGET_TIME_SCALE")
    # The most of each bucket the background lane (inventory, TAP sweep, cleanup, monitor, posture, bulk) may
    # spend over a window; resets and operators' commands are served first whatever it is.
    graph_background_share: float = Field(default=0.6, gt=0, le=1, alias="GRAPH_BACKGROUND_SHARE")

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

    # Proof before reset: the verification policy (a YAML file; empty: the built-in default; "none": no gate),
    # how many failed verifications of one user in 24 h raise possible_social_engineering, and what else then.
    verify_policy: str = Field(default="", alias="VERIFY_POLICY")
    verify_failures_alert: int = Field(default=2, ge=1, le=100, alias="VERIFY_FAILURES_ALERT")
    verify_on_failure: Literal["none", "revoke_sessions"] = Field(default="none", alias="VERIFY_ON_FAILURE")
    # Microsoft Entra Verified ID (the verified_id proof): the Request Service, the verifier's DID, what is asked.
    verified_id_endpoint: str = Field(default="https://verifiedid.did.msidentity.com", alias="VERIFIED_ID_ENDPOINT")
    verified_id_authority: str = Field(default="", alias="VERIFIED_ID_AUTHORITY")
    verified_id_credential_type: str = Field(default="VerifiedEmployee", alias="VERIFIED_ID_CREDENTIAL_TYPE")
    verified_id_accepted_issuers: str = Field(default="", alias="VERIFIED_ID_ACCEPTED_ISSUERS")
    verified_id_facecheck_threshold: int = Field(default=70, ge=50, le=100, alias="VERIFIED_ID_FACECHECK_THRESHOLD")
    verified_id_callback_key: SecretStr = Field(default=SecretStr(""), alias="VERIFIED_ID_CALLBACK_KEY")
    verified_id_min_credential_age_days: int = Field(default=7, ge=0, le=3650,
                                                     alias="VERIFIED_ID_MIN_CREDENTIAL_AGE_DAYS")
    # The user's page: how long its link lives, and the optional self-service recovery (no agent).
    verify_link_minutes: int = Field(default=10, ge=1, le=1440, alias="VERIFY_LINK_MINUTES")
    self_service_recovery: bool = Field(default=False, alias="SELF_SERVICE_RECOVERY")
    # The app's public address, for links in the manager's mail (empty: https://$WEBSITE_HOSTNAME in Azure).
    app_base_url: str = Field(default="", alias="APP_BASE_URL")

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

    # The rolling methods inventory (timer INVENTORY_SCHEDULE; `mfaops inventory ...`).
    inventory_schedule: str = Field(default="0 */10 * * * *", alias="INVENTORY_SCHEDULE")
    inventory_table: str = Field(default="mfaopsinventory", alias="INVENTORY_TABLE")
    inventory_batch_users: int = Field(default=200, ge=1, le=100_000, alias="INVENTORY_BATCH_USERS")
    inventory_retention_days: int = Field(default=30, ge=2, le=3650, alias="INVENTORY_RETENTION_DAYS")
    inventory_recheck_days: int = Field(default=30, ge=1, le=3650, alias="INVENTORY_RECHECK_DAYS")
    # A pass begins by reading the whole registration report (at 50,000 users, 500 pages of the reports bucket), so
    # a new pass begins at most this often; the runs between go on with the pass that is in progress.
    inventory_pass_minutes: int = Field(default=360, ge=0, le=10_080, alias="INVENTORY_PASS_MINUTES")
    # A timer run stops reading (report pages or users) after this long and the next run resumes: inside host.json's
    # 10-minute functionTimeout, since the reports bucket's share is 3 requests per 10 s.
    inventory_run_seconds: int = Field(default=480, ge=10, le=3600, alias="INVENTORY_RUN_SECONDS")

    # Service Bus: the reset queue (its dead-letter queue is '<queue>/$deadletterqueue').
    reset_queue: str = Field(default="mfaops-reset", alias="RESET_QUEUE")
    servicebus_namespace: str = Field(default="", alias="ServiceBusConnection__fullyQualifiedNamespace")
    # A throttled job goes back on the queue later (a new message with a scheduled enqueue time) instead of
    # burning its delivery count: base * 2^n seconds, at least the Retry-After, at most the maximum.
    queue_backoff_base_s: float = Field(default=30.0, gt=0, le=3600, alias="QUEUE_BACKOFF_BASE_S")
    queue_backoff_max_s: float = Field(default=900.0, gt=0, le=86_400, alias="QUEUE_BACKOFF_MAX_S")
    queue_max_deliveries: int = Field(default=5, ge=1, le=100, alias="QUEUE_MAX_DELIVERIES")
    alerts_topic: str = Field(default="mfaops-alerts", alias="ALERTS_TOPIC")

    # Jobs left running with no worker (a killed process, a lost message) are failed, and say so.
    stuck_jobs_schedule: str = Field(default="0 */10 * * * *", alias="STUCK_JOBS_SCHEDULE")
    job_stuck_minutes: int = Field(default=60, ge=5, le=10_080, alias="JOB_STUCK_MINUTES")

    # Registration monitor (timer MONITOR_SCHEDULE; `mfaops monitor`).
    monitor_schedule: str = Field(default="0 */5 * * * *", alias="MONITOR_SCHEDULE")
    monitor_table: str = Field(default="mfaopsmonitor", alias="MONITOR_TABLE")
    monitor_first_lookback_hours: int = Field(default=24, ge=1, le=720, alias="MONITOR_FIRST_LOOKBACK_HOURS")
    monitor_page_size: int = Field(default=999, ge=1, le=999, alias="MONITOR_PAGE_SIZE")
    monitor_overlap_minutes: int = Field(default=15, ge=0, le=1440, alias="MONITOR_OVERLAP_MINUTES")
    monitor_watchlist_group: str = Field(default="", alias="MONITOR_WATCHLIST_GROUP")
    trusted_ip_ranges: str = Field(default="", alias="TRUSTED_IP_RANGES")
    allowed_phone_country_codes: str = Field(default="", alias="ALLOWED_PHONE_COUNTRY_CODES")
    reregistration_expected_hours: int = Field(default=24, ge=1, le=720, alias="REREGISTRATION_EXPECTED_HOURS")
    monitor_risk_window_hours: int = Field(default=2, ge=1, le=168, alias="MONITOR_RISK_WINDOW_HOURS")
    monitor_admin_risk_window_hours: int = Field(default=4, ge=1, le=168, alias="MONITOR_ADMIN_RISK_WINDOW_HOURS")
    monitor_signin_baseline_days: int = Field(default=30, ge=1, le=180, alias="MONITOR_SIGNIN_BASELINE_DAYS")
    monitor_sspr_window_hours: int = Field(default=4, ge=1, le=168, alias="MONITOR_SSPR_WINDOW_HOURS")
    monitor_burst_threshold: int = Field(default=5, ge=2, le=10_000, alias="MONITOR_BURST_THRESHOLD")
    monitor_burst_window_minutes: int = Field(default=60, ge=1, le=10_080, alias="MONITOR_BURST_WINDOW_MINUTES")
    monitor_actor_threshold: int = Field(default=5, ge=2, le=10_000, alias="MONITOR_ACTOR_THRESHOLD")
    monitor_actor_window_minutes: int = Field(default=60, ge=1, le=10_080, alias="MONITOR_ACTOR_WINDOW_MINUTES")
    monitor_shared_phone_users: int = Field(default=2, ge=2, le=1000, alias="MONITOR_SHARED_PHONE_USERS")
    monitor_ticket_window_hours: int = Field(default=24, ge=1, le=720, alias="MONITOR_TICKET_WINDOW_HOURS")
    monitor_expected: Literal["suppress", "downgrade"] = Field(default="suppress", alias="MONITOR_EXPECTED")
    monitor_contain: str = Field(default="", alias="MONITOR_CONTAIN")
    monitor_phone_hash_key: SecretStr = Field(default=SecretStr(""), alias="MONITOR_PHONE_HASH_KEY")
    mfaops_app_id: str = Field(default="", alias="MFAOPS_APP_ID")

    # Posture (timer POSTURE_SCHEDULE; `mfaops posture`).
    posture_schedule: str = Field(default="0 30 6 * * *", alias="POSTURE_SCHEDULE")
    posture_table: str = Field(default="mfaopsposture", alias="POSTURE_TABLE")
    max_privileged_auth_admins: int = Field(default=5, ge=0, le=1000, alias="MAX_PRIVILEGED_AUTH_ADMINS")
    posture_per_user_mfa_max_users: int = Field(default=50, ge=0, le=100_000,
                                                alias="POSTURE_PER_USER_MFA_MAX_USERS")
    posture_open_methods: str = Field(default="Fido2,MicrosoftAuthenticator,TemporaryAccessPass,X509Certificate",
                                      alias="POSTURE_OPEN_METHODS")
    posture_allow_fix: bool = Field(default=False, alias="POSTURE_ALLOW_FIX")
    registration_policy_name: str = Field(default="mfaops: protect security info registration",
                                          alias="REGISTRATION_POLICY_NAME")

    # Alert sinks (several at once): log, topic, teams, mail, servicenow.
    alert_sinks: str = Field(default="log,topic", alias="ALERT_SINKS")
    alert_min_severity: Literal["low", "medium", "high", "critical"] = Field(default="medium",
                                                                             alias="ALERT_MIN_SEVERITY")
    teams_webhook_url: SecretStr = Field(default=SecretStr(""), alias="TEAMS_WEBHOOK_URL")
    alert_mail_from: str = Field(default="", alias="ALERT_MAIL_FROM")
    alert_mail_to: str = Field(default="", alias="ALERT_MAIL_TO")
    alert_servicenow_table: str = Field(default="incident", alias="ALERT_SERVICENOW_TABLE")
    alert_servicenow_group: str = Field(default="", alias="ALERT_SERVICENOW_GROUP")
    alert_attempts: int = Field(default=3, ge=1, le=10, alias="ALERT_ATTEMPTS")

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @property
    def accepted_issuer_list(self) -> list[str]:
        """The DIDs whose credentials are accepted (default: the authority's own)."""
        given = _items(self.verified_id_accepted_issuers, lower=False)
        return given or ([self.verified_id_authority] if self.verified_id_authority else [])

    @property
    def public_base_url(self) -> str:
        """Where a person's browser reaches the app (links in mails and cards)."""
        import os

        host = os.environ.get("WEBSITE_HOSTNAME", "")
        return self.app_base_url or (f"https://{host}" if host else "")

    @property
    def job_id_secret(self) -> bytes:
        return self.job_id_key.get_secret_value().encode()

    @property
    def break_glass_upn_set(self) -> frozenset[str]:
        return frozenset(_items(self.break_glass_upns))

    @property
    def accepted_approvals(self) -> frozenset[str]:
        return frozenset(_items(self.servicenow_accepted_approvals))

    @property
    def privileged_role_set(self) -> frozenset[str]:
        """Role names or template ids that make a user privileged; '*' means any directory role."""
        return frozenset(_items(self.privileged_roles))

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(r, strict=False) for r in _items(self.trusted_ip_ranges, lower=False))

    @property
    def allowed_phone_codes(self) -> tuple[str, ...]:
        return tuple("+" + c.lstrip("+") for c in _items(self.allowed_phone_country_codes))

    @property
    def mfaops_app_id_set(self) -> frozenset[str]:
        ids = set(_items(self.mfaops_app_id))
        return frozenset(ids | ({self.azure_client_id.lower()} if self.azure_client_id else set()))

    @property
    def alert_sink_set(self) -> frozenset[str]:
        return frozenset(_items(self.alert_sinks))

    @property
    def contain_rules(self) -> frozenset[str]:
        """MONITOR_CONTAIN entries: rule ids, or severities (that severity and above)."""
        return frozenset(_items(self.monitor_contain))

    @field_validator("trusted_ip_ranges")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{item.strip()!r} is not an IP range (CIDR, e.g. 203.0.113.0/24)") from None
        return value

    @field_validator("allowed_phone_country_codes")
    @classmethod
    def _codes(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip() and not item.strip().lstrip("+").isdigit():
                raise ValueError(f"{item.strip()!r} is not a country calling code (e.g. +1, +44)")
        return value

    @field_validator("alert_sinks")
    @classmethod
    def _sinks(cls, value: str) -> str:
        unknown = {s.strip().lower() for s in value.split(",") if s.strip()} - {"log", "topic", "teams", "mail",
                                                                                "servicenow"}
        if unknown:
            raise ValueError(f"unknown sink(s) {', '.join(sorted(unknown))}: use log, topic, teams, mail, servicenow")
        return value

    @field_validator("monitor_contain")
    @classmethod
    def _contain(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip() and not all(ch.isalnum() or ch == "-" for ch in item.strip()):
                raise ValueError(f"{item.strip()!r} is neither a rule id nor a severity")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_unresolved_key_vault_reference(cls, value: object) -> object:
        # App Service passes a Key Vault reference it could not resolve (the identity's role not there yet, a
        # wrong secret URI) to the app as the literal '@Microsoft.KeyVault(...)' string.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.strip().startswith("@Microsoft.KeyVault("):
            raise ValueError("is an unresolved Key Vault reference: check the app's identity can read the secret")
        return value

    @field_validator("table_service_url", "graph_base_url", "servicenow_instance_url", "app_base_url",
                     "verified_id_endpoint")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # httpx joins base and path with a slash of its own; a trailing one gives '//users'.
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unauthenticated_graph_only_on_loopback(self) -> Settings:
        # GRAPH_AUTH=none sends Graph requests without a token: meant for the sandbox's simulator only. Pointed
        # anywhere else it would send tenant reads and writes unauthenticated, so it is refused.
        if self.graph_auth == "none" and not _is_loopback(self.graph_base_url):
            raise ValueError("GRAPH_AUTH=none is only for the local simulator: GRAPH_BASE_URL must be a loopback "
                             "address (127.0.0.1, ::1 or localhost)")
        return self

    @field_validator("graph_budget_identity", "graph_budget_writes", "graph_budget_reports",
                     "graph_budget_protection")
    @classmethod
    def _rate(cls, value: str, info: ValidationInfo) -> str:
        if value == "" and info.field_name == "graph_budget_identity":
            return value  # from the tenant's size
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

        # Until the tenant is counted, the smallest tier's figure: never more than Graph allows.
        return {"identity": rate(self.graph_budget_identity or "3500/10"), "writes": rate(self.graph_budget_writes),
                "reports": rate(self.graph_budget_reports), "protection": rate(self.graph_budget_protection)}

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _items(value: str, *, lower: bool = True) -> list[str]:
    """The entries of a comma-separated setting, trimmed (and lower-cased), empty ones dropped."""
    items = [part.strip() for part in value.split(",") if part.strip()]
    return [i.lower() for i in items] if lower else items


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate settings; a bad one raises ConfigurationError naming it (never its value)."""
    try:
        if environ is None:
            return Settings()
        return Settings.model_validate(environ)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            # A rule over two settings (a model validator) has no location: its message names them.
            problems.append(f"{_setting_name(err['loc'])}: {err['msg']}" if err["loc"] else
                            str(err["msg"]).removeprefix("Value error, "))
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
