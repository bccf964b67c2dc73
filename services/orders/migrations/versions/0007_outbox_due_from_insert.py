"""orders: outbox rows claimed in their index's order, each due from its insert.

Why, and why the default changes with the order: shared/messaging/tables.py (`due_from_insert`)
and docs/performance.md (fifteenth session).

Revision ID: orders_0007
Revises: orders_0006
"""

from alembic import op

from shared.messaging.tables import due_from_insert, due_from_transaction_start

revision = "orders_0007"
down_revision = "orders_0006"
branch_labels = None
depends_on = None
SCHEMA = "orders"


def upgrade() -> None:
    due_from_insert(op.get_bind(), SCHEMA)


def downgrade() -> None:
    due_from_transaction_start(op.get_bind(), SCHEMA)
