"""Examples for the OpenAPI document: what the ordering portal's developers read first.

They describe one coherent story: unit SOC-HT-N (Hemtjänst Norr, cost centre 41230, head p-200001)
appointed p-100234 as orderer, who orders a standard phone with a subscription for p-100871.
"""

from __future__ import annotations

from typing import Any

P = "https://kommunmobil.varnamo.se/problems/"
ORDER_ID = "0b9f4a8e-5a0c-4f5e-9d0e-2f6c1f6b7d11"

CATALOGUE_CREATE: dict[str, Any] = {
    "item_id": "phone-standard-galaxy-a56", "kind": "phone",
    "name": "Samsung Galaxy A56 5G 256 GB", "description": "Standardtelefon, Android.",
    "tier": "standard", "model_id": "samsung-galaxy-a56", "needs_protection": True,
    "one_time_price_sek": "4290.00", "monthly_price_sek": "45.00",
}

CATALOGUE_ITEM: dict[str, Any] = {
    **CATALOGUE_CREATE, "accessory_type": None, "fits_model_ids": [], "scope": None,
    "currency": "SEK", "orderable": True, "retired_at": None, "version": 1,
    "updated_at": "2026-03-02T08:15:00Z",
}

ORDERER: dict[str, Any] = {
    "unit_id": "SOC-HT-N", "person_id": "p-100234", "active": True,
    "appointed_by": "p-200001", "appointed_at": "2026-03-02T08:20:00Z",
    "revoked_by": None, "revoked_at": None,
}

ORDER_CREATE: dict[str, Any] = {
    "unit_id": "SOC-HT-N",
    "recipient_person_id": "p-100871",
    "lines": [{"catalogue_item_id": "phone-standard-galaxy-a56", "quantity": 1},
              {"catalogue_item_id": "sub-mobile-5gb", "quantity": 1}],
    "justification": None,
    "note": "Ny medarbetare från 1 april; hämtas i Stadshuset.",
}


def _line(item: str, kind: str, name: str, one_time: str, monthly: str, **extra: Any
          ) -> dict[str, Any]:
    return {"catalogue_item_id": item, "kind": kind, "name": name, "tier": None,
            "model_id": None, "accessory_type": None, "scope": None, "quantity": 1,
            "one_time_price_sek": one_time, "monthly_price_sek": monthly,
            "added_for_rule": None, **extra}


ORDER: dict[str, Any] = {
    "order_id": ORDER_ID, "status": "submitted", "unit_id": "SOC-HT-N", "cost_centre": "41230",
    "orderer_id": "p-100234", "recipient_person_id": "p-100871", "recipient_type": "person",
    "lines": [
        _line("phone-standard-galaxy-a56", "phone", "Samsung Galaxy A56 5G 256 GB", "4290.00",
              "45.00", tier="standard", model_id="samsung-galaxy-a56"),
        _line("sub-mobile-5gb", "subscription", "Mobil Standard 5 GB", "0.00", "69.00",
              scope={"calls": True, "sms": True, "mms": True, "data_gb": 5}),
        _line("acc-protector-samsung-galaxy-a56", "accessory",
              "Skärmskydd härdat glas, Galaxy A56", "149.00", "0.00",
              model_id="protector-samsung-galaxy-a56", accessory_type="screen-protector",
              added_for_rule="U6"),
        _line("acc-case-samsung-galaxy-a56", "accessory", "Skal, Galaxy A56", "249.00", "0.00",
              model_id="case-samsung-galaxy-a56", accessory_type="case", added_for_rule="U6"),
    ],
    "one_time_total_sek": "4688.00", "monthly_total_sek": "114.00", "currency": "SEK",
    "justification": None, "note": "Ny medarbetare från 1 april; hämtas i Stadshuset.",
    "needs_approval_of_need": False, "approver_person_id": "p-200001", "need_approved": None,
    "decided_by": None, "decided_at": None, "decision_note": None, "devices_expected": 1,
    "fulfilled_at": None, "created_at": "2026-03-02T09:01:12Z",
    "updated_at": "2026-03-02T09:01:12Z",
}


def _problem(status: int, code: str, title: str, detail: str, instance: str,
             rule: str | None = None) -> dict[str, Any]:
    body = {"type": P + code, "title": title, "status": status, "detail": detail,
            "instance": instance}
    return {"summary": detail.split(" (")[0][:80], "value": body | ({"rule": rule} if rule else {})}


_RULE = ("rule-violation", "Not allowed by the guideline")
PROBLEM_TITLES = {401: "No valid bearer token", 403: "Not allowed for this caller and object",
                  404: "No such object", 409: "Conflicts with the object's current state",
                  422: "Invalid, or refused by a guideline rule (see `rule`)"}
