"""lifecycle v1: backbone tables (outbox, inbox, audit log) and units.

Revision ID: lifecycle_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.messaging.tables import install_backbone

revision = "lifecycle_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"


def upgrade() -> None:
    install_backbone(op.get_bind(), SCHEMA)
    op.create_table(
        "units",
        sa.Column("unit_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("administration", sa.Text, nullable=False),
        sa.Column("parent_unit_id", sa.Text),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("head_person_id", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("units", schema=SCHEMA)
