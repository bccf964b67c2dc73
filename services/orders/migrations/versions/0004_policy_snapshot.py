"""orders: the read model of lifecycle's policy-changed (rules B5, O4).

Revision ID: orders_0004
Revises: orders_0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "orders_0004"
down_revision = "orders_0003"
branch_labels = None
depends_on = None
SCHEMA = "orders"


def upgrade() -> None:
    op.create_table(
        "policy_snapshot",
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", JSONB, nullable=False),
        sa.CheckConstraint("singleton", name="ck_policy_snapshot_one_row"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("policy_snapshot", schema=SCHEMA)
