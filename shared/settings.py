"""The one typed settings object, read from app settings (environment variables).

Every field's docstring is its description in docs/settings.md, which is generated from this object (a test keeps
the two in step). One piece at ~540 lines: one object is the point (one place to read what mfaops can be told).
Secrets are ``SecretStr`` so they never show in ``repr``, logs or validation errors; in Azure they come from Key
Vault references.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigurationError


class Settings(BaseSettings):
    # Each field's docstring is its description in docs/settings.md (tools/reference.py reads them from this file's
    # source: pydantic's use_attribute_docstrings would parse it at every cold start, ~70 ms).
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Table Storage: an account URL (managed identity) in Azure, a connection string for Azurite locally.
    table_service_url: str = Field(default="", alias="TABLE_SERVICE_URL")
    """Table endpoint of the Storage account (`https://ACCOUNT.table.core.windows.net`), reached with the managed
    identity."""
    table_connection_string: SecretStr = Field(default=SecretStr(""), alias="TABLE_CONNECTION_STRING")
    """Connection string instead of the URL (Azurite, local runs). Secret."""
    jobs_table: str = Field(default="mfaopsjobs", alias="JOBS_TABLE")
    """Table holding one row per job."""
    jobs_by_user_table: str = Field(default="mfaopsjobsbyuser", alias="JOBS_BY_USER_TABLE")
    """Index table: jobs per target user, newest first."""
    job_update_retries: int = Field(default=8, ge=1, le=50, alias="JOB_UPDATE_RETRIES")
    """Attempts of an optimistic-concurrency job update before giving up (1-50)."""
    # Ticket jobs get ids derived under this key, so knowing a ticket does not give its job id (Key Vault).
    job_id_key: SecretStr = Field(default=SecretStr(""), alias="JOB_ID_KEY")
    """Secret that ticket job ids are derived under (HMAC-SHA256), so they cannot be computed from a ticket (Key
    Vault reference; required). Changing it makes old tickets new jobs. Secret."""

    # Identity: client id of the user-assigned managed identity (empty: system-assigned / developer login).
    azure_client_id: str = Field(default="", alias="AZURE_CLIENT_ID")
    """Client id of the user-assigned managed identity; empty for a system-assigned one."""

    # Microsoft Graph.
    graph_base_url: str = Field(default="https://graph.microsoft.com", alias="GRAPH_BASE_URL")
    """Microsoft Graph root (the sandbox tenant locally)."""
    # managed_identity in Azure; none only for the sandbox tenant on loopback.
    graph_auth: Literal["managed_identity", "none"] = Field(default="managed_identity", alias="GRAPH_AUTH")
    """`managed_identity` (Azure) or `none` (only for the sandbox tenant on loopback)."""
    graph_max_retries: int = Field(default=3, ge=0, le=10, alias="GRAPH_MAX_RETRIES")
    """Retries of a throttled (429) or unavailable (503/504) Graph call (0-10)."""
    graph_retry_after_cap_s: float = Field(default=30.0, gt=0, le=180, alias="GRAPH_RETRY_AFTER_CAP_S")
    """Longest `Retry-After` mfaops will wait before giving up on a call, seconds."""
    # mfaops's own Graph budget per documented bucket ("capacity/window seconds"), shared by every flow of a
    # worker; a 429 with Retry-After always wins over it. Defaults: learn.microsoft.com/graph/throttling-limits
    # (identity and access for the smallest tenant size, its writes, the reports bucket, Identity Protection/CA).
    graph_budget_enabled: bool = Field(default=True, alias="GRAPH_BUDGET_ENABLED")
    """mfaops's own Graph budget: every request waits for its share of the documented buckets instead of drawing
    429s."""
    # Empty: taken from the tenant's size (one count of users a day: 3,500 / 5,000 / 8,000 units per 10 s for
    # under 50, 50-500 and over 500 users); a value overrides it.
    graph_budget_identity: str = Field(default="", alias="GRAPH_BUDGET_IDENTITY")
    """Identity and access resource units per window (capacity/seconds). Empty: taken from the tenant's size,
    counted once a day (`GET /users/$count`): 3,500 per 10 s under 50 users, 5,000 up to 500, 8,000 above
    (3,500 until the first count)."""
    graph_budget_writes: str = Field(default="3000/150", alias="GRAPH_BUDGET_WRITES")
    """Identity and access writes per app and tenant."""
    graph_budget_reports: str = Field(default="5/10", alias="GRAPH_BUDGET_REPORTS")
    """Identity and access reports (audit logs, sign-ins, registration reports and, as documented, a user's
    authentication methods)."""
    graph_budget_protection: str = Field(default="1/1", alias="GRAPH_BUDGET_PROTECTION")
    """Identity Protection and Conditional Access, per tenant."""
    # Graph throttles per app per tenant: the budget, and every 429 one instance sees, are shared through Table
    # Storage, so scaled-out instances send one budget together.
    graph_budget_shared: bool = Field(default=True, alias="GRAPH_BUDGET_SHARED")
    """Share the Graph budget and each `429`'s Retry-After with every instance through Table Storage (one row per
    bucket in `JOBS_TABLE`), so scaled-out workers send one budget together, not one each."""
    graph_budget_max_wait_s: float = Field(default=120.0, gt=0, le=600, alias="GRAPH_BUDGET_MAX_WAIT_S")
    """A Graph request that waited this long for its turn in the budget is answered `429` (Retry-After the same)
    by mfaops itself without being sent, so a reset goes back on the queue with backoff instead of sleeping
    past its message lock."""
    graph_budget_time_scale: float = Field(default=1.0, gt=0, le=1, alias="GRAPH_BUDGET_TIME_SCALE")
    """Shortens every budget window by one factor (0-1]; only for benchmarks against a time-compressed sandbox."""
    # The most of each bucket the background lane (inventory, TAP sweep, cleanup, monitor, posture, bulk) may
    # spend over a window; resets and operators' commands are served first whatever it is.
    graph_background_share: float = Field(default=0.6, gt=0, le=1, alias="GRAPH_BACKGROUND_SHARE")
    """The most of each Graph bucket the background lane (inventory, TAP sweep, cleanup, monitor, posture, bulk
    resets) may spend over a window; resets, verifications and operators' single commands are served first
    whatever it is."""

    # ServiceNow: the webhook's shared secret and the Table API the worker verifies tickets with.
    servicenow_webhook_secret: SecretStr = Field(default=SecretStr(""), alias="SERVICENOW_WEBHOOK_SECRET")
    """Shared secret of the webhook HMAC (Key Vault reference). Secret."""
    servicenow_instance_url: str = Field(default="", alias="SERVICENOW_INSTANCE_URL")
    """`https://INSTANCE.service-now.com`: the Table API the worker verifies tickets with and writes back to."""
    servicenow_username: str = Field(default="", alias="SERVICENOW_USERNAME")
    """Integration user for the Table API (basic auth)."""
    servicenow_password: SecretStr = Field(default=SecretStr(""), alias="SERVICENOW_PASSWORD")
    """Its password (Key Vault reference). Secret."""
    servicenow_accepted_approvals: str = Field(default="approved", alias="SERVICENOW_ACCEPTED_APPROVALS")
    """Comma-separated `approval` values that let a reset go ahead."""
    servicenow_success_state: str = Field(default="", alias="SERVICENOW_SUCCESS_STATE")
    """Ticket `state` to set when a reset succeeds (empty: leave the state alone)."""
    webhook_max_skew_s: int = Field(default=300, ge=30, le=3600, alias="WEBHOOK_MAX_SKEW_S")
    """How far the webhook's timestamp may be from now, seconds (replay window)."""

    # Guardrails.
    break_glass_upns: str = Field(default="", alias="BREAK_GLASS_UPNS")
    """Comma-separated UPNs that mfaops never touches."""
    break_glass_group: str = Field(default="", alias="BREAK_GLASS_GROUP")
    """Group (object id or display name) whose members mfaops never touches."""
    privileged_roles: str = Field(default="*", alias="PRIVILEGED_ROLES")
    """Directory roles (names or template ids, comma-separated) that make a target privileged; `*` is any role."""
    privileged_approval_field: str = Field(default="u_mfa_privileged_approval", alias="PRIVILEGED_APPROVAL_FIELD")
    """Ticket field that must be `approved` before a privileged user is reset."""
    resets_per_hour_limit: int = Field(default=20, ge=1, le=10_000, alias="RESETS_PER_HOUR_LIMIT")
    """Blast-radius limit: resets admitted per rolling hour; past it jobs wait for approval and an alert is
    raised."""
    allow_guest_reset: bool = Field(default=False, alias="ALLOW_GUEST_RESET")
    """Whether guest accounts may be reset."""
    allow_disabled_reset: bool = Field(default=False, alias="ALLOW_DISABLED_RESET")
    """Whether disabled accounts may be reset."""
    # A user reset this recently is not reset again without an operator's approval (each reset deletes the TAP
    # the one before issued).
    reset_cooldown_minutes: int = Field(default=60, ge=0, le=10_080, alias="RESET_COOLDOWN_MINUTES")
    """A user reset this recently is parked (`recently_reset`) until an operator approves; 0 turns it off."""

    # Proof before reset: the verification policy (a YAML file; empty: the built-in default; "none": no gate),
    # how many failed verifications of one user in 24 h raise possible_social_engineering, and what else then.
    verify_policy: str = Field(default="", alias="VERIFY_POLICY")
    """Path of the verification policy (YAML; see Proof before reset); empty: the built-in default (managers
    approve, privileged users also need a call-back); `none`: no gate."""
    verify_failures_alert: int = Field(default=2, ge=1, le=100, alias="VERIFY_FAILURES_ALERT")
    """Failed verifications of one user in 24 h that raise `possible_social_engineering` (high)."""
    verify_on_failure: Literal["none", "revoke_sessions"] = Field(default="none", alias="VERIFY_ON_FAILURE")
    """`revoke_sessions`: also revoke the user's sessions when `VERIFY_FAILURES_ALERT` is reached."""
    # Microsoft Entra Verified ID (the verified_id proof): the Request Service, the verifier's DID, what is asked.
    verified_id_endpoint: str = Field(default="https://verifiedid.did.msidentity.com", alias="VERIFIED_ID_ENDPOINT")
    """The Verified ID Request Service (the local system points it at its simulator, `/verifiedid`)."""
    verified_id_authority: str = Field(default="", alias="VERIFIED_ID_AUTHORITY")
    """The tenant's verifier DID; required when a tier asks for `verified_id`."""
    verified_id_credential_type: str = Field(default="VerifiedEmployee", alias="VERIFIED_ID_CREDENTIAL_TYPE")
    """The credential type asked for."""
    verified_id_accepted_issuers: str = Field(default="", alias="VERIFIED_ID_ACCEPTED_ISSUERS")
    """Issuer DIDs accepted (comma-separated); empty: the authority."""
    verified_id_facecheck_threshold: int = Field(default=70, ge=50, le=100, alias="VERIFIED_ID_FACECHECK_THRESHOLD")
    """Face Check's match confidence threshold, 50-100."""
    verified_id_callback_key: SecretStr = Field(default=SecretStr(""), alias="VERIFIED_ID_CALLBACK_KEY")
    """The `api-key` the Request Service sends back on callbacks (Key Vault reference); required with
    `verified_id`. Secret."""
    verified_id_min_credential_age_days: int = Field(default=7, ge=0, le=3650,
                                                     alias="VERIFIED_ID_MIN_CREDENTIAL_AGE_DAYS")
    """Self-service recovery: a credential issued less than this many days ago is refused (`credential_too_new`)."""
    # The user's page: how long its link lives, and the optional self-service recovery (no agent).
    verify_link_minutes: int = Field(default=10, ge=1, le=1440, alias="VERIFY_LINK_MINUTES")
    """How long the user's page link lives (and binds to the first browser)."""
    self_service_recovery: bool = Field(default=False, alias="SELF_SERVICE_RECOVERY")
    """Self-service recovery without an agent (`/api/public/recover`), for tiers with `self_service: true`."""
    # The app's public address, for links in the manager's mail (empty: https://$WEBSITE_HOSTNAME in Azure).
    app_base_url: str = Field(default="", alias="APP_BASE_URL")
    """The app's public address for links in the manager's mail and card (empty: `https://$WEBSITE_HOSTNAME`)."""

    # What a reset does after removing the methods, unless the ticket says otherwise.
    default_revoke_sessions: bool = Field(default=True, alias="DEFAULT_REVOKE_SESSIONS")
    """Revoke sign-in sessions when the ticket does not say."""
    default_issue_tap: bool = Field(default=True, alias="DEFAULT_ISSUE_TAP")
    """Issue a Temporary Access Pass when the ticket does not say."""
    tap_lifetime_minutes: int = Field(default=0, ge=0, le=43200, alias="TAP_LIFETIME_MINUTES")
    """TAP lifetime; 0 takes the tenant policy's default."""
    tap_usable_once: bool = Field(default=True, alias="TAP_USABLE_ONCE")
    """Issue one-time TAPs."""
    tap_drop_key: SecretStr = Field(default=SecretStr(""), alias="TAP_DROP_KEY")
    """Base64 AES-256 key that seals a TAP until its one-time retrieval (Key Vault reference). Secret."""

    # The TAP sweep timer (NCRONTAB, six fields) and what it deletes.
    tap_sweep_schedule: str = Field(default="0 */15 * * * *", alias="TAP_SWEEP_SCHEDULE")
    """When the TAP sweep timer runs (NCRONTAB, six fields)."""
    tap_max_age_hours: int = Field(default=24, ge=1, le=720, alias="TAP_MAX_AGE_HOURS")
    """A TAP older than this is deleted whatever its lifetime (`too_old`)."""
    tap_allow_multi_use: bool = Field(default=True, alias="TAP_ALLOW_MULTI_USE")
    """When false, multi-use TAPs are deleted (`multi_use`)."""
    tap_sweep_exempt_group: str = Field(default="", alias="TAP_SWEEP_EXEMPT_GROUP")
    """Group (object id or display name) whose members' TAPs are never swept (break-glass accounts never are)."""

    # Stale-method cleanup: the timer plans with the policy file, and applies only when told to.
    cleanup_schedule: str = Field(default="0 0 3 * * *", alias="CLEANUP_SCHEDULE")
    """When the cleanup timer plans (NCRONTAB, six fields; daily at 03:00 UTC)."""
    cleanup_policy: str = Field(default="", alias="CLEANUP_POLICY")
    """Path of the cleanup policy file (YAML, deployed with the app); empty: the timer does nothing."""
    cleanup_apply: bool = Field(default=False, alias="CLEANUP_APPLY")
    """Whether the timer applies its plan (only when within the policy's limit); otherwise it only plans."""

    # The rolling methods inventory (timer INVENTORY_SCHEDULE; `mfaops inventory ...`).
    inventory_schedule: str = Field(default="0 */10 * * * *", alias="INVENTORY_SCHEDULE")
    """When the rolling methods inventory timer reads its next batch (NCRONTAB, six fields)."""
    inventory_table: str = Field(default="mfaopsinventory", alias="INVENTORY_TABLE")
    """Table of the inventory (one row per user, the pass cursor, the day's request counts)."""
    inventory_batch_users: int = Field(default=200, ge=1, le=100_000, alias="INVENTORY_BATCH_USERS")
    """Users the timer reads at most per run (the pass resumes where it stopped)."""
    inventory_retention_days: int = Field(default=30, ge=2, le=3650, alias="INVENTORY_RETENTION_DAYS")
    """No inventory row is kept longer than this after its user's last read."""
    inventory_recheck_days: int = Field(default=30, ge=1, le=3650, alias="INVENTORY_RECHECK_DAYS")
    """A user whose report entry did not change is read again at least this often (and before
    `INVENTORY_RETENTION_DAYS`), and when a stored method could first cross one of the cleanup policy's
    `unused` thresholds (this number when it has none)."""
    # A pass begins by reading the whole registration report (at 50,000 users, 500 pages of the reports bucket), so
    # a new pass begins at most this often; the runs between go on with the pass that is in progress.
    inventory_pass_minutes: int = Field(default=360, ge=0, le=10_080, alias="INVENTORY_PASS_MINUTES")
    """A new inventory pass (which begins by reading the whole registration report) begins at most this often;
    the timer's runs between go on with the pass in progress. `mfaops inventory run` begins one whenever none
    is in progress."""
    # A timer run stops reading (report pages or users) after this long and the next run resumes: inside host.json's
    # 10-minute functionTimeout, since the reports bucket's share is 3 requests per 10 s.
    inventory_run_seconds: int = Field(default=480, ge=10, le=3600, alias="INVENTORY_RUN_SECONDS")
    """A timer run of the inventory stops reading (report pages or users) after this long, inside host.json's
    10-minute function timeout; the next run resumes from the cursor."""

    # Service Bus: the reset queue (its dead-letter queue is '<queue>/$deadletterqueue').
    reset_queue: str = Field(default="mfaops-reset", alias="RESET_QUEUE")
    """Service Bus queue of reset requests."""
    servicebus_namespace: str = Field(default="", alias="ServiceBusConnection__fullyQualifiedNamespace")
    """`NAMESPACE.servicebus.windows.net`, reached with the managed identity."""
    # A throttled job goes back on the queue later (a new message with a scheduled enqueue time) instead of
    # burning its delivery count: base * 2^n seconds, at least the Retry-After, at most the maximum.
    queue_backoff_base_s: float = Field(default=30.0, gt=0, le=3600, alias="QUEUE_BACKOFF_BASE_S")
    """A job Graph throttles longer than `GRAPH_RETRY_AFTER_CAP_S` (or twice) goes back on the queue after `base
    * 2^n` seconds (at least the Retry-After), as a new message with a scheduled enqueue time."""
    queue_backoff_max_s: float = Field(default=900.0, gt=0, le=86_400, alias="QUEUE_BACKOFF_MAX_S")
    """The longest such backoff."""
    queue_max_deliveries: int = Field(default=5, ge=1, le=100, alias="QUEUE_MAX_DELIVERIES")
    """Deliveries before a message is dead-lettered (the local queue; in Azure the queue's own setting)."""
    alerts_topic: str = Field(default="mfaops-alerts", alias="ALERTS_TOPIC")
    """Service Bus topic alerts are published on (besides the log); empty: log only."""

    # Jobs left running with no worker (a killed process, a lost message) are failed, and say so.
    stuck_jobs_schedule: str = Field(default="0 */10 * * * *", alias="STUCK_JOBS_SCHEDULE")
    """When the stuck-job timer looks for jobs no worker holds (NCRONTAB, six fields)."""
    job_stuck_minutes: int = Field(default=60, ge=5, le=10_080, alias="JOB_STUCK_MINUTES")
    """A job `running` or `queued` with no step for this long is failed (`stuck`, with the reason; its ticket is
    told); an operator's retry resumes it."""

    # Registration monitor (timer MONITOR_SCHEDULE; `mfaops monitor`).
    monitor_schedule: str = Field(default="0 */5 * * * *", alias="MONITOR_SCHEDULE")
    """When the registration monitor scans the audit log (NCRONTAB, six fields)."""
    monitor_table: str = Field(default="mfaopsmonitor", alias="MONITOR_TABLE")
    """Table of the monitor's watermark, processed event ids, findings and their alerts."""
    monitor_first_lookback_hours: int = Field(default=24, ge=1, le=720, alias="MONITOR_FIRST_LOOKBACK_HOURS")
    """How far back the first scan reads (no watermark yet)."""
    monitor_page_size: int = Field(default=999, ge=1, le=999, alias="MONITOR_PAGE_SIZE")
    """`$top` of each directory audits page (Graph's maximum is 999)."""
    monitor_overlap_minutes: int = Field(default=15, ge=0, le=1440, alias="MONITOR_OVERLAP_MINUTES")
    """Each scan re-reads this much before the watermark for late events (de-duplicated by event id)."""
    monitor_watchlist_group: str = Field(default="", alias="MONITOR_WATCHLIST_GROUP")
    """Group (object id or display name) of VIP users: any method change on them is `high`."""
    trusted_ip_ranges: str = Field(default="", alias="TRUSTED_IP_RANGES")
    """Comma-separated CIDR ranges; a registration from outside them is `untrusted-ip` (empty: rule off)."""
    allowed_phone_country_codes: str = Field(default="", alias="ALLOWED_PHONE_COUNTRY_CODES")
    """Comma-separated calling codes (`+1,+44`); a phone outside them is `phone-country` (empty: rule off)."""
    reregistration_expected_hours: int = Field(default=24, ge=1, le=720, alias="REREGISTRATION_EXPECTED_HOURS")
    """A reset user with no registration after this long is `no-reregistration` (tell the service desk)."""
    monitor_risk_window_hours: int = Field(default=2, ge=1, le=168, alias="MONITOR_RISK_WINDOW_HOURS")
    """Risky sign-in or risk detection this long before a registration is `risk-before-registration`."""
    monitor_admin_risk_window_hours: int = Field(default=4, ge=1, le=168, alias="MONITOR_ADMIN_RISK_WINDOW_HOURS")
    """An admin's risky sign-in this long before changing another user's methods is `risky-admin-changes-other`."""
    monitor_signin_baseline_days: int = Field(default=30, ge=1, le=180, alias="MONITOR_SIGNIN_BASELINE_DAYS")
    """Days of successful sign-ins an IP must appear in to be known (`unknown-ip`)."""
    monitor_sspr_window_hours: int = Field(default=4, ge=1, le=168, alias="MONITOR_SSPR_WINDOW_HOURS")
    """Registration then self-service password reset within this is `registration-then-sspr`."""
    monitor_burst_threshold: int = Field(default=5, ge=2, le=10_000, alias="MONITOR_BURST_THRESHOLD")
    """Users registering from one IP within the burst window that make an `ip-burst`."""
    monitor_burst_window_minutes: int = Field(default=60, ge=1, le=10_080, alias="MONITOR_BURST_WINDOW_MINUTES")
    """The `ip-burst` window."""
    monitor_actor_threshold: int = Field(default=5, ge=2, le=10_000, alias="MONITOR_ACTOR_THRESHOLD")
    """Users one admin changes within the actor window that make `one-actor-many-users`."""
    monitor_actor_window_minutes: int = Field(default=60, ge=1, le=10_080, alias="MONITOR_ACTOR_WINDOW_MINUTES")
    """The `one-actor-many-users` window."""
    monitor_shared_phone_users: int = Field(default=2, ge=2, le=1000, alias="MONITOR_SHARED_PHONE_USERS")
    """Users holding one phone number that make `shared-phone`."""
    monitor_ticket_window_hours: int = Field(default=24, ge=1, le=720, alias="MONITOR_TICKET_WINDOW_HOURS")
    """An admin change with an mfaops job for the user this recently (or within the hour after) has a ticket
    behind it."""
    monitor_expected: Literal["suppress", "downgrade"] = Field(default="suppress", alias="MONITOR_EXPECTED")
    """Findings on a registration inside an mfaops TAP's life: `suppress` (recorded, not alerted) or `downgrade`
    (one severity lower, alerted)."""
    monitor_contain: str = Field(default="", alias="MONITOR_CONTAIN")
    """Findings to contain automatically: rule ids and/or severities (`critical` = critical findings); empty:
    never."""
    monitor_phone_hash_key: SecretStr = Field(default=SecretStr(""), alias="MONITOR_PHONE_HASH_KEY")
    """Key phone numbers are hashed under (HMAC-SHA256; Key Vault reference; falls back to `JOB_ID_KEY`). Secret."""
    mfaops_app_id: str = Field(default="", alias="MFAOPS_APP_ID")
    """mfaops's own app id(s) as audit events name them (the managed identity's client id; `AZURE_CLIENT_ID`
    counts too)."""

    # Posture (timer POSTURE_SCHEDULE; `mfaops posture`).
    posture_schedule: str = Field(default="0 30 6 * * *", alias="POSTURE_SCHEDULE")
    """When the posture checks run (NCRONTAB, six fields; daily at 06:30 UTC)."""
    posture_table: str = Field(default="mfaopsposture", alias="POSTURE_TABLE")
    """Table of posture runs (each run's report and statuses; the last run for drift)."""
    max_privileged_auth_admins: int = Field(default=5, ge=0, le=1000, alias="MAX_PRIVILEGED_AUTH_ADMINS")
    """More holders of Privileged Authentication Administrator, Authentication Administrator and Global
    Administrator than this is `warn`."""
    posture_per_user_mfa_max_users: int = Field(default=50, ge=0, le=100_000,
                                                alias="POSTURE_PER_USER_MFA_MAX_USERS")
    """Users whose legacy per-user MFA state a run reads (one beta read each, in the 5-per-10-s reports bucket)."""
    posture_open_methods: str = Field(default="Fido2,MicrosoftAuthenticator,TemporaryAccessPass,X509Certificate",
                                      alias="POSTURE_OPEN_METHODS")
    """Method configurations expected to be open to all users (`method-targets` warns on others)."""
    posture_allow_fix: bool = Field(default=False, alias="POSTURE_ALLOW_FIX")
    """Whether mfaops is meant to hold `Policy.ReadWrite.ConditionalAccess` (for `apply-registration-policy`;
    `mfaops-permissions` counts it as needed, not extra)."""
    registration_policy_name: str = Field(default="mfaops: protect security info registration",
                                          alias="REGISTRATION_POLICY_NAME")
    """Display name of the registration policy mfaops creates, and finds again to update."""

    # Alert sinks (several at once): log, topic, teams, mail, servicenow.
    alert_sinks: str = Field(default="log,topic", alias="ALERT_SINKS")
    """Where findings are sent, several at once: `log`, `topic` (`ALERTS_TOPIC`), `teams`, `mail`, `servicenow`."""
    alert_min_severity: Literal["low", "medium", "high", "critical"] = Field(default="medium",
                                                                             alias="ALERT_MIN_SEVERITY")
    """Findings below this are recorded but not sent."""
    teams_webhook_url: SecretStr = Field(default=SecretStr(""), alias="TEAMS_WEBHOOK_URL")
    """Teams Workflows webhook ("when a Teams webhook request is received") that gets an Adaptive Card per
    finding (Key Vault reference). Secret."""
    alert_mail_from: str = Field(default="", alias="ALERT_MAIL_FROM")
    """Mailbox the `mail` sink sends from (Graph `sendMail`; needs `Mail.Send`, scope it with an application
    access policy)."""
    alert_mail_to: str = Field(default="", alias="ALERT_MAIL_TO")
    """Comma-separated recipients of the `mail` sink."""
    alert_servicenow_table: str = Field(default="incident", alias="ALERT_SERVICENOW_TABLE")
    """Table the `servicenow` sink creates a record in (Table API)."""
    alert_servicenow_group: str = Field(default="", alias="ALERT_SERVICENOW_GROUP")
    """`assignment_group` of those incidents (empty: ServiceNow's default)."""
    alert_attempts: int = Field(default=3, ge=1, le=10, alias="ALERT_ATTEMPTS")
    """Tries per sink per alert; a finding whose alert still failed is recorded `failed` and retried on the next
    scan."""

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    """DEBUG, INFO, WARNING, ERROR or CRITICAL."""

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
