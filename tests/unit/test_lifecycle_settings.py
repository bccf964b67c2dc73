"""Lifecycle's settings: HR secrets for rotation, refused when unsafe, named when wrong."""

from __future__ import annotations

import base64

import pytest

from shared.settings import (
    DEV_HR_WEBHOOK_SECRET,
    ConfigurationError,
    LifecycleSettings,
    load,
)

A = "whsec_" + base64.b64encode(b"a" * 32).decode()
B = "whsec_" + base64.b64encode(b"b" * 32).decode()


@pytest.mark.parametrize("value", [f"{A},{B}", f"{A} {B}", f'["{A}", "{B}"]'])
def test_several_hr_secrets_are_read_for_rotation(monkeypatch: pytest.MonkeyPatch,
                                                 value: str) -> None:
    monkeypatch.setenv("KM_LIFECYCLE_HR_WEBHOOK_SECRETS", value)
    assert load(LifecycleSettings).hr_webhook_secrets == (A, B)


@pytest.mark.parametrize("value", ["whsec_c2hvcnQ=", "whsec_***", ""])
def test_a_weak_or_malformed_hr_secret_stops_the_start_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KM_LIFECYCLE_HR_WEBHOOK_SECRETS", value)
    with pytest.raises(ConfigurationError, match="KM_LIFECYCLE_HR_WEBHOOK_SECRETS"):
        load(LifecycleSettings)


def test_production_refuses_the_development_hr_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KM_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="KM_LIFECYCLE_HR_WEBHOOK_SECRETS"):
        load(LifecycleSettings)
    monkeypatch.setenv("KM_LIFECYCLE_HR_WEBHOOK_SECRETS", A)
    assert load(LifecycleSettings).hr_webhook_secrets == (A,)
    assert DEV_HR_WEBHOOK_SECRET not in load(LifecycleSettings).hr_webhook_secrets


@pytest.mark.parametrize("spelling", [
    DEV_HR_WEBHOOK_SECRET.rstrip("="),  # without its padding
    DEV_HR_WEBHOOK_SECRET.removeprefix("whsec_"),  # without its prefix
])
def test_production_refuses_the_development_hr_secret_however_it_is_spelled(
        monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    """The webhook library takes these as the same key, and the development one is public."""
    assert spelling != DEV_HR_WEBHOOK_SECRET
    monkeypatch.setenv("KM_ENVIRONMENT", "production")
    monkeypatch.setenv("KM_LIFECYCLE_HR_WEBHOOK_SECRETS", f"{A},{spelling}")
    with pytest.raises(ConfigurationError, match="real secrets"):
        load(LifecycleSettings)


def test_an_unknown_time_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KM_LIFECYCLE_TIMEZONE", "Europe/Värnamo")
    with pytest.raises(ConfigurationError, match="KM_LIFECYCLE_TIMEZONE"):
        load(LifecycleSettings)
