"""orders v1: the standard catalogue the embedded default starts with (rules O1, O4, U6).

Prices are SEK excluding VAT, as the municipality buys under the national framework agreements;
the monthly price of a phone or tablet is IT service's charge per managed device (MDM and support,
rule B2). IT service changes and retires items through the API afterwards; this runs once.

Revision ID: orders_0003
Revises: orders_0002
"""

from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None
SCHEMA = "orders"
DEVICE_FEE = Decimal("45.00")


def _phone(item_id: str, name: str, tier: str, model_id: str, price: str,
           needs_protection: bool = True, description: str = "") -> dict[str, object]:
    return {"item_id": item_id, "kind": "phone", "name": name, "tier": tier,
            "model_id": model_id, "needs_protection": needs_protection,
            "one_time_price_sek": Decimal(price), "monthly_price_sek": DEVICE_FEE,
            "description": description}


def _tablet(item_id: str, name: str, model_id: str, price: str) -> dict[str, object]:
    return {"item_id": item_id, "kind": "tablet", "name": name, "model_id": model_id,
            "one_time_price_sek": Decimal(price), "monthly_price_sek": DEVICE_FEE}


def _accessory(item_id: str, name: str, accessory_type: str, price: str,
               fits: list[str] | None = None) -> dict[str, object]:
    return {"item_id": item_id, "kind": "accessory", "name": name,
            "accessory_type": accessory_type, "model_id": item_id.removeprefix("acc-"),
            "fits_model_ids": fits or [], "one_time_price_sek": Decimal(price),
            "monthly_price_sek": Decimal("0.00")}


def _plan(item_id: str, name: str, calls: bool, sms: bool, mms: bool, data_gb: int,
          monthly: str, description: str) -> dict[str, object]:
    return {"item_id": item_id, "kind": "subscription", "name": name, "calls": calls, "sms": sms,
            "mms": mms, "data_gb": data_gb, "one_time_price_sek": Decimal("0.00"),
            "monthly_price_sek": Decimal(monthly), "description": description}


def _protection(model_id: str, label: str, protector: str, case: str) -> list[dict[str, object]]:
    return [
        _accessory(f"acc-protector-{model_id}", f"Skärmskydd härdat glas, {label}",
                   "screen-protector", protector, [model_id]),
        _accessory(f"acc-case-{model_id}", f"Skal, {label}", "case", case, [model_id]),
    ]


