"""inventory v4: a U5 finding about a device the MDM names by serial number only.

Such a finding (a municipal SIM in a device that is not the municipality's, reported without an
IMEI) had nothing to be matched by in the next report, so it could never close; it is now keyed
by the serial number.

Revision ID: inventory_0004
Revises: inventory_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "inventory_0004"
down_revision = "inventory_0003"
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def _unique_open(with_serial: bool) -> None:
    op.execute(f"DROP INDEX {SCHEMA}.uq_compliance_findings_open")
    serial = ", coalesce(serial_number, '')" if with_serial else ""
    op.execute(
        f"CREATE UNIQUE INDEX uq_compliance_findings_open ON {SCHEMA}.compliance_findings "
        f"(rule, coalesce(device_id::text, ''), coalesce(sim_iccid, ''), coalesce(imei, '')"
        f"{serial}) WHERE closed_at IS NULL")


def upgrade() -> None:
    op.add_column("compliance_findings", sa.Column("serial_number", sa.Text), schema=SCHEMA)
    _unique_open(with_serial=True)


def downgrade() -> None:
    _unique_open(with_serial=False)
    op.drop_column("compliance_findings", "serial_number", schema=SCHEMA)
