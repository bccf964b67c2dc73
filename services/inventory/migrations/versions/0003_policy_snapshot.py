"""inventory v3: the read model of lifecycle's policy-changed (rules B5, P2, S1).

Revision ID: inventory_0003
Revises: inventory_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "inventory_0003"
down_revision = "inventory_0002"
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def upgrade() -> None:
    # One row: the newest policy-changed (highest version, then the later event).
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
