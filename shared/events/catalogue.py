"""The v1 event catalogue: every integration event, defined once.

Names are the contract (`<service>.<event-name>.v1`). Adding an optional field is compatible;
removing, renaming or retyping one needs a new version (a new class with `version = 2`).
Rule IDs refer to ../shared/guideline/RULES.md.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import Event

PersonId = str  # the HR system's person id (also the JWT `sub`)
UnitId = str  # the organisation's unit code


class _Lifecycle(Event):
    service = "lifecycle"


class _Orders(Event):
    service = "orders"


class _Inventory(Event):
    service = "inventory"


# --- lifecycle: the organisation and the employees (HR), returns, losses, private use ----------


class UnitRegistered(_Lifecycle):
    event_name = "unit-registered"
    unit_id: UnitId
    name: str
    administration: str
    parent_unit_id: UnitId | None = None
    cost_centre: str
    head_person_id: PersonId | None = None


class UnitChanged(UnitRegistered):
    event_name = "unit-changed"


class EmployeeHired(_Lifecycle):
    event_name = "employee-hired"
    person_id: PersonId
    unit_id: UnitId
    nearest_manager_id: PersonId | None = None
    start_date: date


class EmployeeTransferred(_Lifecycle):
    """rule U7: a move to another unit means devices go back to the nearest manager."""

    event_name = "employee-transferred"
    person_id: PersonId
    from_unit_id: UnitId
    to_unit_id: UnitId
    nearest_manager_id: PersonId | None = None
    effective_date: date


class EmploymentEnded(_Lifecycle):
    """rule U7: devices may not be kept after the last day."""

    event_name = "employment-ended"
    person_id: PersonId
    unit_id: UnitId
    last_day: date
    nearest_manager_id: PersonId | None = None


ReturnReason = Literal["employment-ended", "transferred", "consumed", "not-needed", "replaced"]


class ReturnRequested(_Lifecycle):
    """rules U7, C2, C3: a device must be handed back by `due_date`.

    Published again, with the same `return_case_id`, when the due date moves (an HR correction):
    keep the newest per case. `receiver_person_id` is the nearest manager; None means IT service.
    """

    event_name = "return-requested"
    return_case_id: uuid.UUID
    device_id: uuid.UUID
    person_id: PersonId | None = None
    unit_id: UnitId
    reason: ReturnReason
    due_date: date
    receiver_person_id: PersonId | None = None


class ReturnOverdue(_Lifecycle):
    """rule U7: an open return case past its due date; once per escalation level and case.

    Level 1 on the first day overdue, one level more every `escalation_interval_days` of the
    policy in effect for the case's unit (default 7; rules U7, B5);
    `escalated_to` is the head above the receiver (None: IT service follows it up).
    """

    event_name = "return-overdue"
    return_case_id: uuid.UUID
    device_id: uuid.UUID
    person_id: PersonId | None = None
    due_date: date
    escalated_to: PersonId | None = None
    days_overdue: int = Field(ge=1)
    escalation_level: int = Field(ge=1)
    unit_id: UnitId | None = None
    receiver_person_id: PersonId | None = None


class ReturnCompleted(_Lifecycle):
    event_name = "return-completed"
    return_case_id: uuid.UUID
    device_id: uuid.UUID
    person_id: PersonId | None = None
    received_by: PersonId
    completed_at: datetime


class LossReported(_Lifecycle):
    """rule U9: blocks the SIM, locks or wipes the device, opens a replacement path."""

    event_name = "loss-reported"
    loss_id: uuid.UUID
    device_id: uuid.UUID
    person_id: PersonId | None = None
    reported_by: PersonId
    circumstances: str = ""
    unit_id: UnitId | None = None
    instruction_url: str | None = None  # the intranet's loss instruction the reporter was shown


class PrivateUseApproved(_Lifecycle):
    """rule P1: the head decided and the employee signed, having been shown the P3 text.

    Published when the employee signs (the agreement is in force from then), not when the head
    approves: an approved agreement nobody signed binds no one. `subscription_id` None: every
    subscription the person holds.
    """

    event_name = "private-use-approved"
    agreement_id: uuid.UUID
    person_id: PersonId
    subscription_id: uuid.UUID | None = None
    approved_by: PersonId
    valid_from: date
    # Optional (v1-compatible): the phone, the unit whose head decided, the P3 text signed.
    device_id: uuid.UUID | None = None
    unit_id: UnitId | None = None
    terms_version: int | None = None
    signed_at: datetime | None = None


class PrivateUseEnded(_Lifecycle):
    """rule P1: the last day of an agreement (inclusive). Ended by the employee
    (`employee-request`), the head (`revoked`), or automatically on the end of employment or a
    move to another unit (`transferred`). Published again, same `agreement_id`, when an HR
    correction moves `ended_on`: keep the newest per agreement."""

    event_name = "private-use-ended"
    agreement_id: uuid.UUID
    person_id: PersonId
    reason: Literal["employment-ended", "revoked", "expired", "employee-request", "transferred"]
    ended_on: date
    unit_id: UnitId | None = None  # optional (v1-compatible)
    subscription_id: uuid.UUID | None = None


PhoneTier = Literal["robust", "simple", "standard", "advanced"]


class SupportChannel(BaseModel):
    """rule S1: one way to personal support."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["portal", "phone", "visit"]
    value: str = Field(min_length=1, max_length=200)  # the address, the number, the place


