"""Event contracts: envelopes are valid CloudEvents to an outside implementation, and the
checked-in JSON Schemas, AsyncAPI and OpenAPI documents match the code."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events import ALL_EVENTS, BY_ROUTING_KEY, REGISTRY, decode, encode, wrap
from shared.events.catalogue import EmploymentEnded, OrderApproved, OrderLine
from shared.events.contracts import rendered_contracts

EXAMPLES = [
    EmploymentEnded(person_id="p-1", unit_id="SOC-1", last_day=date(2026, 12, 31)),
    OrderApproved(order_id=uuid.uuid4(), unit_id="SOC-1", cost_centre="41230",
                  lines=(OrderLine(catalogue_item_id="phone-std", kind="phone", tier="standard"),),
                  approved_by="head-1"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.routing_key())
def test_envelope_is_a_valid_cloudevent_for_the_cloudevents_sdk(event) -> None:  # type: ignore[no-untyped-def]
    body = encode(wrap(event, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"))
    parsed = JSONFormat().read(CloudEvent, body)
    attributes = parsed.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert attributes["type"] == event.cloudevent_type()
    assert attributes["source"] == f"/kommunmobil/{event.service}"
    assert attributes["traceparent"].startswith("00-")
    assert parsed.get_data() == json.loads(body)["data"]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.routing_key())
def test_envelope_round_trips_to_the_same_event(event) -> None:  # type: ignore[no-untyped-def]
    envelope, decoded = decode(encode(wrap(event)), REGISTRY)
    assert decoded == event
    assert envelope.routing_key == event.routing_key()


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.routing_key())
def test_fields_added_later_in_the_version_are_ignored_by_readers(event) -> None:  # type: ignore[no-untyped-def]
    """docs/events.md: within a version fields are only added, so readers ignore fields they do
    not know — our consumers (decode) and anyone validating against the published schemas."""
    body = json.loads(encode(wrap(event)))
    body["data"]["added_in_a_later_release"] = "x"
    for line in body["data"].get("lines", []):
        line["added_in_a_later_release"] = 1
    _, decoded = decode(json.dumps(body).encode(), REGISTRY)
    assert decoded == event
    with pytest.raises(ValueError, match="Extra inputs"):
        type(event).model_validate(body["data"])  # building one still refuses a stray field
    events = {path: text for path, text in rendered_contracts().items()
              if path.parent.name == "schemas" or path.name == "asyncapi.yaml"}
    assert len(events) > len(ALL_EVENTS)
    for path, text in events.items():
        assert '"additionalProperties": false' not in text, path
        assert "additionalProperties: false" not in text, path


def test_catalogue_names_are_the_v1_contract() -> None:
    expected = {
        "lifecycle": ["unit-registered", "unit-changed", "employee-hired", "employee-transferred",
                      "employment-ended", "return-requested", "return-overdue",
                      "return-completed", "loss-reported", "private-use-approved",
                      "private-use-ended"],
        "orders": ["orderer-appointed", "orderer-revoked", "order-submitted", "order-approved",
                   "order-rejected", "order-cancelled", "order-fulfilled"],
        "inventory": ["device-received", "device-reserved", "device-issued", "device-returned",
                      "device-lost", "device-consumed", "device-handed-to-supplier",
                      "subscription-activated", "subscription-terminated",
                      "compliance-violation", "usage-imported", "private-cost-flagged",
                      "private-cost-resolved", "support-case-opened", "repair-started",
                      "repair-completed"],
    }
    keys = {f"{svc}.{name}.v1" for svc, names in expected.items() for name in names}
    # The foundation's names are the contract: none may disappear (later issues may add events).
    assert keys <= set(BY_ROUTING_KEY)
    assert len(ALL_EVENTS) == len(BY_ROUTING_KEY)  # no two classes share a routing key


def test_events_are_frozen() -> None:
    event = EXAMPLES[0]
    with pytest.raises(Exception, match="frozen"):
        event.person_id = "someone-else"  # type: ignore[attr-defined]


def test_checked_in_contracts_match_the_code() -> None:
    stale = [str(path) for path, content in rendered_contracts().items()
             if not path.exists() or path.read_text() != content]
    assert not stale, f"run `make contracts` and commit: {stale}"
