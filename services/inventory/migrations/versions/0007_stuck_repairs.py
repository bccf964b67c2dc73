"""inventory v7: repairs left open by a loss or the sweep before v5 are closed (S4, U9, C1).

Until inventory_0005 a device in an open repair that was reported lost or consumed left
`in-repair` while its repair stayed open, and an open repair blocks every later intake of the device
for good (one open repair per device) — also after the device turned up and went back to stock.
Since then both close it as `abandoned`; this closes the ones left from before the same way: every
open repair of a device that is no longer `in-repair`, audited as by the sweep and the loss
handler.

Revision ID: inventory_0007
Revises: inventory_0006
"""

from alembic import op

revision = "inventory_0007"
down_revision = "inventory_0006"
branch_labels = None
depends_on = None
SCHEMA = "inventory"
ACTOR = "migration:inventory_0007"


def upgrade() -> None:
    op.execute(f"""
        WITH abandoned AS (
            UPDATE {SCHEMA}.repairs r
            SET state = 'abandoned', closed_by = '{ACTOR}', closed_at = now()
            FROM {SCHEMA}.devices d
            WHERE r.device_id = d.device_id AND r.state = 'in-repair' AND d.state <> 'in-repair'
            RETURNING r.repair_id, r.device_id, d.state AS device_state
        )
        INSERT INTO {SCHEMA}.audit_log (actor, action, object_type, object_id, before, after)
        SELECT '{ACTOR}', 'repair.abandoned', 'repair', a.repair_id::text,
               jsonb_build_object('state', 'in-repair'),
               jsonb_build_object('state', 'abandoned', 'because',
                                  CASE WHEN a.device_state = 'lost' THEN 'device-lost'
                                       WHEN a.device_state IN ('consumed', 'handed-to-supplier')
                                       THEN 'device-consumed'
                                       ELSE 'device-left-repair' END,
                                  'device_id', a.device_id, 'device_state', a.device_state)
        FROM abandoned a""")


def downgrade() -> None:
    # Nothing to undo: v6 has no state these repairs could go back to that would not block.
    pass
