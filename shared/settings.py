"""Settings: one pydantic-settings base, one subclass per service with its own env prefix.

Common variables use the `KM_` prefix (`KM_DATABASE_URL`, `KM_BROKER_URL`, ...). A service may
override the database URL with its own prefix (`KM_ORDERS_DATABASE_URL`) because in production each
service logs in as its own database role (see deploy/README.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ServiceName = Literal["orders", "inventory", "lifecycle"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("orders", "inventory", "lifecycle")
DEFAULT_PORTS: dict[str, int] = {"orders": 8001, "inventory": 8002, "lifecycle": 8003}
DEV_ISSUER = "kommunmobil-dev"
DEV_AUDIENCE = "kommunmobil"
# The HR webhook's development secret (Standard Webhooks format); refused in production.
DEV_HR_WEBHOOK_SECRET = "whsec_a29tbXVubW9iaWwgZGV2ZWxvcG1lbnQgSFIga2V5ISE="


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


def _url_scheme_validator(schemes: tuple[str, ...], variable: str):  # type: ignore[no-untyped-def]
    def check(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(schemes):
            raise ValueError(f"{variable} must start with one of {', '.join(schemes)}")
        return value

    return check


class CommonSettings(BaseSettings):
    """Settings every process shares (prefix KM_)."""

    model_config = SettingsConfigDict(env_prefix="KM_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    broker_url: str | None = None
    exchange: str = "kommunmobil.events"
    dead_letter_exchange: str = "kommunmobil.dead-letter"
    # A stream queue bound to every routing key: the replayable event log dashboards read, and
    # the reason no event is ever unroutable just because no service consumes it yet.
    event_log_queue: str = "kommunmobil.event-log"
    event_log_max_age: str = Field(default="30D", pattern=r"^\d+[YMDhms]$")
    jwt_issuer: str = DEV_ISSUER
    jwt_audience: str = DEV_AUDIENCE
    jwt_jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ("RS256",)
    otlp_endpoint: str | None = None
    # A span per SQL statement is detailed but costs ~0.5 ms of CPU per statement: opt-in.
    trace_sql: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    var_dir: Path = Path("var")
    broker_heartbeat_seconds: int = Field(default=10, ge=1, le=600)
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    _check_db = field_validator("database_url")(
        _url_scheme_validator(("postgresql+asyncpg://",), "KM_DATABASE_URL")
    )
    _check_broker = field_validator("broker_url")(
        _url_scheme_validator(("amqp://", "amqps://"), "KM_BROKER_URL")
    )

    @model_validator(mode="after")
    def _production_needs_real_parts(self) -> CommonSettings:
        # The embedded defaults and the locally generated signing key are for development only.
        if self.environment == "production":
            if not self.broker_url:
                raise ValueError("KM_BROKER_URL is required when KM_ENVIRONMENT=production")
            if not self.jwt_jwks_url:
                raise ValueError("KM_JWT_JWKS_URL is required when KM_ENVIRONMENT=production")
            if self.jwt_issuer == DEV_ISSUER:
                raise ValueError("KM_JWT_ISSUER must be set to the real issuer in production")
        return self


class ServiceSettings(BaseSettings):
    """Per-service knobs; each subclass sets its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str | None = None
    prefetch: int = Field(default=64, ge=1, le=10_000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    relay_batch_size: int = Field(default=200, ge=1, le=5_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    relay_max_backoff_seconds: float = Field(default=60.0, gt=0)
    outbox_retention_hours: float = Field(default=72.0, gt=0)
    # How long the consumer remembers an event it applied (shared/messaging/consumer.py:
    # prune_inbox): longer than the event log keeps an event (`check_inbox_retention`).
    inbox_retention_days: float = Field(default=90.0, ge=1)
    db_pool_size: int = Field(default=10, ge=1, le=200)

    _check_db = field_validator("database_url")(
        _url_scheme_validator(("postgresql+asyncpg://",), "KM_<SERVICE>_DATABASE_URL")
    )


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KM_ORDERS_", extra="ignore", frozen=True)
    port: int = Field(default=DEFAULT_PORTS["orders"], ge=1, le=65535)


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KM_INVENTORY_", extra="ignore", frozen=True)
    port: int = Field(default=DEFAULT_PORTS["inventory"], ge=1, le=65535)
    # rule C1: how often the consumed-device sweep runs (it is idempotent; replicas may overlap).
    consumed_sweep_seconds: float = Field(default=3600.0, gt=0)
    # rule O3: how often waiting order lines look at the stock again (services/inventory/
    # backorders.py: a line that starts to wait as a delivery commits misses it otherwise).
    backorder_pass_seconds: float = Field(default=60.0, gt=0)
    # The outside systems (rules B2, U9); only the honest simulators ship yet (docs/inventory.md).
    mdm_adapter: Literal["simulator"] = "simulator"
    operator_adapter: Literal["simulator"] = "simulator"
    # rules B4, U2, U3: the telephony platform; pulled this often (it may also push reports).
    telephony_adapter: Literal["simulator"] = "simulator"
    telephony_poll_seconds: float = Field(default=300.0, gt=0)
    # rule S1: where people get personal support, shown wherever a person needs it.
    support_portal_url: str = "https://varnamo.kommunsupport.se"
    support_phone: str = "0370-377800"
    support_visit: str = "IT-service i Stadshuset, Värnamo (IT service in the town hall)"


class LifecycleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KM_LIFECYCLE_", extra="ignore", frozen=True,
                                      populate_by_name=True)
    port: int = Field(default=DEFAULT_PORTS["lifecycle"], ge=1, le=65535)
    # rule U7: how often open return cases are checked for being overdue.
    overdue_sweep_seconds: float = Field(default=300.0, gt=0)
    # rules C2, C3: a hand-in to IT service is due this many days after it is opened.
    hand_in_days: int = Field(default=14, ge=0, le=365)
    # rule U9: the loss instruction on the intranet (Nettan), linked from every loss case.
    loss_instruction_url: str = "https://nettan.varnamo.se/it/mobila-enheter/forlust"
    # Due dates are calendar days in the municipality, not in UTC.
    timezone: str = "Europe/Stockholm"
    # Standard Webhooks secrets (`whsec_<base64>`) HR signs with. Several are accepted at once so
    # that a secret can be rotated without downtime: comma- or space-separated, or a JSON list.
    hr_webhook_secrets: Annotated[tuple[str, ...], NoDecode] = (DEV_HR_WEBHOOK_SECRET,)
    # Read from KM_ENVIRONMENT itself, only to refuse the development HR secret in production.
    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="KM_ENVIRONMENT")

    @field_validator("hr_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return tuple(json.loads(text))
            return tuple(part for part in text.replace(",", " ").split() if part)
        return value

    @field_validator("hr_webhook_secrets")
    @classmethod
    def _check_secrets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one HR webhook secret is required")
        for secret in value:
            if len(_secret_key(secret)) < 24:
                raise ValueError("each HR webhook secret needs at least 24 random bytes")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> LifecycleSettings:
        # Compared as keys, not as text: the webhook library takes the secret with or without
        # its prefix and padding, and the development one is in the public source.
        development = _secret_key(DEV_HR_WEBHOOK_SECRET)
        if self.environment == "production" and any(
                _secret_key(secret) == development for secret in self.hr_webhook_secrets):
            raise ValueError("KM_LIFECYCLE_HR_WEBHOOK_SECRETS must be set to HR's real secrets "
                             "in production")
        return self


def _secret_key(secret: str) -> bytes:
    """The key a `whsec_<base64>` secret stands for (prefix and padding optional)."""
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("each HR webhook secret must be whsec_<base64>") from exc


SETTINGS_CLASSES: dict[str, type[ServiceSettings]] = {
    "orders": OrdersSettings,
    "inventory": InventorySettings,
    "lifecycle": LifecycleSettings,
}

S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build settings or raise ConfigurationError naming the offending environment variable."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            variable = f"{prefix}{field}".upper() if field else prefix.rstrip("_")
            problems.append(f"{variable}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from exc


# Days in each unit of RabbitMQ's `x-max-age`, rounded up: a month as 31 days, a year as 366.
_DAYS_PER_UNIT = {"Y": 366.0, "M": 31.0, "D": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400}


def event_log_days(max_age: str) -> float:
    """The event log's `x-max-age` ("30D", "1Y", "12h") in days, at most."""
    return int(max_age[:-1]) * _DAYS_PER_UNIT[max_age[-1]]


def check_inbox_retention(common: CommonSettings, service: ServiceSettings,
                          service_name: str) -> None:
    """A service must remember an applied event for longer than the event log keeps it, with a
    week to spare: the log is the documented way to replay events a consumer missed
    (docs/architecture.md), and a replay from its start must not apply an event twice. RabbitMQ
    also drops a stream's events a whole segment at a time, later than their age alone says."""
    needed = event_log_days(common.event_log_max_age) + 7
    if service.inbox_retention_days < needed:
        variable = f"KM_{service_name.upper()}_INBOX_RETENTION_DAYS"
        raise ConfigurationError(
            f"invalid configuration: {variable} is {service.inbox_retention_days:g} days, but the "
            f"event log keeps events for {common.event_log_max_age} (KM_EVENT_LOG_MAX_AGE): it "
            f"must be at least {needed:g} days, or a replay from the log applies events twice")


def service_settings(service: str) -> ServiceSettings:
    return load(SETTINGS_CLASSES[service])


def database_url_for(common: CommonSettings, service: ServiceSettings) -> str | None:
    return service.database_url or common.database_url