PROBLEMS: dict[int, dict[str, Any]] = {
    401: {"no-token": _problem(401, "unauthorized", "Authentication required",
                               "Sign in: a bearer access token is required", "/v1/orders")},
    403: {
        "wrong-role": _problem(403, "forbidden", "Not allowed",
                               "This needs one of the roles: it-service", "/v1/catalogue"),
        "not-orderer": _problem(
            403, "forbidden", "Not allowed", "You are not an appointed orderer for unit SOC-HT-N. "
            "The head of the unit appoints the orderers (rule O2).", "/v1/orders", "O2"),
        "not-head": _problem(
            403, "forbidden", "Not allowed", "Only the head of the paying unit SOC-HT-N approves "
            "or rejects its orders (rule O3).", f"/v1/orders/{ORDER_ID}/approve", "O3"),
    },
    404: {
        "unknown-order": _problem(404, "not-found", "Not found",
                                  f"Order {ORDER_ID} does not exist", f"/v1/orders/{ORDER_ID}"),
        "unknown-item": _problem(404, "not-found", "Not found",
                                 "phone-standard-galaxy-a54 is not in the catalogue",
                                 "/v1/catalogue/phone-standard-galaxy-a54"),
        "unknown-unit": _problem(404, "not-found", "Not found",
                                 "Unit SOC-HT-X is not known to ordering (yet): lifecycle "
                                 "registers units", "/v1/units/SOC-HT-X/orderers"),
    },
    409: {
        "decided": _problem(409, "conflict", "Conflicts with the current state",
                            "The order is approved; it can no longer be cancelled.",
                            f"/v1/orders/{ORDER_ID}/cancel"),
        "key-reused": _problem(
            409, "conflict", "Conflicts with the current state", "This Idempotency-Key was "
            "already used for a different order; use a new key for a new order.", "/v1/orders"),
        "item-exists": _problem(
            409, "conflict", "Conflicts with the current state", "phone-standard-galaxy-a56 is "
            "already in the catalogue; change it with PUT", "/v1/catalogue"),
    },
    422: {
        "advanced-without-justification": _problem(
            422, *_RULE, "Apple iPhone 16 Pro 256 GB is an advanced-tier phone: write the "
            "specific need in `justification` for the head to approve (rule O4).",
            "/v1/orders", "O4"),
        "port-in": _problem(
            422, *_RULE, "Porting the number 0701234567 into the municipality is not handled "
            "(rule B3). Order the subscription with a new municipal number instead.",
            "/v1/orders", "B3"),
        "recipient-elsewhere": _problem(
            422, *_RULE, "p-100871 works in unit SOC-HT-S, not in SOC-HT-N; the unit that "
            "orders pays, so order from the person's own unit (rule O2).", "/v1/orders", "O2"),
        "retired": _problem(
            422, *_RULE, "Samsung Galaxy A54 (phone-standard-galaxy-a54) has been retired from "
            "the catalogue and can no longer be ordered (rule O1).", "/v1/orders", "O1"),
        "sim-without-device": _problem(
            422, *_RULE, "p-100871 holds no municipal phone or tablet and this order brings 0 "
            "for 1 subscription(s). A municipal SIM may only be used in a municipal device "
            "(rule U5): add a phone or tablet to the order.", "/v1/orders", "U5"),
        "need-not-approved": _problem(
            422, *_RULE, "This order has an advanced-tier phone. Approving it approves the "
            "stated need: “Dokumenterar bygglovsärenden med fältfoto.” Send approve_need: true "
            "to approve that need (rule O4).", f"/v1/orders/{ORDER_ID}/approve", "O4"),
        "not-an-employee": _problem(
            422, *_RULE, "p-999999 is not known as an employee of the municipality; an orderer "
            "must be one (rule O2).", "/v1/units/SOC-HT-N/orderers/p-999999", "O2"),
        "invalid-field": _problem(
            422, "invalid-request", "The request has invalid fields",
            "lines: List should have at least 1 item after validation, not 0", "/v1/orders"),
    },
}


ORDER_BODIES: dict[str, Any] = {
    "personal": {"summary": "A standard phone with a subscription for a person of the unit",
                 "value": ORDER_CREATE},
    "shared": {"summary": "Two shared tablets for the unit itself (rule U8)", "value": {
        "unit_id": "SOC-HT-N", "recipient_person_id": None,
        "lines": [{"catalogue_item_id": "tablet-ipad-11-a16", "quantity": 2},
                  {"catalogue_item_id": "acc-case-ipad-11", "quantity": 2},
                  {"catalogue_item_id": "sub-data-20gb", "quantity": 2}],
        "note": "Surfplattor för dokumentation i hemtjänstens bilar."}},
    "advanced": {"summary": "An advanced phone, with the need written down (rule O4)", "value": {
        "unit_id": "SBF-BYGG", "recipient_person_id": "p-100502",
        "lines": [{"catalogue_item_id": "phone-advanced-iphone-16-pro"},
                  {"catalogue_item_id": "sub-mobile-20gb"}],
        "justification": "Dokumenterar bygglovsärenden med fältfoto och 3D-skanning på plats."}},
    "sim-only": {"summary": "A subscription for someone who already holds a municipal phone",
                 "value": {"unit_id": "SOC-HT-N", "recipient_person_id": "p-100871",
                           "lines": [{"catalogue_item_id": "sub-mobile-1gb"}]}},
}

APPROVALS: dict[str, Any] = {
    "plain": {"summary": "Approve", "value": {"comment": "Behövs i tjänsten."}},
    "advanced": {"summary": "Approve an advanced phone and its stated need (rule O4)",
                 "value": {"approve_need": True, "comment": "Behovet godkänt."}},
}
