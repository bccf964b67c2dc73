"""inventory v5: a repair can end `abandoned` (rules S4, U9, C1).

A device in an open repair that is reported lost or consumed leaves `in-repair` without its repair
being returned or replaced; the repair is now closed as `abandoned` in the same transaction, so it
no longer blocks every later intake of the device (one open repair per device).

Revision ID: inventory_0005
Revises: inventory_0004
"""

from alembic import op

revision = "inventory_0005"
down_revision = "inventory_0004"
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def _states(*states: str) -> None:
    # 0002 named it "state" (these migrations run without the models' naming convention).
    op.drop_constraint("state", "repairs", schema=SCHEMA, type_="check")
    op.create_check_constraint("state", "repairs",
                               f"state IN ({', '.join(repr(s) for s in states)})", schema=SCHEMA)


def upgrade() -> None:
    _states("in-repair", "returned-to-holder", "replaced", "abandoned")


def downgrade() -> None:
    # Fails while an abandoned repair exists: v4 has no state that says what happened to it.
    _states("in-repair", "returned-to-holder", "replaced")
