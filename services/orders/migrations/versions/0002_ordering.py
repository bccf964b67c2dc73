"""orders v1: catalogue, orderers, orders, idempotency keys, and the people/device read models.

Revision ID: orders_0002
Revises: orders_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "orders_0002"
down_revision = "orders_0001"
branch_labels = None
depends_on = None
SCHEMA = "orders"
MONEY = sa.Numeric(12, 2)


def _timestamp(name: str, *, nullable: bool = False, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    op.add_column("known_units", sa.Column("administration", sa.Text), schema=SCHEMA)
    op.add_column("known_units", sa.Column("parent_unit_id", sa.Text), schema=SCHEMA)
    op.create_table(
        "known_people",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("employed", sa.Boolean, nullable=False),
        _timestamp("source_event_time"),
        schema=SCHEMA,
    )
    op.create_table(
        "held_devices",
        sa.Column("device_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text),
        sa.Column("holder_person_id", sa.Text),
        sa.Column("unit_id", sa.Text),
        sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()),
        _timestamp("holding_event_time", nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_held_devices_person", "held_devices", ["holder_person_id"],
                    schema=SCHEMA, postgresql_where=sa.text("held"))
    op.create_index("ix_held_devices_unit", "held_devices", ["unit_id"],
                    schema=SCHEMA, postgresql_where=sa.text("held"))
    op.create_table(
        "order_deliveries",
        sa.Column("order_id", sa.Uuid, nullable=False),
        sa.Column("device_id", sa.Uuid, nullable=False),
        _timestamp("issued_at"),
        sa.PrimaryKeyConstraint("order_id", "device_id", name="pk_order_deliveries"),
        schema=SCHEMA,
    )
    op.create_table(
        "catalogue_items",
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("tier", sa.Text),
        sa.Column("model_id", sa.Text),
        sa.Column("accessory_type", sa.Text),
        sa.Column("fits_model_ids", postgresql.ARRAY(sa.Text), nullable=False,
                  server_default="{}"),
        sa.Column("needs_protection", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("calls", sa.Boolean),
        sa.Column("sms", sa.Boolean),
        sa.Column("mms", sa.Boolean),
        sa.Column("data_gb", sa.Integer),
        sa.Column("one_time_price_sek", MONEY, nullable=False),
        sa.Column("monthly_price_sek", MONEY, nullable=False),
        _timestamp("retired_at", nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _timestamp("created_at", default=True),
        _timestamp("updated_at", default=True),
        sa.CheckConstraint("kind IN ('phone', 'tablet', 'accessory', 'subscription')",
                           name="kind"),
        sa.CheckConstraint("one_time_price_sek >= 0 AND monthly_price_sek >= 0", name="prices"),
        schema=SCHEMA,
    )
    op.create_table(
        "orderers",
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("person_id", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("appointed_by", sa.Text, nullable=False),
        _timestamp("appointed_at"),
        sa.Column("revoked_by", sa.Text),
        _timestamp("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("unit_id", "person_id", name="pk_orderers"),
        schema=SCHEMA,
    )
    op.create_index("ix_orderers_person", "orderers", ["person_id"], schema=SCHEMA,
                    postgresql_where=sa.text("active"))
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("orderer_id", sa.Text, nullable=False),
        sa.Column("recipient_person_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lines", postgresql.JSONB, nullable=False),
        sa.Column("justification", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("one_time_total_sek", MONEY, nullable=False),
        sa.Column("monthly_total_sek", MONEY, nullable=False),
        sa.Column("devices_expected", sa.Integer, nullable=False),
        sa.Column("need_approved", sa.Boolean),
        sa.Column("decided_by", sa.Text),
        _timestamp("decided_at", nullable=True),
        sa.Column("decision_note", sa.Text),
        _timestamp("fulfilled_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected', 'cancelled', 'fulfilled')",
            name="status"),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_created", "orders", ["created_at", "order_id"], schema=SCHEMA)
    op.create_index("ix_orders_unit_created", "orders", ["unit_id", "created_at", "order_id"],
                    schema=SCHEMA)
    op.create_index("ix_orders_recipient", "orders", ["recipient_person_id", "created_at"],
                    schema=SCHEMA)
    op.create_index("ix_orders_orderer", "orders", ["orderer_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "idempotency_keys",
        sa.Column("caller_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("order_id", sa.Uuid, nullable=False),
        _timestamp("created_at", default=True),
        sa.PrimaryKeyConstraint("caller_id", "key", name="pk_idempotency_keys"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "orders", "orderers", "catalogue_items",
                  "order_deliveries", "held_devices", "known_people"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("known_units", "parent_unit_id", schema=SCHEMA)
    op.drop_column("known_units", "administration", schema=SCHEMA)
