"""Settings: a bad or missing setting is refused with the variable's name."""

from __future__ import annotations

import pytest

from shared.settings import (
    CommonSettings,
    ConfigurationError,
    OrdersSettings,
    database_url_for,
    load,
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