class PolicyParameters(BaseModel):
    """rules B5, R1: the guideline's parameters as one document: the municipality's, or the
    effective policy of an administration or unit (the municipality's plus its stricter local
    rules)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers_on_offer: tuple[PhoneTier, ...]  # rule O4
    tiers_requiring_justification: tuple[PhoneTier, ...]  # rule O4
    # rule U7: a returned device is due this many days after the last day (negative: before).
    # At most 0: the rule says due on the last day, and may not be kept; a policy may only
    # bring the day earlier.
    return_due_days_after_last_day: int = Field(ge=-60, le=0)
    escalation_interval_days: int = Field(ge=1, le=365)  # rule U7: between escalation levels
    private_use_allowed: bool  # rule P1: may a head agree to private use at all
    private_cost_categories: tuple[str, ...]  # rule P2: usage categories the employee pays
    support_channels: tuple[SupportChannel, ...]  # rule S1


class LocalRules(BaseModel):
    """rule B5: what an administration or unit adds; every field unset means "as above"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers_on_offer: tuple[PhoneTier, ...] | None = None
    tiers_requiring_justification: tuple[PhoneTier, ...] | None = None
    return_due_days_after_last_day: int | None = Field(default=None, ge=-60, le=0)  # rule U7
    escalation_interval_days: int | None = Field(default=None, ge=1, le=365)
    private_use_allowed: bool | None = None


class LocalPolicy(BaseModel):
    """The local rules of one administration or unit and the policy in effect there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["administration", "unit"]
    scope_id: str
    policy_version: int  # the change that set these rules
    rules: LocalRules
    effective: PolicyParameters


class PolicyChanged(_Lifecycle):
    """rules B5, R1: the guideline owner changed the policy; the whole policy as it now stands.

    Keep the one with the highest `policy_version`. The policy in effect for a unit is the
    `effective` of the first `local` entry found for the unit itself, then for its parent units
    upwards, then for its administration (scope "administration", scope_id = the administration's
    name), else `municipal`: each entry already includes every rule above it.
    """

    event_name = "policy-changed"
    policy_version: int = Field(ge=1)
    changed_scope: Literal["municipality", "administration", "unit"]
    changed_scope_id: str | None = None
    changed_by: PersonId
    reviewed_on: date  # rule R1: the guideline's last review
    municipal: PolicyParameters
    local: tuple[LocalPolicy, ...] = ()


# --- orders: orderers, the ordering workflow -------------------------------------------------


class OrdererAppointed(_Orders):
    """rule O2: the department head appoints the authorised orderers."""

    event_name = "orderer-appointed"
    unit_id: UnitId
    person_id: PersonId
    appointed_by: PersonId


class OrdererRevoked(_Orders):
    event_name = "orderer-revoked"
    unit_id: UnitId
    person_id: PersonId
    revoked_by: PersonId


class SubscriptionScope(BaseModel):
    """rule O3: the head decides the subscription's scope: calls, SMS, MMS and a data package."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calls: bool
    sms: bool
    mms: bool
    data_gb: int = Field(ge=0)