ITEMS: list[dict[str, object]] = [
    _phone("phone-robust-xcover7", "Samsung Galaxy XCover7 5G 128 GB", "robust",
           "samsung-galaxy-xcover7", "3690.00", needs_protection=False,
           description="Tålig telefon (IP68, MIL-STD-810H) för hemtjänst, teknisk förvaltning och "
                       "utomhusarbete; behöver inget separat skal eller skärmskydd."),
    _phone("phone-simple-galaxy-a16", "Samsung Galaxy A16 5G 128 GB", "simple",
           "samsung-galaxy-a16", "2190.00",
           description="Enklare smarttelefon för samtal, sms, e-post och kommunens appar."),
    _phone("phone-standard-galaxy-a56", "Samsung Galaxy A56 5G 256 GB", "standard",
           "samsung-galaxy-a56", "4290.00", description="Standardtelefon, Android."),
    _phone("phone-standard-iphone-16e", "Apple iPhone 16e 128 GB", "standard",
           "apple-iphone-16e", "6490.00", description="Standardtelefon, iOS."),
    _phone("phone-advanced-iphone-16-pro", "Apple iPhone 16 Pro 256 GB", "advanced",
           "apple-iphone-16-pro", "12490.00",
           description="Avancerad telefon för särskilda, godkända behov (regel O4)."),
    _phone("phone-advanced-galaxy-s25", "Samsung Galaxy S25 256 GB", "advanced",
           "samsung-galaxy-s25", "8990.00",
           description="Avancerad telefon för särskilda, godkända behov (regel O4)."),
    _tablet("tablet-ipad-11-a16", "Apple iPad 11 (A16) Wi-Fi + Cellular 128 GB",
            "apple-ipad-11-a16", "6290.00"),
    _tablet("tablet-galaxy-tab-a9-plus", "Samsung Galaxy Tab A9+ 5G 64 GB",
            "samsung-galaxy-tab-a9-plus", "2790.00"),
    *_protection("samsung-galaxy-a16", "Galaxy A16", "129.00", "199.00"),
    *_protection("samsung-galaxy-a56", "Galaxy A56", "149.00", "249.00"),
    *_protection("apple-iphone-16e", "iPhone 16e", "149.00", "249.00"),
    *_protection("apple-iphone-16-pro", "iPhone 16 Pro", "199.00", "299.00"),
    *_protection("samsung-galaxy-s25", "Galaxy S25", "199.00", "299.00"),
    _accessory("acc-case-ipad-11", "Fodral med ställ, iPad 11", "case", "399.00",
               ["apple-ipad-11-a16"]),
    _accessory("acc-charger-usb-c-25w", "Laddare USB-C 25 W", "charger", "199.00"),
    _accessory("acc-cable-usb-c-1m", "Laddkabel USB-C 1 m", "cable", "99.00"),
    _accessory("acc-headset-jabra-evolve2-65", "Headset Jabra Evolve2 65 (Teams, Bluetooth)",
               "headset", "1990.00"),
    _accessory("acc-earphones-usb-c", "Hörlurar med mikrofon, USB-C", "headset", "249.00"),
    _accessory("acc-car-holder", "Bilhållare, magnetisk", "car-holder", "249.00"),
    _plan("sub-voice-sms", "Tal och SMS", True, True, False, 0, "39.00",
          "Samtal och sms utan datapaket, för enklare telefoner."),
    _plan("sub-mobile-1gb", "Mobil Bas 1 GB", True, True, True, 1, "49.00",
          "Samtal, sms, mms och 1 GB data per månad."),
    _plan("sub-mobile-5gb", "Mobil Standard 5 GB", True, True, True, 5, "69.00",
          "Samtal, sms, mms och 5 GB data per månad."),
    _plan("sub-mobile-20gb", "Mobil Plus 20 GB", True, True, True, 20, "99.00",
          "Samtal, sms, mms och 20 GB data per månad."),
    _plan("sub-mobile-100gb", "Mobil Max 100 GB", True, True, True, 100, "149.00",
          "Samtal, sms, mms och 100 GB data per månad, för den som delar ut nät i fält."),
    _plan("sub-data-20gb", "Mobilt bredband 20 GB (surfplatta)", False, False, False, 20,
          "79.00", "Endast data, för surfplattor."),
]

COLUMNS = ("item_id", "kind", "name", "description", "tier", "model_id", "accessory_type",
           "fits_model_ids", "needs_protection", "calls", "sms", "mms", "data_gb",
           "one_time_price_sek", "monthly_price_sek")


def upgrade() -> None:
    items = sa.table(
        "catalogue_items",
        *(sa.column(c) for c in COLUMNS if c != "fits_model_ids"),
        sa.column("fits_model_ids", postgresql.ARRAY(sa.Text)),
        schema=SCHEMA,
    )
    audit = sa.table("audit_log", sa.column("actor"), sa.column("action"),
                     sa.column("object_type"), sa.column("object_id"),
                     sa.column("after", postgresql.JSONB), schema=SCHEMA)
    rows = [{"description": "", "tier": None, "model_id": None, "accessory_type": None,
             "fits_model_ids": [], "needs_protection": True, "calls": None, "sms": None,
             "mms": None, "data_gb": None, **item} for item in ITEMS]
    op.bulk_insert(items, rows)
    op.bulk_insert(audit, [
        {"actor": "system:seed", "action": "catalogue.seed", "object_type": "catalogue-item",
         "object_id": row["item_id"],
         "after": {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}}
        for row in rows
    ])


def downgrade() -> None:
    ids = [str(item["item_id"]) for item in ITEMS]
    op.execute(sa.text(f"DELETE FROM {SCHEMA}.catalogue_items WHERE item_id = ANY(:ids)")
               .bindparams(ids=ids))
