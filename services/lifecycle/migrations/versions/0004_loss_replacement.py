"""lifecycle v4: a loss case shows its replacement (rule U9).

Inventory issues a replacement for a lost device without a new order and says so in
`device-issued.replaces_device_id`; the lost device's open loss case records it, so the holder and
their manager see where the replacement path has got to.

Revision ID: lifecycle_0004
Revises: lifecycle_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "lifecycle_0004"
down_revision = "lifecycle_0003"
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"


def upgrade() -> None:
    op.add_column("losses", sa.Column("replacement_device_id", sa.Uuid), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("losses", "replacement_device_id", schema=SCHEMA)