class OrderLine(BaseModel):
    """One catalogue item of an order, as the catalogue described it when the order was placed.

    Inventory reserves from `kind`, `tier` and `model_id` (one device per unit of `quantity` for
    phones and tablets) and a SIM and number per unit of a subscription line, with its `scope`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalogue_item_id: str
    kind: Literal["phone", "tablet", "accessory", "subscription", "sim", "extension"]
    tier: Literal["robust", "simple", "standard", "advanced"] | None = None
    quantity: int = Field(default=1, ge=1)
    # Optional (v1-compatible), filled by orders: what inventory needs to reserve and issue.
    name: str | None = None
    model_id: str | None = None  # phones, tablets, accessories: the device model
    accessory_type: str | None = None  # accessories: "screen-protector", "case", "charger", ...
    scope: SubscriptionScope | None = None  # subscription lines
    one_time_price_sek: Decimal | None = None  # per unit, as ordered
    monthly_price_sek: Decimal | None = None
    added_for_rule: Literal["U6"] | None = None  # added automatically: protector and case (U6)


class OrderSubmitted(_Orders):
    event_name = "order-submitted"
    order_id: uuid.UUID
    unit_id: UnitId
    cost_centre: str
    orderer_id: PersonId
    recipient_person_id: PersonId | None = None  # None: a shared device for the unit (rule U8)
    lines: tuple[OrderLine, ...]
    justification: str | None = None  # rule O4: required for the advanced tier
    one_time_total_sek: Decimal | None = None
    monthly_total_sek: Decimal | None = None


class OrderApproved(_Orders):
    """rule O3: the head of the paying unit approved; inventory may now reserve and issue.

    Fulfilment contract: inventory issues every phone and tablet of the order as a device with
    `device-issued` carrying this `order_id`; the order is fulfilled when all of them are issued.
    An order without a phone or tablet (a SIM for a device the recipient holds, accessories) is
    fulfilled by the first `device-issued` carrying its `order_id`.
    """

    event_name = "order-approved"
    order_id: uuid.UUID
    unit_id: UnitId
    cost_centre: str
    recipient_person_id: PersonId | None = None
    lines: tuple[OrderLine, ...]
    approved_by: PersonId
    orderer_id: PersonId | None = None
    justification: str | None = None
    need_approved: bool | None = None  # rule O4: True when the head approved an advanced need
    one_time_total_sek: Decimal | None = None
    monthly_total_sek: Decimal | None = None


class OrderRejected(_Orders):
    event_name = "order-rejected"
    order_id: uuid.UUID
    rejected_by: PersonId
    reason: str
    unit_id: UnitId | None = None


class OrderCancelled(_Orders):
    event_name = "order-cancelled"
    order_id: uuid.UUID
    cancelled_by: PersonId
    reason: str
    unit_id: UnitId | None = None


class OrderFulfilled(_Orders):
    event_name = "order-fulfilled"
    order_id: uuid.UUID
    device_ids: tuple[uuid.UUID, ...] = ()
    subscription_ids: tuple[uuid.UUID, ...] = ()
    unit_id: UnitId | None = None


# --- inventory: the always-current register (rule B2) ----------------------------------------

DeviceKind = Literal["phone", "tablet", "sim", "accessory", "desk-phone"]


class DeviceReceived(_Inventory):
    event_name = "device-received"
    device_id: uuid.UUID
    kind: DeviceKind
    model_id: str
    serial_number: str
    order_id: uuid.UUID | None = None
    owner: Literal["municipality"] = "municipality"  # rule B1
    imei: str | None = None
    tier: Literal["robust", "simple", "standard", "advanced"] | None = None


class DeviceReserved(_Inventory):
    """rule O3: an approved order's device, or a SIM (`kind` "sim") for a subscription line.

    `subscription_id` is set for the SIM of a subscription line; `from_backorder` when the line
    waited for stock and a later delivery filled it.
    """

    event_name = "device-reserved"
    device_id: uuid.UUID
    order_id: uuid.UUID
    kind: DeviceKind | None = None
    model_id: str | None = None
    recipient_person_id: PersonId | None = None
    unit_id: UnitId | None = None
    subscription_id: uuid.UUID | None = None
    from_backorder: bool = False


class DeviceIssued(_Inventory):
    """rule U8: held by one person (personal) or by one unit (shared); rule B1 acknowledged."""

    event_name = "device-issued"
    device_id: uuid.UUID
    order_id: uuid.UUID | None = None
    holder_person_id: PersonId | None = None
    unit_id: UnitId
    issued_by: PersonId
    terms_acknowledged_at: datetime | None = None
    # Optional, added for orders: fulfilment counts the phones and tablets issued against an
    # order, and rule U5 needs to know whether a holder has a device a SIM can go into.
    kind: DeviceKind | None = None
    model_id: str | None = None
    # activated with this device, or moved into it from the lost one it replaces (U9)
    subscription_ids: tuple[uuid.UUID, ...] = ()
    mdm_enrolment_id: str | None = None  # rule B2
    replaces_device_id: uuid.UUID | None = None  # rule U9: the lost device this one replaces


class DeviceReturned(_Inventory):
    event_name = "device-returned"
    device_id: uuid.UUID
    from_person_id: PersonId | None = None
    unit_id: UnitId
    received_by: PersonId
    return_case_id: uuid.UUID | None = None
    kind: DeviceKind | None = None
    wiped: bool | None = None  # the MDM confirmed the wipe (then the device is back in stock)


class DeviceLost(_Inventory):
    event_name = "device-lost"
    device_id: uuid.UUID
    person_id: PersonId | None = None
    loss_id: uuid.UUID | None = None
    sim_blocked: bool
    mdm_action: Literal["lost-mode", "wipe", "none"]
    unit_id: UnitId | None = None


class DeviceConsumed(_Inventory):
    """rule C1: no more security updates, or cannot run the apps the job needs."""

    event_name = "device-consumed"
    device_id: uuid.UUID
    model_id: str
    reason: Literal["security-updates-ended", "required-app-unsupported"]
    holder_person_id: PersonId | None = None
    unit_id: UnitId | None = None
    decided_on: date


class DeviceHandedToSupplier(_Inventory):
    """rule C2: the supplier reuses or recycles and confirms the erasure."""

    event_name = "device-handed-to-supplier"
    device_id: uuid.UUID
    supplier: str
    erasure_confirmation: str
    handed_over_by: PersonId | None = None


class SubscriptionActivated(_Inventory):
    event_name = "subscription-activated"
    subscription_id: uuid.UUID
    phone_number: str
    unit_id: UnitId
    holder_person_id: PersonId | None = None
    calls: bool = True
    sms: bool = True
    mms: bool = True
    data_gb: int = Field(default=0, ge=0)
    order_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    sim_iccid: str | None = None
    plan: str | None = None  # the catalogue item it was ordered as
    cost_centre: str | None = None


class SubscriptionTerminated(_Inventory):
    event_name = "subscription-terminated"
    subscription_id: uuid.UUID
    phone_number: str
    reason: str
    unit_id: UnitId | None = None
    holder_person_id: PersonId | None = None


class ComplianceViolation(_Inventory):
    """rules U4 (no passcode) and U5 (SIM and device must both be municipal)."""

    event_name = "compliance-violation"
    rule: Literal["U4", "U5"]
    device_id: uuid.UUID | None = None
    sim_iccid: str | None = None
    detail: str
    report_id: str | None = None
    holder_person_id: PersonId | None = None
    unit_id: UnitId | None = None



# --- inventory: usage and costs (P2), support and repair (S1-S5) ------------------------------

PrivateCostCharge = Literal["unit", "employee"]


class UsageImported(_Inventory):
    """rule P2: the operator's monthly usage file was imported and split, all rows or none.

    Sums are in SEK: `unit_sek` to the subscriptions' cost centres (flat fee, in-plan use, and
    extras charged to the unit), `employee_sek` private extras charged to employees under a
    private-use agreement, `flagged_sek` extras without an agreement awaiting the head's decision.
    """

    event_name = "usage-imported"
    import_id: uuid.UUID
    content_sha256: str
    source: str
    periods: tuple[str, ...]  # "YYYY-MM"
    rows: int
    total_sek: Decimal
    unit_sek: Decimal
    employee_sek: Decimal
    flagged_sek: Decimal
    flags: int
    imported_by: PersonId


class PrivateCostFlagged(_Inventory):
    """rule P2: private extras on a subscription without a (whole-period) private-use agreement;
    the head of `unit_id` decides who pays."""

    event_name = "private-cost-flagged"
    flag_id: uuid.UUID
    import_id: uuid.UUID
    subscription_id: uuid.UUID
    phone_number: str
    period: str  # "YYYY-MM"
    amount_sek: Decimal
    reason: str
    unit_id: UnitId
    cost_centre: str
    person_id: PersonId | None = None
    head_person_id: PersonId | None = None


class PrivateCostResolved(_Inventory):
    """rule P2: the head decided a flagged private cost: the unit or the employee pays."""

    event_name = "private-cost-resolved"
    flag_id: uuid.UUID
    subscription_id: uuid.UUID
    period: str  # "YYYY-MM"
    amount_sek: Decimal
    charge_to: PrivateCostCharge
    resolved_by: PersonId
    unit_id: UnitId
    cost_centre: str
    person_id: PersonId | None = None


SupportCategory = Literal["network-access", "email", "calendar", "app-access", "device-fault",
                          "app-usage", "private-account", "private-service"]


class SupportCaseOpened(_Inventory):
    """rules S2, S3, S5: a support case and what became of it at once: accepted by central IT
    (S2), routed to the app's own support (S3), or refused (S5)."""

    event_name = "support-case-opened"
    case_id: uuid.UUID
    person_id: PersonId
    category: SupportCategory
    outcome: Literal["accepted", "routed", "refused"]
    rule: Literal["S2", "S3", "S4", "S5"]
    opened_by: PersonId
    device_id: uuid.UUID | None = None
    app_id: str | None = None


