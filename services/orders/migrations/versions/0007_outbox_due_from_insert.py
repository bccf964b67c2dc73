"""orders: outbox rows claimed in their index's order, each due from its insert.

The claim had ordered by id, which `ix_outbox_unsent` (next_attempt_at, id) cannot give: PostgreSQL
read every entry of that index through a bitmap, and with them every row sent since the last VACUUM
(an index entry outlives its row's update until then), sorted the few unsent ones and took them.
Each claim grew with the rows sent before it (docs/performance.md, fifteenth session). Claimed in
the index's order, a scan stops at the batch and marks the entries of sent rows dead as it passes.
For that order to be the order in which events were written, a row is stamped due when it is
inserted, not when its transaction began (shared/messaging/tables.py: `due_from_insert`).

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
