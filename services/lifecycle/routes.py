"""Lifecycle HTTP API (thin: parse, authorise, call the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from services.lifecycle import service
from services.lifecycle.repository import UnitRepository
from services.lifecycle.schemas import UnitCreate, UnitIn, UnitOut
from shared.auth import CurrentUser, User, require_roles
from shared.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["units"])
ItService = Annotated[User, Depends(require_roles("it-service"))]


@router.post("/units", status_code=status.HTTP_201_CREATED, response_model=UnitOut,
             summary="Register a unit (IT service)")
async def register_unit(body: UnitCreate, session: SessionDep, user: ItService) -> UnitOut:
    unit = await service.register_unit(session, actor=user, data=body)
    return UnitOut.model_validate(unit)


@router.put("/units/{unit_id}", response_model=UnitOut, summary="Change a unit (IT service)")
async def change_unit(unit_id: str, body: UnitIn, session: SessionDep, user: ItService) -> UnitOut:
    unit = await service.change_unit(session, actor=user, unit_id=unit_id, data=body)
    return UnitOut.model_validate(unit)


@router.get("/units/{unit_id}", response_model=UnitOut, summary="One unit")
async def get_unit(unit_id: str, session: SessionDep, user: CurrentUser) -> UnitOut:
    # The organisation chart is public record within the municipality: any signed-in caller.
    return UnitOut.model_validate(await service.get_unit(session, unit_id))


@router.get("/units", response_model=list[UnitOut], summary="Units, by administration")
async def list_units(
    session: SessionDep, user: CurrentUser,
    administration: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UnitOut]:
    units = await UnitRepository(session).listing(
        administration=administration, limit=limit, offset=offset)
    return [UnitOut.model_validate(u) for u in units]
