"""Settings: a bad or missing setting is refused with the variable's name."""

from __future__ import annotations

import pytest

from shared.settings import (
    SERVICE_NAMES,
    CommonSettings,
    ConfigurationError,
    InventorySettings,
    OrdersSettings,
    check_inbox_retention,
    database_url_for,
    event_log_days,
    load,
    service_settings,
)


def test_invalid_broker_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KM_BROKER_URL", "http://example")
    with pytest.raises(ConfigurationError, match="KM_BROKER_URL"):
        load(CommonSettings)


def test_service_prefix_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KM_ORDERS_PORT", "9101")
    monkeypatch.setenv("KM_ORDERS_PREFETCH", "-1")
    with pytest.raises(ConfigurationError, match="KM_ORDERS_PREFETCH"):
        load(OrdersSettings)
    monkeypatch.setenv("KM_ORDERS_PREFETCH", "10")
    assert load(OrdersSettings).port == 9101


def test_production_refuses_development_defaults() -> None:
    with pytest.raises(ConfigurationError, match="KM_JWT_JWKS_URL"):
        load(CommonSettings, environment="production", broker_url="amqp://h/")
    settings = load(CommonSettings, environment="production", broker_url="amqp://h/",
                    jwt_jwks_url="https://idp/jwks", jwt_issuer="https://idp")
    assert settings.environment == "production"


def test_per_service_database_url_wins_over_the_common_one() -> None:
    common = CommonSettings(database_url="postgresql+asyncpg://common@/db")
    own = OrdersSettings(database_url="postgresql+asyncpg://km_orders@/db")
    assert database_url_for(common, own) == "postgresql+asyncpg://km_orders@/db"
    assert database_url_for(common, OrdersSettings()) == "postgresql+asyncpg://common@/db"


@pytest.mark.parametrize(("max_age", "days"), [
    ("30D", 30.0), ("1Y", 366.0), ("2M", 62.0), ("36h", 1.5), ("90m", 90 / 1440), ("86400s", 1.0)])
def test_the_event_logs_max_age_in_days_rounds_months_and_years_up(max_age: str,
                                                                   days: float) -> None:
    assert event_log_days(max_age) == pytest.approx(days)


def test_every_service_outlasts_the_default_event_log_by_default() -> None:
    common = CommonSettings()
    for name in SERVICE_NAMES:
        settings = service_settings(name)
        assert settings.inbox_retention_days == 90.0
        check_inbox_retention(common, settings, name)  # raises if not


def test_an_inbox_kept_no_longer_than_the_event_log_plus_a_week_is_refused() -> None:
    """A replay from the start of the log would apply its oldest events a second time."""
    common = CommonSettings(event_log_max_age="30D")
    check_inbox_retention(common, InventorySettings(inbox_retention_days=37), "inventory")
    with pytest.raises(ConfigurationError,
                       match=r"KM_INVENTORY_INBOX_RETENTION_DAYS is 36\.9 days.*at least 37 days"):
        check_inbox_retention(common, InventorySettings(inbox_retention_days=36.9), "inventory")
    with pytest.raises(ConfigurationError, match="KM_EVENT_LOG_MAX_AGE"):
        check_inbox_retention(CommonSettings(event_log_max_age="3M"), InventorySettings(),
                              "inventory")
