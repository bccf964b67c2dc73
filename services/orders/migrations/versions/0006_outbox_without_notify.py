"""orders: the outbox no longer NOTIFYs on commit; the relays are woken in-process.

A transaction that notifies takes one cluster-wide lock at its commit and holds it through the
commit's flush, so the commits of every writer of every service queued behind each other's. The
process that commits outbox rows now wakes its own relays (shared/messaging/outbox.py); every relay
still polls for rows written elsewhere.

Revision ID: orders_0006
Revises: orders_0005
"""

from alembic import op

from shared.messaging.tables import add_outbox_notify, remove_outbox_notify

revision = "orders_0006"
down_revision = "orders_0005"
branch_labels = None
depends_on = None
SCHEMA = "orders"


def upgrade() -> None:
    remove_outbox_notify(op.get_bind(), SCHEMA)


def downgrade() -> None:
    add_outbox_notify(op.get_bind(), SCHEMA)
