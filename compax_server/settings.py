"""Server settings, read from ``COMPAX_*`` environment variables and overridden by flags."""

from __future__ import annotations

import contextlib
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from compax_server.sign_in_settings import SignInSettings
from sync.checkin import CheckinRules
from sync.rules import CampusRules, default_opening_week
from sync.schemas import OpeningWeek

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


class Mode(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


class JobsMode(StrEnum):
    INLINE = "inline"
    EXTERNAL = "external"


class SmtpSecurity(StrEnum):
    """How the connection to the mail server is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(SignInSettings):
    """Everything the server needs to run; nothing is read at import time."""

    model_config = SettingsConfigDict(env_prefix="COMPAX_", extra="ignore", frozen=True)

    mode: Mode = Field(Mode.EMBEDDED, description="`production` requires COMPAX_SECRET_KEYS.")
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("compax", appauthor=False)),
        description="Where the embedded database and the generated secret key live.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; empty means a SQLite file in the data directory."
    )
    secret_keys: CommaList = Field(
        default_factory=list, description="Token signing keys, newest first, comma separated."
    )
    token_lifetime_seconds: int = Field(12 * 3600, ge=60, le=90 * 24 * 3600)
    cors_origins: CommaList = Field(default_factory=list)
    timezone: str = Field("Africa/Accra", description="The campus time zone (IANA name).")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For is believed.",
    )
    login_attempts_per_username_and_address: int = Field(
        10, ge=1, description="Failed password guesses at one account from one address per window."
    )
    login_attempts_per_username: int = Field(
        100, ge=1, description="Failed guesses at one account from addresses it has not used."
    )
    login_attempts_per_address: int = Field(
        1000, ge=1, description="Failed guesses from one address at any accounts per window."
    )
    login_window_seconds: int = Field(900, ge=1)
    login_known_address_days: int = Field(
        30, ge=1, description="How long a sign-in exempts its address from the account's limit."
    )
    calendar_feed_lifetime_days: int = Field(
        180, ge=1, le=366, description="How long a private calendar feed URL works."
    )
    waitlist_offer_minutes: int = Field(
        30, ge=1, le=7 * 24 * 60, description="How long a freed slot is held for a waiting user."
    )
    approval_expires_minutes: int = Field(
        60,
        ge=0,
        le=30 * 24 * 60,
        description="How long before its start an undecided approval request expires.",
    )
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19 * 1024, ge=8)
    argon2_parallelism: int = Field(1, ge=1)
    opening_hours: OpeningWeek = Field(
        default_factory=default_opening_week,
        description="Campus opening hours per weekday (JSON), for rooms that set none.",
    )
    min_duration_minutes: int = Field(15, ge=1)
    max_duration_minutes: int = Field(8 * 60, ge=1)
    max_days_ahead: int = Field(365, ge=0)
    min_notice_minutes: int = Field(0, ge=0)
    checkin_required: bool = Field(
        False,
        description="Whether bookings must be checked in where neither room nor building says.",
    )
    checkin_opens_minutes: int = Field(
        15, ge=0, le=24 * 60, description="Minutes before a booking's start check-in opens."
    )
    checkin_closes_minutes: int = Field(
        15,
        ge=1,
        le=24 * 60,
        description="Minutes after a booking's start check-in closes and a no-show is released.",
    )
    series_misses_allowed: int = Field(
        3,
        ge=1,
        le=100,
        description="Occurrences of a series released in a row before the rest are cancelled.",
    )
    sync_retention_days: int = Field(
        30, ge=1, description="Deleted rows stay in the change log this long before compaction."
    )
    sync_compact_interval_seconds: int = Field(3600, ge=1)
    db_pool_size: int = Field(10, ge=1, description="Connections per server process (Postgres).")
    db_max_overflow: int = Field(5, ge=0)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(
        1, ge=1, le=64, description="Server processes sharing the port (`--workers`)."
    )
    certfile: Path | None = Field(
        None, description="PEM certificate chain; with `keyfile`, the server speaks HTTPS."
    )
    keyfile: Path | None = Field(None, description="PEM private key of `certfile`.")
    shutdown_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="On SIGTERM, how long in-flight requests may take before they are cancelled.",
    )
    redis_url: str | None = Field(
        None, description="Redis shared by all workers for login limits and the read cache."
    )
    redis_prefix: str = Field(
        "compax:", min_length=1, description="Prefix of every Redis key this server writes."
    )
    read_cache_megabytes: int = Field(
        64, ge=0, description="Memory each process gives cached read answers; 0 turns it off."
    )
    read_cache_ttl_seconds: int = Field(
        60, ge=1, description="How long Redis keeps a cached answer of a superseded sequence."
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="The address people reach this server at (https://rooms.example.edu), "
        "for the links in mail and on room doors; unset: http://HOST:PORT.",
    )
    jobs: JobsMode = Field(
        JobsMode.INLINE,
        description="`inline`: each server process also carries out jobs; `external`: "
        "`compax worker` processes do.",
    )
    jobs_concurrency: int = Field(4, ge=1, le=256, description="Jobs a worker runs at once.")
    jobs_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often an idle worker looks for due jobs."
    )
    jobs_lease_seconds: int = Field(
        300,
        ge=1,
        description="How long a job may run; a job still running then (its worker died) is "
        "claimed again.",
    )
    jobs_max_attempts: int = Field(
        8, ge=1, le=100, description="Attempts before a job is marked failed."
    )
    jobs_backoff_seconds: float = Field(
        10.0, gt=0, description="The wait before a failed job's first retry; doubled each time."
    )
    jobs_backoff_cap_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two attempts of a job."
    )
    jobs_retention_days: int = Field(
        7, ge=1, description="How long the row of a finished job (done or failed) is kept."
    )
    audit_retention_days: int = Field(
        730,
        ge=1,
        le=100 * 366,
        description="How long an audit entry is kept before the retention job prunes it.",
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that GET /metrics requires; unset, /metrics is off."
    )
    smtp_host: str | None = Field(
        None, description="Mail server that notifications are sent through; unset, none is sent."
    )
    smtp_port: int | None = Field(
        None, ge=1, le=65535, description="Its port; unset: 25, 587 with STARTTLS, 465 with TLS."
    )
    smtp_security: SmtpSecurity = Field(
        SmtpSecurity.STARTTLS,
        description="`starttls` (upgrade after connecting), `tls` (from the start) or `none`.",
    )
    smtp_username: str | None = Field(None, description="Sign in to the mail server as this.")
    smtp_password: SecretStr | None = Field(None, description="The mail server password.")
    smtp_ca_file: Path | None = Field(
        None, description="PEM file of the CAs trusted for the mail server; unset: the system's."
    )
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="How long one exchange with the mail server may take."
    )
    mail_from: str = Field(
        "Compax <compax@localhost>",
        min_length=3,
        max_length=254,
        description="The From of every mail: a name and address, or an address.",
    )
    reminder_lead_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="How long before a booking starts its reminder goes."
    )

    _split = field_validator("secret_keys", "cors_origins", "trusted_proxies", mode="before")(
        _split_commas
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.mode is Mode.PRODUCTION and not self.secret_keys:
            raise ValueError(
                "production mode needs COMPAX_SECRET_KEYS (one or more signing keys, "
                "newest first); refusing to start with a made-up key"
            )
        if self.mode is Mode.PRODUCTION and not self.database_url:
            raise ValueError("production mode needs COMPAX_DATABASE_URL")
        return self

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("HTTPS needs both COMPAX_CERTFILE and COMPAX_KEYFILE, or neither")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def campus_rules(self) -> CampusRules:
        """The booking rules for rooms that set none of their own."""
        return CampusRules(
            opening_hours=self.opening_hours,
            min_duration_minutes=self.min_duration_minutes,
            max_duration_minutes=self.max_duration_minutes,
            max_days_ahead=self.max_days_ahead,
            min_notice_minutes=self.min_notice_minutes,
        )

    def checkin_rules(self) -> CheckinRules:
        """Check-in where a room and its building set nothing of their own."""
        return CheckinRules(
            required=self.checkin_required,
            opens_minutes=self.checkin_opens_minutes,
            closes_minutes=self.checkin_closes_minutes,
            series_misses_allowed=self.series_misses_allowed,
        )

    @property
    def links_base_url(self) -> str:
        """Where links in mail and on doors point: ``public_url``, else this server itself."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'compax.sqlite3'}"

    def with_embedded_secret(self) -> Settings:
        """Settings whose keys include the data directory's generated key, made on first use.

        Only the embedded default does this; production refuses to start without keys.
        """
        if self.secret_keys:
            return self
        # Owner-only when Compax makes it: the database in it holds password hashes.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            # Written whole under a private name, then linked into place: of two processes
            # starting at once, one links first and the other reads the complete file.
            partial = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:
                with contextlib.suppress(FileExistsError):
                    os.link(partial, path)
            finally:
                os.unlink(partial)
        os.chmod(path, 0o600)
        key = path.read_text().strip()
        if not key:
            raise ValueError(f"{path} holds no secret key; delete it and a new one is made")
        return self.model_copy(update={"secret_keys": [key]})
