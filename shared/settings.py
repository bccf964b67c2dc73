"""Settings: one pydantic-settings base, one subclass per service with its own env prefix.

Common variables use the `KM_` prefix (`KM_DATABASE_URL`, `KM_BROKER_URL`, ...). A service may
override the database URL with its own prefix (`KM_ORDERS_DATABASE_URL`) because in production each
service logs in as its own database role (see deploy/README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["orders", "inventory", "lifecycle"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("orders", "inventory", "lifecycle")
DEFAULT_PORTS: dict[str, int] = {"orders": 8001, "inventory": 8002, "lifecycle": 8003}
DEV_ISSUER = "kommunmobil-dev"
DEV_AUDIENCE = "kommunmobil"


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


class LifecycleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KM_LIFECYCLE_", extra="ignore", frozen=True)
    port: int = Field(default=DEFAULT_PORTS["lifecycle"], ge=1, le=65535)
    # rule U7: how often open return cases are checked for being overdue.
    overdue_sweep_seconds: float = Field(default=300.0, gt=0)


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


def service_settings(service: str) -> ServiceSettings:
    return load(SETTINGS_CLASSES[service])


def database_url_for(common: CommonSettings, service: ServiceSettings) -> str | None:
    return service.database_url or common.database_url
