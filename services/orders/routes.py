"""Orders HTTP API (thin: parse, authenticate, call the use case, shape the answer).

Roles gate only what is IT service's or an auditor's; who heads a unit and who orders for it is
organisational data (lifecycle's events and the heads' appointments), checked per object in the
use cases, so a head change moves the right at once without waiting for the identity provider.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response, status

from services.orders import catalogue, examples, orderers, service
from services.orders.repository import OrderFilter
from services.orders.schemas import (
    Approval,
    Cancellation,
    CatalogueItemCreate,
    CatalogueItemOut,
    CatalogueItemUpdate,
    ItemKind,
    KnownUnitOut,
    MeOut,
    OrderCreate,
    OrdererOut,
    OrderOut,
    OrderPage,
    OrderStatus,
    Rejection,
    Tier,
    catalogue_out,
    order_json,
    order_out,
    order_page_json,
    problem_responses,
)
from shared.auth import CurrentUser, User, require_roles
from shared.direct_route import direct_route
from shared.runtime import ReadConnection, SessionDep, write_transaction

router = APIRouter(prefix="/v1")
ItService = Annotated[User, Depends(require_roles("it-service"))]
ItemId = Annotated[str, Path(max_length=80, examples=["phone-standard-galaxy-a56"])]
UnitId = Annotated[str, Path(max_length=64, examples=["SOC-HT-N"])]
PersonId = Annotated[str, Path(max_length=64, examples=["p-100234"])]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Retry-safe creation: the same key (per caller) returns the same order, never a "
                "second one. Use a new UUID per intended order.",
    examples=["6f1c2f3e-3c0b-4b7e-8a55-0f7f2c1d9e42"])]


# --- catalogue (rule O1) -----------------------------------------------------------------------


@router.get("/catalogue", response_model=list[CatalogueItemOut], tags=["catalogue"],
            summary="The standard catalogue (anyone signed in)",
            responses=problem_responses(401))
async def list_catalogue(
    session: SessionDep, user: CurrentUser, kind: ItemKind | None = None, tier: Tier | None = None,
    include_retired: Annotated[bool, Query(description="Also retired items")] = False,
) -> list[CatalogueItemOut]:
    items = await catalogue.list_items(session, kind=kind, tier=tier,
                                       include_retired=include_retired)
    return [catalogue_out(item) for item in items]


@router.get("/catalogue/{item_id}", response_model=CatalogueItemOut, tags=["catalogue"],
            summary="One catalogue item",
            responses=problem_responses(401, 404, pick=("unknown-item",)))
async def get_catalogue_item(item_id: ItemId, session: SessionDep, user: CurrentUser
                             ) -> CatalogueItemOut:
    return catalogue_out(await catalogue.get_item(session, item_id))


@router.post("/catalogue", status_code=status.HTTP_201_CREATED, response_model=CatalogueItemOut,
             tags=["catalogue"], summary="Add an item (IT service)",
             responses=problem_responses(401, 403, 409, 422, pick=("wrong-role", "item-exists",
                                                                 "invalid-field")))
async def create_catalogue_item(body: CatalogueItemCreate, session: SessionDep,
                                user: ItService) -> CatalogueItemOut:
    return catalogue_out(await catalogue.create_item(session, actor=user, data=body))


@router.put("/catalogue/{item_id}", response_model=CatalogueItemOut, tags=["catalogue"],
            summary="Change an item: name, prices, fit (IT service); orders keep what they had",
            responses=problem_responses(401, 403, 404, 422,
                                        pick=("wrong-role", "unknown-item", "invalid-field")))
async def update_catalogue_item(item_id: ItemId, body: CatalogueItemUpdate, session: SessionDep,
                                user: ItService) -> CatalogueItemOut:
    return catalogue_out(await catalogue.update_item(session, actor=user, item_id=item_id,
                                                     data=body))


@router.post("/catalogue/{item_id}/retire", response_model=CatalogueItemOut, tags=["catalogue"],
             summary="Retire an item: no longer orderable (IT service)",
             responses=problem_responses(401, 403, 404, pick=("wrong-role", "unknown-item")))
async def retire_catalogue_item(item_id: ItemId, session: SessionDep, user: ItService
                                ) -> CatalogueItemOut:
    return catalogue_out(await catalogue.retire_item(session, actor=user, item_id=item_id))


@router.post("/catalogue/{item_id}/reinstate", response_model=CatalogueItemOut,
             tags=["catalogue"], summary="Make a retired item orderable again (IT service)",
             responses=problem_responses(401, 403, 404, pick=("wrong-role", "unknown-item")))
async def reinstate_catalogue_item(item_id: ItemId, session: SessionDep, user: ItService
                                   ) -> CatalogueItemOut:
    return catalogue_out(await catalogue.reinstate_item(session, actor=user, item_id=item_id))


# --- units and orderers (rule O2) --------------------------------------------------------------


@router.get("/units/{unit_id}", response_model=KnownUnitOut, tags=["units"],
            summary="A unit as ordering knows it (cost centre and head)",
            responses=problem_responses(401, 404, pick=("unknown-unit",)))
async def get_unit(unit_id: UnitId, session: SessionDep, user: CurrentUser) -> KnownUnitOut:
    return KnownUnitOut.model_validate(await orderers.known_unit(session, unit_id))


@router.get("/units/{unit_id}/orderers", response_model=list[OrdererOut], tags=["orderers"],
            summary="The unit's orderers (its head, IT service, auditors)",
            responses=problem_responses(401, 403, 404,
                                        pick=("not-head-orderers", "unknown-unit")))
async def list_orderers(unit_id: UnitId, session: SessionDep, user: CurrentUser,
                        include_revoked: bool = False) -> list[OrdererOut]:
    rows = await orderers.list_orderers(session, actor=user, unit_id=unit_id,
                                        include_revoked=include_revoked)
    return [OrdererOut.model_validate(row) for row in rows]


@router.put("/units/{unit_id}/orderers/{person_id}", response_model=OrdererOut,
            tags=["orderers"], status_code=status.HTTP_201_CREATED,
            summary="Appoint an orderer (the unit's head only); 200 if already appointed",
            responses=problem_responses(401, 403, 404, 422, pick=(
                "not-head-orderers", "unknown-unit", "not-an-employee")))
async def appoint_orderer(unit_id: UnitId, person_id: PersonId, session: SessionDep,
                          user: CurrentUser, response: Response) -> OrdererOut:
    orderer, changed = await orderers.appoint(session, actor=user, unit_id=unit_id,
                                              person_id=person_id)
    if not changed:
        response.status_code = status.HTTP_200_OK
    return OrdererOut.model_validate(orderer)


@router.delete("/units/{unit_id}/orderers/{person_id}", response_model=OrdererOut,
               tags=["orderers"], summary="Revoke an orderer (the unit's head only)",
               responses=problem_responses(401, 403, 404, pick=("not-head-orderers",
                                                                   "unknown-unit")))
async def revoke_orderer(unit_id: UnitId, person_id: PersonId, session: SessionDep,
                         user: CurrentUser) -> OrdererOut:
    return OrdererOut.model_validate(await orderers.revoke(session, actor=user, unit_id=unit_id,
                                                           person_id=person_id))


@router.get("/me", response_model=MeOut, tags=["orderers"],
            summary="What the caller may do in ordering", responses=problem_responses(401))
async def me(session: SessionDep, user: CurrentUser) -> MeOut:
    rights = await orderers.rights_of(session, user.person_id)
    return MeOut(person_id=user.person_id, roles=sorted(user.roles), **rights)


# --- orders (rules O1-O4, B3, U5, U6, U8) -----------------------------------------------------


# The portal's busiest write, served without FastAPI's dependency solving when well-formed
# (shared/direct_route.py); the same signature documents it and answers every refusal.
@direct_route(router, "/orders", methods=["POST"], status_code=status.HTTP_201_CREATED,
              response_model=OrderOut, tags=["orders"],
              summary="Place an order (an appointed orderer of the unit)",
              description="Refusals are problem details naming the rule: not an appointed "
              "orderer (O2, 403); recipient not in the unit (O2); item not in the catalogue or "
              "retired (O1); advanced phone without justification (O4); porting a number in "
              "(B3); a subscription without a municipal device (U5). A phone brings its screen "
              "protector and case (U6). With `Idempotency-Key`, a retry answers 200 with the "
              "same order and `Idempotent-Replayed: true`.",
              responses={201: {"description": "The order, placed", "headers": {
                                  "Location": {"description": "The order's URL",
                                               "schema": {"type": "string"}}}},
                         200: {"description": "A retry with the same Idempotency-Key: the "
                               "order it created", "model": OrderOut, "headers": {
                                   "Idempotent-Replayed": {"description": "Always `true`",
                                                           "schema": {"type": "string"}}}},
                         **problem_responses(401, 403, 409, 422, pick=(
                             "not-orderer", "key-reused", "advanced-without-justification",
                             "port-in", "recipient-elsewhere", "retired", "sim-without-device",
                             "invalid-field"))})
async def place_order(body: Annotated[OrderCreate, Body(openapi_examples=examples.ORDER_BODIES)],
                      request: Request, user: CurrentUser,
                      idempotency_key: IdempotencyKey = None) -> Response:
    async with write_transaction(request) as db:
        result, created = await service.submit(db, actor=user, data=body,
                                               idempotency_key=idempotency_key)
        # Built before the commit: a failure here must not leave an order the caller was told
        # nothing of. Rendered as the listing renders its rows (order_json), not by FastAPI
        # from a model it would validate once more; response_model documents it.
        placed = order_json(result.order, result.approver)
    headers = {"Location": f"/v1/orders/{result.order.order_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Response(placed, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
                    headers=headers, media_type="application/json")


@router.get("/orders", response_model=OrderPage, tags=["orders"],
            summary="Orders the caller may see, newest first",
            description="Orders of the units the caller orders for or heads, the ones they "
            "placed, and their parent-unit decisions; IT service and auditors see all. Pass "
            "`next_cursor` back as `cursor` for the next page.",
            responses=problem_responses(401, 422, pick=("invalid-field",)))
async def list_orders(
    db: ReadConnection, user: CurrentUser,
    unit_id: Annotated[str | None, Query(max_length=64)] = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    person_id: Annotated[str | None, Query(max_length=64,
                                           description="Recipient person")] = None,
    orderer_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    where = OrderFilter(unit_id=unit_id, status=status_, person_id=person_id,
                        orderer_id=orderer_id)
    views, next_cursor = await service.list_orders(db, actor=user, where=where,
                                                   cursor=cursor, limit=limit)
    # Already JSON (see order_page_json): returned as is, documented as OrderPage.
    return Response(order_page_json([(v.order, v.approver) for v in views], next_cursor),
                    media_type="application/json")


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"], summary="One order",
            responses=problem_responses(401, 403, 404, pick=("not-visible", "unknown-order")))
async def get_order(order_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> OrderOut:
    result = await service.get_order(session, actor=user, order_id=order_id)
    return order_out(result.order, result.approver)


@router.post("/orders/{order_id}/approve", response_model=OrderOut, tags=["orders"],
             summary="Approve (the head of the paying unit; never the orderer)",
             description="Publishes `order-approved`, which inventory fulfils. For an "
             "advanced-tier phone, `approve_need: true` approves the stated need (rule O4).",
             responses=problem_responses(401, 403, 404, 409, 422, pick=(
                 "not-head", "own-order", "unknown-order", "decided", "need-not-approved")))
async def approve_order(
    order_id: uuid.UUID, session: SessionDep, user: CurrentUser,
    body: Annotated[Approval | None, Body(openapi_examples=examples.APPROVALS)] = None,
) -> OrderOut:
    result = await service.approve(session, actor=user, order_id=order_id,
                                   data=body or Approval())
    return order_out(result.order, result.approver)


@router.post("/orders/{order_id}/reject", response_model=OrderOut, tags=["orders"],
             summary="Reject with a reason (the head of the paying unit)",
             responses=problem_responses(401, 403, 404, 409, 422, pick=(
                 "not-head", "own-order", "unknown-order", "decided", "invalid-field")))
async def reject_order(order_id: uuid.UUID, body: Rejection, session: SessionDep,
                       user: CurrentUser) -> OrderOut:
    result = await service.reject(session, actor=user, order_id=order_id, data=body)
    return order_out(result.order, result.approver)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"],
             summary="Cancel before the decision (the orderer who placed it)",
             responses=problem_responses(401, 403, 404, 409, pick=(
                 "not-canceller", "unknown-order", "decided")))
async def cancel_order(order_id: uuid.UUID, session: SessionDep, user: CurrentUser,
                       body: Cancellation | None = None) -> OrderOut:
    result = await service.cancel(session, actor=user, order_id=order_id,
                                  data=body or Cancellation())
    return order_out(result.order, result.approver)
