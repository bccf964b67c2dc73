"""lifecycle: people and HR events, holdings, return cases and escalations, losses (U7, U9).

Revision ID: lifecycle_0002
Revises: lifecycle_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "lifecycle_0002"
down_revision = "lifecycle_0001"
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


def upgrade() -> None:
    op.add_column("units", sa.Column("source_time", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_table(
        "people",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("nearest_manager_id", sa.Text),
        sa.Column("start_date", sa.Date),
        sa.Column("placement", sa.Text, nullable=False),
        sa.Column("placed_on", sa.Date),
        sa.Column("previous_unit_id", sa.Text),
        sa.Column("previous_manager_id", sa.Text),
        sa.Column("last_day", sa.Date),
        sa.Column("hr_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_people_manager", "people", ["nearest_manager_id"], schema=SCHEMA)
    op.create_index("ix_people_unit", "people", ["unit_id"], schema=SCHEMA)

    op.create_table(
        "hr_events",
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("hr_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_hr_events_subject", "hr_events", ["subject", "hr_time"], schema=SCHEMA)

    op.create_table(
        "holdings",
        sa.Column("device_id", sa.Uuid, primary_key=True),
        sa.Column("holder_person_id", sa.Text),
        sa.Column("unit_id", sa.Text),
        sa.Column("kind", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True)),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('issued', 'returned', 'lost')", name="ck_holdings_state"),
        schema=SCHEMA,
    )
    op.create_index("ix_holdings_holder", "holdings", ["holder_person_id"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'issued'"))

    op.create_table(
        "return_cases",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("device_id", sa.Uuid, nullable=False),
        sa.Column("person_id", sa.Text),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("receiver_person_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("received_by", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("status IN ('open', 'completed')", name="ck_return_cases_status"),
        sa.CheckConstraint(
            "reason IN ('employment-ended', 'transferred', 'consumed', 'not-needed', 'replaced')",
            name="ck_return_cases_reason"),
        schema=SCHEMA,
    )
    # rule U7: one open case per device, whatever asks for it and however often.
    op.create_index("uq_return_cases_open_device", "return_cases", ["device_id"], unique=True,
                    schema=SCHEMA, postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_return_cases_receiver", "return_cases", ["receiver_person_id", "status"],
                    schema=SCHEMA)
    op.create_index("ix_return_cases_person", "return_cases", ["person_id", "status"],
                    schema=SCHEMA)
    op.create_index("ix_return_cases_unit", "return_cases", ["unit_id", "status"], schema=SCHEMA)
    op.create_index("ix_return_cases_due", "return_cases", ["due_date"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'open'"))

    op.create_table(
        "return_escalations",
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("escalated_to", sa.Text),
        sa.Column("as_of", sa.Date, nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("case_id", "level", name="pk_return_escalations"),
        sa.ForeignKeyConstraint(["case_id"], [f"{SCHEMA}.return_cases.case_id"],
                                name="fk_return_escalations_case"),
        schema=SCHEMA,
    )

    op.create_table(
        "losses",
        sa.Column("loss_id", sa.Uuid, primary_key=True),
        sa.Column("device_id", sa.Uuid, nullable=False),
        sa.Column("person_id", sa.Text),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("reported_by", sa.Text, nullable=False),
        sa.Column("circumstances", sa.Text, nullable=False, server_default=""),
        sa.Column("lost_on", sa.Date),
        sa.Column("instruction_url", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("sim_blocked", sa.Boolean),
        sa.Column("mdm_action", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('open', 'found')", name="ck_losses_status"),
        schema=SCHEMA,
    )
    # rule U9: one open loss per device.
    op.create_index("uq_losses_open_device", "losses", ["device_id"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_losses_person", "losses", ["person_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("losses", "return_escalations", "return_cases", "holdings", "hr_events",
                  "people"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("units", "source_time", schema=SCHEMA)
