"""The orders API's bodies against what the service stores and publishes, without a database."""

from __future__ import annotations

import json
from decimal import Decimal

from services.orders.schemas import OrderLineOut
from shared.events.catalogue import OrderLine, SubscriptionScope


def test_stored_order_lines_have_exactly_the_fields_the_api_answers() -> None:
    """An order's lines are stored as the event's OrderLine.model_dump(mode="json") and the
    listing passes that JSON through as the API's OrderLineOut (repository.LISTING): the two
    models must keep the same fields, and a stored line must read back as the same OrderLine."""
    assert set(OrderLine.model_fields) == set(OrderLineOut.model_fields)
    line = OrderLine(catalogue_item_id="sub-5gb", kind="subscription", quantity=2,
                     scope=SubscriptionScope(calls=True, sms=True, mms=False, data_gb=5),
                     one_time_price_sek=Decimal("0.00"), monthly_price_sek=Decimal("69.00"))
    stored = json.loads(json.dumps(line.model_dump(mode="json")))
    assert set(stored) == set(OrderLineOut.model_fields)
    assert stored["monthly_price_sek"] == "69.00"  # a string, as OrderLineOut answers it
    assert OrderLineOut.model_validate(stored).model_dump(mode="json") == stored
