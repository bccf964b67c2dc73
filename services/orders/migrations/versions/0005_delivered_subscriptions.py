"""orders: the subscriptions each delivery activated, so that an order is fulfilled only when
every subscription it brings is active, not at its first device (rule U5, fulfilment).

Revision ID: orders_0005
Revises: orders_0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "orders_0005"
down_revision = "orders_0004"
branch_labels = None
depends_on = None
SCHEMA = "orders"


def upgrade() -> None:
    op.add_column("order_deliveries",
                  sa.Column("subscription_ids", ARRAY(sa.Uuid), nullable=False,
                            server_default="{}"),
                  schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("order_deliveries", "subscription_ids", schema=SCHEMA)
