"""Orders HTTP API."""

from __future__ import annotations

from fastapi import APIRouter

from services.orders import service
from services.orders.schemas import KnownUnitOut
from shared.auth import CurrentUser
from shared.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["units"])


@router.get("/units/{unit_id}", response_model=KnownUnitOut,
            summary="A unit as ordering knows it (cost centre and head)")
async def get_unit(unit_id: str, session: SessionDep, user: CurrentUser) -> KnownUnitOut:
    return KnownUnitOut.model_validate(await service.get_known_unit(session, unit_id))
