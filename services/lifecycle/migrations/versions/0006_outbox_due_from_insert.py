"""lifecycle: outbox rows claimed in their index's order, each due from its insert.

Why, and why the default changes with the order: shared/messaging/tables.py (`due_from_insert`)
and docs/performance.md (fifteenth session).

Revision ID: lifecycle_0006
Revises: lifecycle_0005
"""

from alembic import op

from shared.messaging.tables import due_from_insert, due_from_transaction_start

revision = "lifecycle_0006"
down_revision = "lifecycle_0005"
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"


def upgrade() -> None:
    due_from_insert(op.get_bind(), SCHEMA)


def downgrade() -> None:
    due_from_transaction_start(op.get_bind(), SCHEMA)
