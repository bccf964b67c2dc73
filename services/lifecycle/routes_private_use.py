"""Private use of a municipal phone (rules P1, P3) over HTTP. Thin: authorise, delegate.

Object-level rules (domain_private_use): the employee, their manager and the head of their unit
for their own people; IT service and auditors read; the head alone decides, the employee alone
signs; anything else is 403.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.lifecycle import domain, private_use
from services.lifecycle.deps import GuidelineOwner, Offset, Page, Reader, Today
from services.lifecycle.models import PrivateUseAgreement
from services.lifecycle.private_use_repository import AgreementRepository
from services.lifecycle.schemas_private_use import (
    AgreementOut,
    AgreementRequestIn,
    AgreementStatus,
    ApprovalIn,
    RefusalIn,
    SignatureIn,
    TermsIn,
    TermsOut,
)
from shared.auth import CurrentUser
from shared.errors import Forbidden
from shared.runtime import SessionDep

router = APIRouter(tags=["private use"])
AGREEMENT = "/private-use/agreements/{agreement_id}"
StatusFilter = Annotated[AgreementStatus | None, Query(alias="status")]


async def _one(session: SessionDep, agreement: PrivateUseAgreement, today: date
               ) -> AgreementOut:
    return (await private_use.render(session, [agreement], today))[0]


@router.post("/private-use/agreements", response_model=AgreementOut,
             status_code=status.HTTP_201_CREATED,
             summary="Ask for private use of a municipal phone (the employee, their manager or "
             "head; rule P1)")
async def request_private_use(body: AgreementRequestIn, session: SessionDep, user: CurrentUser,
                              today: Today) -> AgreementOut:
    agreement = await private_use.request(session, actor=user, data=body)
    return await _one(session, agreement, today)


@router.get(AGREEMENT, response_model=AgreementOut,
            summary="One agreement (the employee, their manager and head, IT service, auditor)")
async def get_agreement(agreement_id: uuid.UUID, session: SessionDep, user: CurrentUser,
                        today: Today) -> AgreementOut:
    agreement = await private_use.read(session, actor=user, agreement_id=agreement_id)
    return await _one(session, agreement, today)


@router.post(AGREEMENT + "/approval", response_model=AgreementOut,
             summary="Approve (the head of the employee's unit; rule P1)")
async def approve(agreement_id: uuid.UUID, session: SessionDep, user: CurrentUser,
                  today: Today, body: ApprovalIn | None = None) -> AgreementOut:
    agreement = await private_use.approve(session, actor=user, agreement_id=agreement_id,
                                          note=body.note if body else "")
    return await _one(session, agreement, today)


@router.post(AGREEMENT + "/refusal", response_model=AgreementOut,
             summary="Refuse, with the reason (the head of the employee's unit; rule P1)")
async def refuse(agreement_id: uuid.UUID, body: RefusalIn, session: SessionDep,
                 user: CurrentUser, today: Today) -> AgreementOut:
    agreement = await private_use.refuse(session, actor=user, agreement_id=agreement_id,
                                         data=body)
    return await _one(session, agreement, today)


@router.post(AGREEMENT + "/signature", response_model=AgreementOut,
             summary="Sign over the P3 text shown (the employee; rules P1, P3): in force now",
             description="Name the P3 text shown (`terms_to_sign` of the approved agreement) by "
             "version and SHA-256; a newer text since is a 409, show it and sign again.")
async def sign(agreement_id: uuid.UUID, body: SignatureIn, session: SessionDep,
               user: CurrentUser, today: Today) -> AgreementOut:
    agreement = await private_use.sign(session, actor=user, agreement_id=agreement_id,
                                       data=body, today=today)
    return await _one(session, agreement, today)


@router.post(AGREEMENT + "/end", response_model=AgreementOut,
             summary="End the agreement today, or withdraw an unsigned one (the employee or "
             "the head; a manager may withdraw a request)")
async def end(agreement_id: uuid.UUID, session: SessionDep, user: CurrentUser, today: Today
              ) -> AgreementOut:
    agreement = await private_use.end(session, actor=user, agreement_id=agreement_id,
                                      today=today)
    return await _one(session, agreement, today)


@router.get("/private-use/agreements", response_model=list[AgreementOut],
            summary="All agreements, filterable (IT service, auditor)")
async def list_agreements(session: SessionDep, user: Reader, today: Today,
                          agreement_status: StatusFilter = None, person_id: str | None = None,
                          unit_id: str | None = None, limit: Page = 100, offset: Offset = 0
                          ) -> list[AgreementOut]:
    found = await AgreementRepository(session).listing(
        status=agreement_status, person_id=person_id, unit_id=unit_id, limit=limit,
        offset=offset)
    return await private_use.render(session, list(found), today)


@router.get("/people/{person_id}/private-use", response_model=list[AgreementOut],
            summary="A person's agreements (the person, their manager and head, IT service, "
            "auditor)")
async def person_agreements(person_id: str, session: SessionDep, user: CurrentUser,
                            today: Today) -> list[AgreementOut]:
    await private_use.check_person_listing(session, user, person_id)
    found = await AgreementRepository(session).of_person(person_id)
    return await private_use.render(session, list(found), today)


@router.get("/managers/{manager_id}/private-use", response_model=list[AgreementOut],
            summary="Agreements of a manager's staff and of the units they head, e.g. "
            "status=requested: the head's decisions to make (the manager, IT service, auditor)")
async def manager_agreements(manager_id: str, session: SessionDep, user: CurrentUser,
                             today: Today, agreement_status: StatusFilter = None,
                             limit: Page = 100, offset: Offset = 0) -> list[AgreementOut]:
    if not domain.may_list_for(user, manager_id):
        raise Forbidden("A manager's list is for that manager, IT service and auditors")
    found = await AgreementRepository(session).for_manager(
        manager_id, status=agreement_status, limit=limit, offset=offset)
    return await private_use.render(session, list(found), today)


# --- the P3 text ------------------------------------------------------------------------------

@router.get("/private-use/terms", response_model=TermsOut,
            summary="The P3 text in force, shown before signing (anyone signed in)")
async def current_terms(session: SessionDep, user: CurrentUser) -> TermsOut:
    return TermsOut.model_validate(await private_use.terms(session, None))


@router.get("/private-use/terms/{version}", response_model=TermsOut,
            summary="One version of the P3 text (anyone signed in)")
async def terms_version(version: int, session: SessionDep, user: CurrentUser) -> TermsOut:
    return TermsOut.model_validate(await private_use.terms(session, version))


@router.post("/private-use/terms", response_model=TermsOut, status_code=status.HTTP_201_CREATED,
             summary="Publish a new version of the P3 text (guideline owner; rule R1)")
async def publish_terms(body: TermsIn, session: SessionDep, user: GuidelineOwner) -> TermsOut:
    return TermsOut.model_validate(
        await private_use.publish_terms(session, actor=user, text=body.text))