class RepairStarted(_Inventory):
    """rule S4: a held device went to repair after its holder confirmed the data-loss warning."""

    event_name = "repair-started"
    repair_id: uuid.UUID
    device_id: uuid.UUID
    holder_person_id: PersonId | None = None
    holder_unit_id: UnitId | None = None
    unit_id: UnitId | None = None
    warning_confirmed_by: PersonId
    warning_confirmed_at: datetime
    case_id: uuid.UUID | None = None


class RepairCompleted(_Inventory):
    """The repaired device went back to the same holder, or the holder got a replacement
    (rule U8: the old device is returned, the replacement issued anew)."""

    event_name = "repair-completed"
    repair_id: uuid.UUID
    device_id: uuid.UUID
    outcome: Literal["returned-to-holder", "replaced"]
    holder_person_id: PersonId | None = None
    holder_unit_id: UnitId | None = None
    replacement_device_id: uuid.UUID | None = None
    completed_by: PersonId

ALL_EVENTS: tuple[type[Event], ...] = (
    UnitRegistered, UnitChanged, EmployeeHired, EmployeeTransferred, EmploymentEnded,
    ReturnRequested, ReturnOverdue, ReturnCompleted, LossReported, PrivateUseApproved,
    PrivateUseEnded, PolicyChanged,
    OrdererAppointed, OrdererRevoked, OrderSubmitted, OrderApproved, OrderRejected,
    OrderCancelled, OrderFulfilled,
    DeviceReceived, DeviceReserved, DeviceIssued, DeviceReturned, DeviceLost, DeviceConsumed,
    DeviceHandedToSupplier, SubscriptionActivated, SubscriptionTerminated, ComplianceViolation,
    UsageImported, PrivateCostFlagged, PrivateCostResolved, SupportCaseOpened, RepairStarted,
    RepairCompleted,
)

REGISTRY: dict[str, type[Event]] = {cls.cloudevent_type(): cls for cls in ALL_EVENTS}
BY_ROUTING_KEY: dict[str, type[Event]] = {cls.routing_key(): cls for cls in ALL_EVENTS}
