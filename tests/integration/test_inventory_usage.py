"""Usage and cost split (rule P2) through HTTP and events, on both transports where it matters:
the operator's file imported all-or-nothing with line numbers, re-import a no-op, flat fee and
in-plan use to the cost centre, private extras to the employee under an agreement (from
lifecycle's private-use events), other extras flagged for the head, and the statements."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from shared.events.base import decode, wrap
from shared.events.catalogue import REGISTRY, PrivateCostFlagged, PrivateUseApproved
from tests.integration.test_inventory_duties_helpers import (
    agreement,
    agreement_ended,
    import_usage,
    issued_phone,
    label,
    suffix,
    this_month,
    unit,
    usage_csv,
)
from tests.integration.test_inventory_helpers import outbox, processed, publish
from tests.system import RunningSystem


async def _world(system: RunningSystem, it: dict[str, str]) -> dict[str, Any]:
    """Unit U (head h-U, its own cost centre) with one person holding a phone and subscription."""
    s = suffix()
    unit_id, head, person, cost_centre = f"U-{s}", f"h-{s}", f"p-{s}", f"CC{s}"
    await unit(system, unit_id, head, cost_centre)
    phone = await issued_phone(system, it, person=person, unit_id=unit_id,
                               cost_centre=cost_centre)
    return {"unit": unit_id, "head": head, "person": person, "cost_centre": cost_centre,
            **phone}


async def _statement(system: RunningSystem, headers: dict[str, str], path: str,
                     **params: str) -> dict[str, Any]:
    response = await system.inventory.get(path, params={"period": label(this_month()),
                                                        **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_p2_flat_fee_to_the_cost_centre_and_private_extras_to_the_employee_under_an_agreement(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    w = await _world(system, it)
    await agreement(system, w["person"], valid_from=this_month() - timedelta(days=40))
    month = label(this_month())
    # A semicolon file with decimal commas, as Swedish spreadsheets write it.
    content = usage_csv((w["msisdn"], month, "flat-fee", "149,00"),
                        (w["msisdn"], month, "domestic-data", "0,00"),
                        (w["msisdn"], month, "roaming", "89,50"),
                        (w["msisdn"], month, "premium-services", "1 020,25"), delimiter=";")
    response = await import_usage(system, it, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"] == 4 and body["periods"] == [month] and body["flags"] == 0
    assert Decimal(body["unit_sek"]) == Decimal("149.00")
    assert Decimal(body["employee_sek"]) == Decimal("1109.75")
    assert Decimal(body["flagged_sek"]) == 0

    mine = await _statement(system, token_for(w["person"], "employee"),
                            f"/v1/statements/people/{w['person']}")
    assert Decimal(mine["totals"]["employee_sek"]) == Decimal("1109.75")
    assert {(li["category"], li["charged_to"]) for li in mine["lines"]} == {
        ("roaming", "employee"), ("premium-services", "employee")}
    centre = await _statement(system, token_for(w["head"], "department-head"),
                              f"/v1/statements/cost-centres/{w['cost_centre']}")
    assert Decimal(centre["totals"]["unit_sek"]) == Decimal("149.00")
    assert {(li["category"], li["charged_to"]) for li in centre["lines"]} == {
        ("flat-fee", "unit"), ("domestic-data", "unit"), ("roaming", "employee"),
        ("premium-services", "employee")}
    (event,) = [e for e in await outbox(system, "inventory.usage-imported.v1")
                if e["data"]["import_id"] == body["import_id"]]
    assert event["data"]["rows"] == 4 and event["data"]["source"] == "operator.csv"


async def test_p2_extras_without_an_agreement_are_flagged_and_the_head_decides_who_pays(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    w = await _world(system, it)
    month = label(this_month())
    response = await import_usage(system, it, usage_csv(
        (w["msisdn"], month, "flat-fee", "149.00"),
        (w["msisdn"], month, "international-calls", "45.10"),
        (w["msisdn"], month, "roaming", "10.00")))
    assert response.status_code == 201, response.text
    assert response.json()["flags"] == 1
    assert Decimal(response.json()["flagged_sek"]) == Decimal("55.10")

    head = token_for(w["head"], "department-head", "employee")
    flags = (await system.inventory.get("/v1/usage/flags", headers=head)).json()
    (flag,) = flags
    assert flag["number"] == w["msisdn"] and flag["person_id"] == w["person"]
    assert Decimal(flag["amount_sek"]) == Decimal("55.10") and "without a private-use" \
        in flag["reason"]
    (flagged,) = await outbox(system, "inventory.private-cost-flagged.v1", flag["flag_id"])
    assert flagged["data"]["head_person_id"] == w["head"]
    # Written set-based in SQL: a consumer decodes it, and it is what add_event would write.
    _, event = decode(json.dumps(flagged).encode(), REGISTRY)
    assert isinstance(event, PrivateCostFlagged) and event.amount_sek == Decimal("55.10")
    reference = wrap(event, subject=flagged["subject"], traceparent=flagged.get("traceparent"))
    assert flagged["data"] == reference.model_dump(mode="json")["data"]
    assert {k: flagged[k] for k in ("type", "source", "dataschema", "subject")} == {
        k: getattr(reference, k) for k in ("type", "source", "dataschema", "subject")}
    pending = await _statement(system, token_for(w["person"], "employee"),
                               f"/v1/statements/people/{w['person']}")
    assert Decimal(pending["totals"]["flagged_sek"]) == Decimal("55.10")

    # Nobody but the unit's head decides: not IT service, not another head.
    for other in (it, token_for("h-other", "department-head")):
        refused = await system.inventory.post(f"/v1/usage/flags/{flag['flag_id']}/resolve",
                                              json={"charge_to": "unit"}, headers=other)
        assert refused.status_code == 403, refused.text
    decided = await system.inventory.post(
        f"/v1/usage/flags/{flag['flag_id']}/resolve", headers=head,
        json={"charge_to": "employee", "note": "Private trip, agreed with the employee"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "resolved" and decided.json()["resolved_by"] == w["head"]
    again = await system.inventory.post(f"/v1/usage/flags/{flag['flag_id']}/resolve",
                                        json={"charge_to": "unit"}, headers=head)
    assert again.status_code == 409

    mine = await _statement(system, token_for(w["person"], "employee"),
                            f"/v1/statements/people/{w['person']}")
    assert Decimal(mine["totals"]["employee_sek"]) == Decimal("55.10")
    assert Decimal(mine["totals"]["flagged_sek"]) == 0
    (resolved,) = await outbox(system, "inventory.private-cost-resolved.v1", flag["flag_id"])
    assert resolved["data"]["charge_to"] == "employee"
    history = (await system.inventory.get("/v1/usage/flags", params={"state": "resolved"},
                                          headers=it)).json()
    assert flag["flag_id"] in {f["flag_id"] for f in history}


async def test_p2_an_agreement_must_cover_the_whole_month_and_its_end_counts_in_any_order(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    w_partial, w_ended, w_other = [await _world(system, it) for _ in range(3)]
    start = this_month()
    # Valid from the second day of the month: the month is covered only in part.
    await agreement(system, w_partial["person"], valid_from=start + timedelta(days=1))
    # Ended (inclusive last day) before the month began; the end arrives before the approval.
    ended = uuid.uuid4()
    await agreement_ended(system, ended, w_ended["person"], start - timedelta(days=1))
    envelope = await publish(system, PrivateUseApproved(
        agreement_id=ended, person_id=w_ended["person"], approved_by="h",
        valid_from=start - timedelta(days=90)), subject=str(ended))
    await processed(system, envelope.id)
    # An agreement for another subscription does not cover this one.
    await agreement(system, w_other["person"], valid_from=start - timedelta(days=90),
                    subscription_id=str(uuid.uuid4()))
    month = label(start)
    response = await import_usage(system, it, usage_csv(
        *((w["msisdn"], month, "roaming", "12.00") for w in (w_partial, w_ended, w_other))))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["flags"] == 3 and Decimal(body["employee_sek"]) == 0
    flags = {f["person_id"]: f for f in (await system.inventory.get(
        "/v1/usage/flags", params={"period": month, "limit": 1000}, headers=it)).json()}
    assert "only part of" in flags[w_partial["person"]]["reason"]
    assert "without a private-use agreement" in flags[w_ended["person"]]["reason"]
    assert "without a private-use agreement" in flags[w_other["person"]]["reason"]


async def test_p2_a_bad_file_is_refused_whole_with_line_numbers(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    w = await _world(system, it)
    month, future = label(this_month()), label(this_month() + timedelta(days=40))
    content = usage_csv(
        (w["msisdn"], month, "flat-fee", "149.00"),  # line 2: fine
        ("12345", month, "flat-fee", "149.00"),  # line 3: not a number
        (w["msisdn"], "2026-13", "flat-fee", "1"),  # line 4: no such month
        (w["msisdn"], month, "lottery", "1"),  # line 5: unknown category
        (w["msisdn"], month, "roaming", "1.999"),  # line 6: three decimals
        ("+46709999999", month, "roaming", "5"),  # line 7: not ours
        (w["msisdn"], future, "roaming", "5"))  # line 8: has not begun
    response = await import_usage(system, it, content)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("import-refused")
    assert [e["line"] for e in problem["errors"]] == [3, 4, 5, 6, 8]
    # Format errors come first; the register is not asked until every row reads well.
    fixed = usage_csv((w["msisdn"], month, "flat-fee", "149.00"),
                      ("+46709999999", month, "roaming", "5"))
    unknown = await import_usage(system, it, fixed)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"line": 3, "message": "+46709999999 had no "
                                         f"subscription in the register during {month}"}]
    header = await import_usage(system, it, b"msisdn,period,cost\n1,2,3\n")
    assert header.status_code == 422 and header.json()["errors"][0]["line"] == 1
    for body in (b"", b"number,period,category,amount_sek\n", b"\xff\xfe\x00garbage",
                 b'number,period,category,amount_sek\n"unclosed,2026-01,roaming,1\n'):
        refused = await import_usage(system, it, body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["type"].endswith("import-refused")
    statement = await _statement(system, it, f"/v1/statements/cost-centres/{w['cost_centre']}")
    assert statement["lines"] == [], "nothing half-applied"


async def test_p2_the_same_file_again_changes_nothing_and_no_month_is_charged_twice(
        system: RunningSystem, token_for: Any) -> None:
    it = token_for("it-1", "it-service")
    w = await _world(system, it)
    month = label(this_month())
    content = usage_csv((w["msisdn"], month, "flat-fee", "149.00"),
                        (w["msisdn"], month, "roaming", "20.00"))
    first = await import_usage(system, it, content, filename="march.csv")
    assert first.status_code == 201, first.text
    again = await import_usage(system, it, content, filename="march-again.csv")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["import_id"] == first.json()["import_id"]
    events = [e for e in await outbox(system, "inventory.usage-imported.v1")
              if e["data"]["import_id"] == first.json()["import_id"]]
    assert len(events) == 1
    flags = [e for e in await outbox(system, "inventory.private-cost-flagged.v1")
             if e["data"]["phone_number"] == w["msisdn"]]
    assert len(flags) == 1
    # Another file (a different hash) for the same number and month is refused.
    other = await import_usage(system, it, content + f"{w['msisdn']},{month},roaming,1\n"
                               .encode())
    assert other.status_code == 422
    assert "imported already, from march.csv" in other.json()["errors"][0]["message"]
    mine = await _statement(system, it, f"/v1/statements/people/{w['person']}")
    assert Decimal(mine["totals"]["flagged_sek"]) == Decimal("20.00")


async def test_p2_statements_as_csv_and_shared_subscriptions_charge_only_the_unit(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, it = system_inprocess, token_for("it-1", "it-service")
    s = suffix()
    unit_id, head, cost_centre = f"S-{s}", f"hs-{s}", f"CS{s}"
    await unit(system, unit_id, head, cost_centre)
    shared = await issued_phone(system, it, person=None, unit_id=unit_id,
                                cost_centre=cost_centre)
    month = label(this_month())
    response = await import_usage(system, it, usage_csv(
        (shared["msisdn"], month, "flat-fee", "99.00"),
        (shared["msisdn"], month, "roaming", "30.00")))
    assert response.status_code == 201, response.text
    head_headers = token_for(head, "department-head")
    (flag,) = (await system.inventory.get("/v1/usage/flags", headers=head_headers)).json()
    assert flag["person_id"] is None and "shared subscription" in flag["reason"]
    employee = await system.inventory.post(f"/v1/usage/flags/{flag['flag_id']}/resolve",
                                           json={"charge_to": "employee"}, headers=head_headers)
    assert employee.status_code == 422
    assert (await system.inventory.post(f"/v1/usage/flags/{flag['flag_id']}/resolve",
                                        json={"charge_to": "unit"},
                                        headers=head_headers)).status_code == 200

    for params, headers in (({"format": "csv"}, head_headers),
                            ({}, {**head_headers, "accept": "text/csv"})):
        csv_response = await system.inventory.get(
            f"/v1/statements/cost-centres/{cost_centre}", headers=headers,
            params={"period": month, **params})
        assert csv_response.status_code == 200, csv_response.text
        assert csv_response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_response.text)))
        ours = {(r["category"], r["charged_to"], r["amount_sek"]) for r in rows}
        assert ours == {("flat-fee", "unit", "99.00"), ("roaming", "unit", "30.00")}
        assert rows[0].keys() >= {"period", "cost_centre", "number", "charged_to"}
    bad = await system.inventory.get(f"/v1/statements/cost-centres/{cost_centre}",
                                     params={"period": "2026-13"}, headers=it)
    assert bad.status_code == 422
