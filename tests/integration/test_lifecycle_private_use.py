"""Private use of a municipal phone through HTTP and events (rules P1, P3): asked for, decided
by the head, signed over the P3 text, in force, and ended by people or by HR's events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from shared.events.catalogue import SubscriptionActivated, SubscriptionTerminated
from tests.lifecycle_helpers import end, hire, inject, minutes, new_id, outbox, transfer
from tests.lifecycle_policy_helpers import (
    AGREEMENTS,
    OWNER,
    active,
    agreement_of,
    approved,
    as_,
    ask,
    give_phone,
    register,
    requested,
    signature,
    staff,
    wait_for,
)
from tests.system import RunningSystem


async def audit_actions(system: RunningSystem, agreement_id: str) -> list[tuple[str, str]]:
    async with system.apps["lifecycle"].state.sessions() as session:
        rows = await session.execute(text(
            "SELECT actor, action FROM lifecycle.audit_log WHERE object_type = "
            "'private-use-agreement' AND object_id = :id ORDER BY id"), {"id": agreement_id})
        return [(r[0], r[1]) for r in rows]


async def test_p1_p3_asked_by_the_manager_approved_by_the_head_signed_by_the_employee(
        system: RunningSystem, token_for: Any) -> None:
    s = await staff(system, token_for)
    client = system.lifecycle
    asked = await requested_by(system, token_for, s, s.manager)
    assert (asked["status"], asked["requested_by"], asked["decider_person_id"],
            asked["subscription_id"], asked["in_force"]) == (
        "requested", s.manager, s.head, str(s.subscription), False)
    agreement_id = asked["agreement_id"]
    decided = await client.post(f"{AGREEMENTS}/{agreement_id}/approval",
                                headers=as_(token_for, s.head, "department-head"),
                                json={"note": "On call duty"})
    assert decided.status_code == 200, decided.text
    shown = decided.json()["terms_to_sign"]
    assert shown["version"] >= 1 and "offentlighetsprincipen" in shown["text"]
    assert "public access principle" in shown["text"] and len(shown["sha256"]) == 64
    assert await outbox(system, "lifecycle.private-use-approved.v1", agreement_id) == []

    signed = await client.post(f"{AGREEMENTS}/{agreement_id}/signature",
                               headers=as_(token_for, s.person),
                               json=signature(decided.json()))
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert (body["status"], body["in_force"], body["terms_version"], body["terms_sha256"],
            body["terms_to_sign"]) == ("active", True, shown["version"], shown["sha256"], None)
    [event] = await outbox(system, "lifecycle.private-use-approved.v1", agreement_id)
    assert (event["person_id"], event["approved_by"], event["subscription_id"],
            event["device_id"], event["unit_id"], event["terms_version"],
            event["valid_from"]) == (s.person, s.head, str(s.subscription), str(s.phone),
                                     s.unit, shown["version"], body["valid_from"])
    assert await audit_actions(system, agreement_id) == [
        (s.manager, "private-use.request"), (s.head, "private-use.approve"),
        (s.person, "private-use.sign")]


async def requested_by(system: RunningSystem, token_for: Any, s: Any, who: str
                       ) -> dict[str, Any]:
    response = await ask(system, token_for, s, by=who)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_p1_a_refusal_needs_its_reason_and_is_final(system_inprocess: RunningSystem,
                                                          token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    s = await staff(system, token_for)
    agreement_id = (await requested(system, token_for, s))["agreement_id"]
    head = as_(token_for, s.head, "department-head")
    bare = await client.post(f"{AGREEMENTS}/{agreement_id}/refusal", headers=head, json={})
    assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "reason", bare.text
    refused = await client.post(f"{AGREEMENTS}/{agreement_id}/refusal", headers=head,
                                json={"reason": "The job needs no phone outside working hours"})
    assert refused.status_code == 200, refused.text
    assert (refused.json()["status"], refused.json()["decision_note"]) == (
        "refused", "The job needs no phone outside working hours")
    for step, who in (("approval", head), ("refusal", head),
                      ("signature", as_(token_for, s.person)), ("end", as_(token_for, s.person))):
        again = await client.post(f"{AGREEMENTS}/{agreement_id}/{step}", headers=who,
                                  json={"reason": "x"} if step == "refusal" else (
                                      {"terms_version": 1, "terms_sha256": "0" * 64,
                                       "accepted": True} if step == "signature" else {}))
        assert again.status_code == 409, (step, again.text)
    # Refused is no bar to asking again later.
    assert (await ask(system, token_for, s)).status_code == 201


async def test_p3_the_signature_names_the_text_shown_and_a_newer_text_is_shown_again(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    s = await staff(system, token_for)
    agreement = await approved(system, token_for, s)
    url = f"{AGREEMENTS}/{agreement['agreement_id']}/signature"
    tampered = {**signature(agreement), "terms_sha256": "ab" * 32}
    wrong = await client.post(url, headers=as_(token_for, s.person), json=tampered)
    assert wrong.status_code == 422 and "P3" in wrong.json()["detail"], wrong.text
    unaccepted = await client.post(url, headers=as_(token_for, s.person),
                                   json={**signature(agreement), "accepted": False})
    assert unaccepted.status_code == 422

    current = (await client.get("/v1/private-use/terms", headers=as_(token_for, s.person)))
    new_text = current.json()["text"] + f"\nTillägg {new_id('v')}: gäller även surfplattor."
    published = await client.post("/v1/private-use/terms", headers=token_for(*OWNER),
                                  json={"text": new_text})
    assert published.status_code == 201, published.text
    stale = await client.post(url, headers=as_(token_for, s.person), json=signature(agreement))
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_terms_version"] == published.json()["version"]
    shown_again = await agreement_of(system, token_for, agreement["agreement_id"])
    assert shown_again["terms_to_sign"]["version"] == published.json()["version"]
    signed = await client.post(url, headers=as_(token_for, s.person),
                               json=signature(shown_again))
    assert signed.status_code == 200, signed.text
    assert signed.json()["terms_version"] == published.json()["version"]
    old = await client.get(f"/v1/private-use/terms/{current.json()['version']}",
                           headers=as_(token_for, s.person))
    assert old.json()["sha256"] == current.json()["sha256"]  # every version stays readable


async def test_p1_employment_end_ends_the_agreement_on_the_last_day(
        system: RunningSystem, token_for: Any) -> None:
    s = await staff(system, token_for)
    client = system.lifecycle
    in_force = await active(system, token_for, s)
    second_phone, _ = await give_phone(system, token_for, s.person, s.unit)
    pending = await ask(system, token_for, s, device=second_phone)
    assert pending.status_code == 201, pending.text
    last_day = date.fromisoformat(in_force["valid_from"]) + timedelta(days=30)
    await end(client, s.person, s.unit, last_day, s.manager, recorded_at=minutes(5))

    ended = await agreement_of(system, token_for, in_force["agreement_id"])
    assert (ended["status"], ended["end_reason"], ended["ended_on"], ended["ended_by"],
            ended["in_force"]) == ("ended", "employment-ended", last_day.isoformat(), "hr", True)
    cancelled = await agreement_of(system, token_for, pending.json()["agreement_id"])
    assert (cancelled["status"], cancelled["end_reason"]) == ("cancelled", "employment-ended")
    [event] = await outbox(system, "lifecycle.private-use-ended.v1", in_force["agreement_id"])
    assert (event["reason"], event["ended_on"], event["person_id"]) == (
        "employment-ended", last_day.isoformat(), s.person)
    assert await outbox(system, "lifecycle.private-use-ended.v1",
                        pending.json()["agreement_id"]) == []  # never announced as approved

    # An HR correction of the last day moves the end, announced again for the same agreement.
    corrected = last_day - timedelta(days=10)
    await end(client, s.person, s.unit, corrected, s.manager, recorded_at=minutes(6))
    moved = await agreement_of(system, token_for, in_force["agreement_id"])
    assert moved["ended_on"] == corrected.isoformat()
    events = await outbox(system, "lifecycle.private-use-ended.v1", in_force["agreement_id"])
    assert [e["ended_on"] for e in events] == [last_day.isoformat(), corrected.isoformat()]
    # ... and the person may ask for nothing more (rule P1 ends with the employment).
    third, _ = await give_phone(system, token_for, s.person, s.unit)
    late = await ask(system, token_for, s, device=third)
    assert late.status_code == 422 and "employment ends" in late.json()["detail"], late.text


async def test_p1_a_move_to_another_unit_ends_the_old_units_agreement_the_day_before(
        system: RunningSystem, token_for: Any) -> None:
    s = await staff(system, token_for)
    in_force = await active(system, token_for, s)
    new_unit = new_id("NEW")
    await register(system.lifecycle, new_unit, new_id("H"))
    effective = date.fromisoformat(in_force["valid_from"]) + timedelta(days=20)
    await transfer(system.lifecycle, s.person, s.unit, new_unit, new_id("M"), effective,
                   recorded_at=minutes(5))
    ended = await agreement_of(system, token_for, in_force["agreement_id"])
    assert (ended["status"], ended["end_reason"], ended["ended_on"]) == (
        "ended", "transferred", (effective - timedelta(days=1)).isoformat())
    [event] = await outbox(system, "lifecycle.private-use-ended.v1", in_force["agreement_id"])
    assert (event["reason"], event["unit_id"]) == ("transferred", s.unit)


async def test_p1_the_employee_or_the_head_ends_it_a_manager_only_withdraws_a_request(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    s = await staff(system, token_for)
    by_employee = await active(system, token_for, s)
    ended = await client.post(f"{AGREEMENTS}/{by_employee['agreement_id']}/end",
                              headers=as_(token_for, s.person))
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["end_reason"], ended.json()["ended_on"]) == (
        "ended", "employee-request", ended.json()["valid_from"])

    by_head = await active(system, token_for, s)
    refused = await client.post(f"{AGREEMENTS}/{by_head['agreement_id']}/end",
                                headers=as_(token_for, s.manager))
    assert refused.status_code == 403, refused.text
    revoked = await client.post(f"{AGREEMENTS}/{by_head['agreement_id']}/end",
                                headers=as_(token_for, s.head, "department-head"))
    assert (revoked.json()["status"], revoked.json()["end_reason"]) == ("ended", "revoked")
    events = await outbox(system, "lifecycle.private-use-ended.v1", by_head["agreement_id"])
    assert [e["reason"] for e in events] == ["revoked"]

    pending = await requested(system, token_for, s)
    withdrawn = await client.post(f"{AGREEMENTS}/{pending['agreement_id']}/end",
                                  headers=as_(token_for, s.manager))
    assert withdrawn.json()["status"] == "cancelled", withdrawn.text


async def test_p1_only_a_phone_the_employee_holds(system_inprocess: RunningSystem,
                                                  token_for: Any) -> None:
    system = system_inprocess
    s = await staff(system, token_for)
    someone_elses = await staff(system, token_for)
    tablet, _ = await give_phone(system, token_for, s.person, s.unit, kind="tablet")
    for device, words in ((someone_elses.phone, "not a phone"), (uuid.uuid4(), "not a phone"),
                          (tablet, "tablet")):
        response = await ask(system, token_for, s, device=device)
        assert response.status_code == 422 and words in response.json()["detail"], response.text
    unknown = await system.lifecycle.post(AGREEMENTS, headers=as_(token_for, "nobody-1"), json={
        "person_id": "nobody-1", "device_id": str(s.phone)})
    assert unknown.status_code == 404
    foreign_sub = await system.lifecycle.post(AGREEMENTS, headers=as_(token_for, s.person), json={
        "person_id": s.person, "device_id": str(s.phone),
        "subscription_id": str(someone_elses.subscription)})
    assert foreign_sub.status_code == 422 and "Subscription" in foreign_sub.json()["detail"]


async def test_p1_one_open_agreement_per_phone_even_when_asked_at_once(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system = system_inprocess
    s = await staff(system, token_for)
    answers = await asyncio.gather(*(ask(system, token_for, s, by=who)
                                     for who in [s.person, s.manager, s.head] * 4))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 11, [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409).json()
    created = next(a for a in answers if a.status_code == 201).json()
    assert conflict["agreement_id"] == created["agreement_id"]


async def test_p1_a_heads_own_phone_is_decided_by_the_head_above(
        system_inprocess: RunningSystem, token_for: Any) -> None:
    system, client = system_inprocess, system_inprocess.lifecycle
    top_head, head = new_id("HT"), new_id("H")
    top, unit = new_id("TOP"), new_id("SOC")
    await register(client, top, top_head)
    await register(client, unit, head, parent=top)
    await hire(client, head, unit, top_head, recorded_at=minutes(0))
    phone, _ = await give_phone(system, token_for, head, unit)
    asked = await client.post(AGREEMENTS, headers=as_(token_for, head, "department-head"),
                              json={"person_id": head, "device_id": str(phone)})
    assert asked.json()["decider_person_id"] == top_head, asked.text
    url = f"{AGREEMENTS}/{asked.json()['agreement_id']}/approval"
    own = await client.post(url, headers=as_(token_for, head, "department-head"))
    assert own.status_code == 403, own.text
    listed = await client.get(f"/v1/managers/{top_head}/private-use",
                              params={"status": "requested"},
                              headers=as_(token_for, top_head, "department-head"))
    assert asked.json()["agreement_id"] in [a["agreement_id"] for a in listed.json()]
    above = await client.post(url, headers=as_(token_for, top_head, "department-head"))
    assert above.status_code == 200 and above.json()["decided_by"] == top_head, above.text


async def test_p1_subscriptions_on_a_phone_follow_inventorys_newest_event(
        system: RunningSystem, token_for: Any) -> None:
    s = await staff(system, token_for)
    late, t = uuid.uuid4(), datetime.now(UTC)
    common = {"phone_number": "070-7654321", "unit_id": s.unit, "holder_person_id": s.person}
    ids = [
        await inject(system, SubscriptionTerminated(subscription_id=late, reason="cancelled",
                                                    **common), at=t + timedelta(hours=1)),
        await inject(system, SubscriptionActivated(subscription_id=late, device_id=s.phone,
                                                   **common), at=t),  # older, arrives late
        await inject(system, SubscriptionTerminated(subscription_id=s.subscription,
                                                    reason="cancelled", **common),
                     at=t + timedelta(hours=1)),
    ]

    async def applied() -> int:
        async with system.apps["lifecycle"].state.sessions() as session:
            return (await session.execute(text(
                "SELECT count(*) FROM lifecycle.inbox WHERE event_id = ANY(:ids)"),
                {"ids": ids})).scalar_one()  # type: ignore[no-any-return]

    await wait_for(applied, lambda n: n == 3)
    held = await system.lifecycle.get(f"/v1/people/{s.person}/holdings",
                                      headers=as_(token_for, s.person))
    assert [h["subscription_ids"] for h in held.json()] == [[]]
    # No active subscription known on the phone: the agreement covers all the person's.
    assert (await requested(system, token_for, s))["subscription_id"] is None


async def test_p1_p2_a_second_move_leaves_the_end_the_first_move_made(
        system: RunningSystem, token_for: Any) -> None:
    """rules P1, P2: A→B ends the agreement of A; a correction of the A→B date moves that end;
    a later B→C neither re-opens nor extends it, nor announces it again."""
    s = await staff(system, token_for)
    in_force = await active(system, token_for, s)
    agreement_id = in_force["agreement_id"]
    unit_b, unit_c = new_id("B"), new_id("C")
    for unit in (unit_b, unit_c):
        await register(system.lifecycle, unit, new_id("H"))
    signed = date.fromisoformat(in_force["valid_from"])
    first, corrected, second = (signed + timedelta(days=n) for n in (20, 25, 60))
    await transfer(system.lifecycle, s.person, s.unit, unit_b, new_id("M"), first,
                   recorded_at=minutes(5))
    moved = await transfer(system.lifecycle, s.person, s.unit, unit_b, new_id("M"), corrected,
                           recorded_at=minutes(6))
    assert moved.json()["outcome"] == "applied", moved.text
    day_before = (corrected - timedelta(days=1)).isoformat()
    assert (await agreement_of(system, token_for, agreement_id))["ended_on"] == day_before

    again = await transfer(system.lifecycle, s.person, unit_b, unit_c, new_id("M"), second,
                           recorded_at=minutes(7))
    assert again.json()["outcome"] == "applied", again.text
    kept = await agreement_of(system, token_for, agreement_id)
    assert (kept["status"], kept["end_reason"], kept["ended_on"]) == (
        "ended", "transferred", day_before)
    events = await outbox(system, "lifecycle.private-use-ended.v1", agreement_id)
    assert [e["ended_on"] for e in events] == [
        (first - timedelta(days=1)).isoformat(), day_before]
    assert [a for _, a in await audit_actions(system, agreement_id)].count(
        "private-use.reschedule-end") == 1


async def test_p1_p2_the_end_of_a_later_employment_leaves_the_earlier_ones_agreement(
        system: RunningSystem, token_for: Any) -> None:
    """rules P1, P2: after a re-hire, the new employment's end (and its correction) moves only
    the agreements that end made, never one the earlier employment's end made."""
    s = await staff(system, token_for)
    client = system.lifecycle
    old = await active(system, token_for, s)
    signed = date.fromisoformat(old["valid_from"])
    first_end, start_again = signed + timedelta(days=30), signed + timedelta(days=40)
    await end(client, s.person, s.unit, first_end, s.manager, recorded_at=minutes(5))
    rehired = await hire(client, s.person, s.unit, s.manager, start=start_again,
                         recorded_at=minutes(6))
    assert rehired.json()["outcome"] == "applied", rehired.text
    new = await active(system, token_for, s)  # the same phone, asked for again
    second_end, corrected = signed + timedelta(days=90), signed + timedelta(days=80)
    await end(client, s.person, s.unit, second_end, s.manager, recorded_at=minutes(7))
    await end(client, s.person, s.unit, corrected, s.manager, recorded_at=minutes(8))

    kept = await agreement_of(system, token_for, old["agreement_id"])
    assert (kept["status"], kept["ended_on"]) == ("ended", first_end.isoformat())
    assert [e["ended_on"] for e in await outbox(
        system, "lifecycle.private-use-ended.v1", old["agreement_id"])] == [first_end.isoformat()]
    assert [e["ended_on"] for e in await outbox(
        system, "lifecycle.private-use-ended.v1", new["agreement_id"])] == [
        second_end.isoformat(), corrected.isoformat()]
