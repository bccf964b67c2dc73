"""orders v1: backbone tables (outbox, inbox, audit log) and the unit projection.

Revision ID: orders_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import install_backbone

revision = "orders_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "orders"


def upgrade() -> None:
    install_backbone(op.get_bind(), SCHEMA)
    op.create_table(
        "known_units",
        sa.Column("unit_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("head_person_id", sa.Text),
        sa.Column("source_event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("changes", sa.Integer, nullable=False, server_default="0"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("known_units", schema=SCHEMA)
