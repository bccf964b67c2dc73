"""inventory v6: a lost device records its replacement (rule U9).

A loss opens a replacement path: IT service issues one device of the same kind to the same
holder, without a new order, naming the lost device. The lost device keeps the replacement's id,
so a loss is replaced once and anyone can follow the path.

Revision ID: inventory_0006
Revises: inventory_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "inventory_0006"
down_revision = "inventory_0005"
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def upgrade() -> None:
    op.add_column("devices", sa.Column("replaced_by_device_id", sa.Uuid), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("devices", "replaced_by_device_id", schema=SCHEMA)
