"""The HR webhook's Standard Webhooks check and payload contract, without a server; and the
signing example in docs/lifecycle.md, recomputed, so an HR vendor can trust it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.lifecycle.webhook import WebhookVerifier, parse
from shared.errors import RuleViolation, Unauthorized
from tests.lifecycle_helpers import hr_body, signed

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
BODY = hr_body("employee.hired", {"person_id": "E1", "unit_id": "A", "start_date": "2026-01-01"})
DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def test_secret_rotation_accepts_every_configured_secret_and_nothing_else() -> None:
    verifier = WebhookVerifier([OLD, NEW])
    assert verifier.verify(BODY, signed(BODY, webhook_id="m1", secret=OLD)) == "m1"
    assert verifier.verify(BODY, signed(BODY, webhook_id="m2", secret=NEW)) == "m2"
    with pytest.raises(Unauthorized, match="none of the HR secrets"):
        verifier.verify(BODY, signed(BODY, secret=OTHER))


def test_a_sender_rotating_may_send_several_signatures_one_of_which_matches() -> None:
    headers = signed(BODY, webhook_id="m3", secret=NEW)
    unknown = signed(BODY, webhook_id="m3", secret=OTHER)["webhook-signature"]
    headers["webhook-signature"] = f"{unknown} {headers['webhook-signature']}"
    assert WebhookVerifier([NEW]).verify(BODY, headers) == "m3"


def test_a_changed_body_does_not_match_its_signature() -> None:
    headers = signed(BODY, secret=NEW)
    with pytest.raises(Unauthorized, match="none of the HR secrets"):
        WebhookVerifier([NEW]).verify(BODY.replace(b"E1", b"E2"), headers)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_standard_webhooks_header_is_required(missing: str) -> None:
    headers = signed(BODY, secret=NEW)
    del headers[missing]
    with pytest.raises(Unauthorized, match=missing):
        WebhookVerifier([NEW]).verify(BODY, headers)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_timestamp_more_than_five_minutes_off_is_refused(offset: timedelta) -> None:
    headers = signed(BODY, secret=NEW, sent_at=datetime.now(UTC) + offset)
    with pytest.raises(Unauthorized, match="5 minutes"):
        WebhookVerifier([NEW]).verify(BODY, headers)


def test_a_timestamp_within_five_minutes_is_accepted() -> None:
    headers = signed(BODY, webhook_id="m4", secret=NEW,
                     sent_at=datetime.now(UTC) - timedelta(minutes=4))
    assert WebhookVerifier([NEW]).verify(BODY, headers) == "m4"


@pytest.mark.parametrize("signature", ["garbage", "v1,not base64!", "v1"])
def test_a_malformed_signature_is_401_not_a_crash(signature: str) -> None:
    headers = signed(BODY, secret=NEW) | {"webhook-signature": signature}
    with pytest.raises(Unauthorized):
        WebhookVerifier([NEW]).verify(BODY, headers)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(Unauthorized, match="UTF-8"):
        WebhookVerifier([NEW]).verify(b"\xff\xfe", signed(b"x", secret=NEW))


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "employee.promoted", "timestamp": "2026-01-01T00:00:00Z", "data": {}}, "body"),
    ({"type": "employee.hired", "timestamp": "2026-01-01T00:00:00",  # no offset
      "data": {"person_id": "E1", "unit_id": "A", "start_date": "2026-01-01"}}, "timestamp"),
    ({"type": "employee.hired", "timestamp": "2026-01-01T00:00:00Z",
      "data": {"person_id": "E1", "unit_id": "A", "start_date": "2026-01-01", "x": 1}}, "x"),
    ({"type": "employment.ended", "timestamp": "2026-01-01T00:00:00Z",
      "data": {"person_id": "E1", "unit_id": "A"}}, "last_day"),
    ({"type": "employee.transferred", "timestamp": "2026-01-01T00:00:00Z",
      "data": {"person_id": "E1", "from_unit_id": "A", "to_unit_id": "A",
               "effective_date": "2026-01-01"}}, "same unit"),
    ({"type": "employee.hired", "timestamp": "2026-01-01T00:00:00Z",
      "data": {"person_id": "has space", "unit_id": "A", "start_date": "2026-01-01"}},
     "person_id"),
])
def test_an_invalid_hr_event_is_refused_naming_what_is_wrong(body: dict[str, object],
                                                            field: str) -> None:
    with pytest.raises(RuleViolation) as raised:
        parse(json.dumps(body).encode())
    assert field in raised.value.detail


def _doc_value(name: str) -> str:
    match = re.search(rf"<!-- {name} -->\s*```[a-z]*\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/lifecycle.md has no block marked {name}"
    return match.group(1).strip()


def test_the_signing_example_in_the_hr_contract_is_right() -> None:
    secret = _doc_value("example-secret")
    msg_id, timestamp = _doc_value("example-id"), _doc_value("example-timestamp")
    body = _doc_value("example-body")
    expected = _doc_value("example-signature")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    assert expected == "v1," + base64.b64encode(digest).decode()
    parse(body.encode())  # and the example body is a valid HR event
