"""The guideline as a versioned policy (rules B5, R1) over HTTP. Thin: authorise, delegate.

Everyone signed in reads (the guideline is public within the municipality); the guideline owner
alone changes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from services.lifecycle import policy
from services.lifecycle.deps import GuidelineOwner, Offset, Page, Today
from services.lifecycle.policy_repository import PolicyRepository
from services.lifecycle.schemas_policy import (
    LocalPolicyOut,
    LocalRulesIn,
    MunicipalPolicyIn,
    MunicipalPolicyOut,
    PolicyChangeOut,
    ReviewIn,
    ReviewOut,
    Scope,
    UnitPolicyOut,
)
from shared.auth import CurrentUser
from shared.runtime import SessionDep

router = APIRouter(tags=["policy"])
Administration = Annotated[str, Path(min_length=1, max_length=200,
                                     examples=["Socialförvaltningen"])]


@router.get("/policy", response_model=MunicipalPolicyOut,
            summary="The municipality-wide policy in force, with its review status (rule R1)")
async def get_policy(session: SessionDep, user: CurrentUser, today: Today) -> MunicipalPolicyOut:
    return policy.municipal_out(await policy.load_book(session), today)


@router.put("/policy", response_model=MunicipalPolicyOut,
            summary="Change the municipality-wide policy: a new version (guideline owner)",
            responses={409: {"description": "based_on_version is not the version in force"}})
async def change_policy(body: MunicipalPolicyIn, session: SessionDep, user: GuidelineOwner,
                        today: Today) -> MunicipalPolicyOut:
    book = await policy.change_municipal(session, actor=user, data=body, today=today)
    return policy.municipal_out(book, today)


@router.get("/policy/review", response_model=ReviewOut,
            summary="rule R1: when the guideline was last reviewed, and whether a review is "
            "overdue (older than one year)")
async def get_review(session: SessionDep, user: CurrentUser, today: Today) -> ReviewOut:
    return policy.review(await policy.load_book(session), today)


@router.post("/policy/reviews", response_model=MunicipalPolicyOut,
             status_code=status.HTTP_201_CREATED,
             summary="Record a review that leaves the policy as it is (guideline owner; R1)")
async def record_review(body: ReviewIn, session: SessionDep, user: GuidelineOwner,
                        today: Today) -> MunicipalPolicyOut:
    book = await policy.record_review(session, actor=user, data=body, today=today)
    return policy.municipal_out(book, today)


@router.get("/policy/history", response_model=list[PolicyChangeOut],
            summary="Every version of every scope's policy, newest first")
async def history(session: SessionDep, user: CurrentUser, scope: Scope | None = None,
                  scope_id: str | None = None, limit: Page = 100, offset: Offset = 0
                  ) -> list[PolicyChangeOut]:
    found = await PolicyRepository(session).history(scope=scope, scope_id=scope_id,
                                                    limit=limit, offset=offset)
    return [PolicyChangeOut.model_validate(c) for c in found]


@router.get("/policy/local", response_model=list[LocalPolicyOut],
            summary="Every administration's and unit's local rules, with the policy in effect")
async def local_rules(session: SessionDep, user: CurrentUser) -> list[LocalPolicyOut]:
    return await policy.local_policies(session)


@router.get("/policy/administrations/{administration}", response_model=LocalPolicyOut,
            summary="An administration's local rules and the policy in effect there")
async def get_administration(administration: Administration, session: SessionDep,
                             user: CurrentUser) -> LocalPolicyOut:
    return await policy.administration_policy(session, administration)


@router.put("/policy/administrations/{administration}", response_model=LocalPolicyOut,
            summary="Set an administration's local rules: stricter only (guideline owner; B5)",
            responses={422: {"description": "A rule would relax the municipal policy (B5)"}})
async def set_administration(administration: Administration, body: LocalRulesIn,
                             session: SessionDep, user: GuidelineOwner) -> LocalPolicyOut:
    return await policy.set_local_rules(session, actor=user, scope="administration",
                                        scope_id=administration, data=body)


@router.get("/policy/units/{unit_id}", response_model=UnitPolicyOut,
            summary="The policy in effect for a unit: municipal plus every stricter local rule")
async def get_unit_policy(unit_id: str, session: SessionDep, user: CurrentUser, today: Today
                          ) -> UnitPolicyOut:
    return await policy.unit_policy(session, unit_id, today)


@router.put("/policy/units/{unit_id}", response_model=LocalPolicyOut,
            summary="Set a unit's local rules: stricter only (guideline owner; B5)",
            responses={422: {"description": "A rule would relax the policy above (B5)"}})
async def set_unit_policy(unit_id: str, body: LocalRulesIn, session: SessionDep,
                          user: GuidelineOwner) -> LocalPolicyOut:
    return await policy.set_local_rules(session, actor=user, scope="unit", scope_id=unit_id,
                                        data=body)
