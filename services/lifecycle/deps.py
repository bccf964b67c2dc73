"""Request dependencies shared by the lifecycle routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from services.lifecycle.jobs import today_in
from shared.auth import User, require_roles
from shared.settings import LifecycleSettings


def _settings(request: Request) -> LifecycleSettings:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, LifecycleSettings)
    return settings


def _today(settings: Annotated[LifecycleSettings, Depends(_settings)]) -> date:
    return today_in(settings.timezone)


SettingsDep = Annotated[LifecycleSettings, Depends(_settings)]
Today = Annotated[date, Depends(_today)]
ItService = Annotated[User, Depends(require_roles("it-service"))]
Reader = Annotated[User, Depends(require_roles("it-service", "auditor"))]
Page = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
GuidelineOwner = Annotated[User, Depends(require_roles("guideline-owner"))]
