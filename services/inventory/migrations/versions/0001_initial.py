"""inventory v1: backbone tables (outbox, inbox, audit log) and devices.

Revision ID: inventory_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import install_backbone

revision = "inventory_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def upgrade() -> None:
    install_backbone(op.get_bind(), SCHEMA)
    op.create_table(
        "devices",
        sa.Column("device_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("serial_number", sa.Text, nullable=False, unique=True),
        sa.Column("order_id", sa.Uuid),
        sa.Column("owner", sa.Text, nullable=False, server_default="municipality"),
        sa.Column("state", sa.Text, nullable=False, server_default="in-stock"),
        sa.Column("intake_exception", sa.Text),
        sa.Column("received_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("order_id IS NOT NULL OR intake_exception IS NOT NULL",
                           name="ck_devices_order_or_exception"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("devices", schema=SCHEMA)
