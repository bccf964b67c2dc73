"""inventory v2: usage and costs (P2), support and repair (S1–S5), fixed telephony (B4, U1–U3).

Revision ID: inventory_0002
Revises: inventory_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "inventory_0002"
down_revision = "inventory_0001"
branch_labels = None
depends_on = None
SCHEMA = "inventory"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


def upgrade() -> None:
    _usage()
    _people_and_extensions()
    _support()


def _usage() -> None:
    # Lifecycle's private-use agreements (rule P1), as far as P2 needs them. `valid_from` is
    # NULL while only the end is known (private-use-ended overtook private-use-approved).
    op.create_table(
        "private_use_agreements",
        sa.Column("agreement_id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Text, nullable=False, index=True),
        sa.Column("subscription_id", sa.Uuid),
        sa.Column("approved_by", sa.Text),
        sa.Column("valid_from", sa.Date),
        sa.Column("ended_on", sa.Date),
        sa.Column("end_reason", sa.Text),
        # An HR correction re-publishes the end: the newest event wins, in any arrival order.
        sa.Column("end_event_time", sa.DateTime(timezone=True)),
        _now("updated_at"),
        schema=SCHEMA,
    )
    op.create_table(
        "usage_imports",
        sa.Column("import_id", sa.Uuid, primary_key=True),
        # rule P2: the same file imported again is a no-op.
        sa.Column("content_sha256", sa.Text, nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("periods", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("total_sek", sa.Numeric(14, 2), nullable=False),
        sa.Column("unit_sek", sa.Numeric(14, 2), nullable=False),
        sa.Column("employee_sek", sa.Numeric(14, 2), nullable=False),
        sa.Column("flagged_sek", sa.Numeric(14, 2), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("imported_by", sa.Text, nullable=False),
        _now("imported_at"),
        schema=SCHEMA,
    )
    op.create_table(
        "usage_flags",
        sa.Column("flag_id", sa.Uuid, primary_key=True),
        sa.Column("import_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.usage_imports.import_id"),
                  nullable=False),
        sa.Column("subscription_id", sa.Uuid, nullable=False),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("person_id", sa.Text),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("amount_sek", sa.Numeric(14, 2), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="open"),
        sa.Column("charge_to", sa.Text),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        _now("opened_at"),
        sa.CheckConstraint(_in("state", ("open", "resolved")), name="state"),
        sa.CheckConstraint("(state = 'open') = (charge_to IS NULL)", name="resolved_has_charge"),
        sa.CheckConstraint("charge_to IS NULL OR charge_to IN ('unit', 'employee')",
                           name="charge_to"),
        schema=SCHEMA,
    )
    op.create_index("ix_usage_flags_unit_state", "usage_flags", ["unit_id", "state"],
                    schema=SCHEMA)
    op.create_table(
        "usage_records",
        sa.Column("record_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("import_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.usage_imports.import_id"),
                  nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("amount_sek", sa.Numeric(12, 2), nullable=False),
        sa.Column("subscription_id", sa.Uuid, nullable=False),
        sa.Column("unit_id", sa.Text, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("person_id", sa.Text),
        # rule P2: who pays — the unit's cost centre, the employee, or nobody yet (flagged).
        sa.Column("charged_to", sa.Text, nullable=False),
        sa.Column("agreement_id", sa.Uuid),
        sa.Column("flag_id", sa.Uuid),
        sa.CheckConstraint(_in("charged_to", ("unit", "employee", "flagged")),
                           name="charged_to"),
        # A flagged row belongs to a flag, and keeps it once the head decided.
        sa.CheckConstraint("charged_to <> 'flagged' OR flag_id IS NOT NULL",
                           name="flagged_has_flag"),
        schema=SCHEMA,
    )
    for name, columns in (("cost_centre", ["cost_centre", "period"]),
                          ("person", ["person_id", "period"])):
        op.create_index(f"ix_usage_records_{name}", "usage_records", columns, schema=SCHEMA)
    # rule P2: a number's month is charged by one file only — the database guarantees it.
    op.create_table(
        "usage_months",
        sa.Column("msisdn", sa.Text, primary_key=True),
        sa.Column("period", sa.Date, primary_key=True),
        sa.Column("import_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.usage_imports.import_id"),
                  nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_usage_records_flag", "usage_records", ["flag_id"], schema=SCHEMA,
                    postgresql_where=sa.text("flag_id IS NOT NULL"))
    # A usage row names a number and a month: find the subscription that had it then.
    op.create_index("ix_subscriptions_msisdn_activated", "subscriptions",
                    ["msisdn", "activated_at"], schema=SCHEMA)


def _people_and_extensions() -> None:
    # Lifecycle's employees (HR events): whose nearest manager is whom (rule U1).
    op.create_table(
        "people",
        sa.Column("person_id", sa.Text, primary_key=True),
        sa.Column("unit_id", sa.Text, nullable=False, index=True),
        sa.Column("nearest_manager_id", sa.Text, index=True),
        sa.Column("last_day", sa.Date),
        sa.Column("source_event_time", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    # rule B4: fixed and mobile extensions, as the telephony platform reports them (U2, U3).
    op.create_table(
        "extensions",
        sa.Column("extension_id", sa.Text, primary_key=True),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("person_id", sa.Text, index=True),
        sa.Column("presence", sa.Text, nullable=False),
        sa.Column("forwarding_active", sa.Boolean, nullable=False),
        sa.Column("forwarding_target", sa.Text),
        sa.Column("voicemail_set_up", sa.Boolean, nullable=False),
        sa.Column("personal_greeting", sa.Boolean, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
        # Reports may arrive out of order: only a newer observation overwrites.
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.Text, nullable=False),
        _now("updated_at"),
        sa.CheckConstraint("kind IN ('fixed', 'mobile')", name="kind"),
        schema=SCHEMA,
    )
    op.create_table(
        "telephony_reports",
        sa.Column("report_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("applied", sa.Integer, nullable=False),
        _now("received_at"),
        schema=SCHEMA,
    )


def _support() -> None:
    # rule S3: where to turn for how an app works (IT service keeps the list).
    op.create_table(
        "app_support",
        sa.Column("app_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
        _now("updated_at"),
        schema=SCHEMA,
    )
    op.create_table(
        "support_cases",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("person_id", sa.Text, nullable=False, index=True),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("device_id", sa.Uuid),
        sa.Column("app_id", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("routed_to", sa.JSON),
        sa.Column("resolution", sa.Text),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        _now("opened_at"),
        sa.CheckConstraint(_in("outcome", ("accepted", "routed", "refused")), name="outcome"),
        sa.CheckConstraint(_in("state", ("open", "closed", "routed", "refused")), name="state"),
        schema=SCHEMA,
    )
    op.create_table(
        "repairs",
        sa.Column("repair_id", sa.Uuid, primary_key=True),
        sa.Column("device_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.devices.device_id"),
                  nullable=False, index=True),
        sa.Column("case_id", sa.Uuid),
        sa.Column("fault", sa.Text, nullable=False),
        sa.Column("holder_person_id", sa.Text),
        sa.Column("holder_unit_id", sa.Text),
        sa.Column("unit_id", sa.Text),
        # rule S4: the holder's confirmation of the data-loss warning, before intake.
        sa.Column("warning_version", sa.Text, nullable=False),
        sa.Column("warning_sha256", sa.Text, nullable=False),
        sa.Column("warning_confirmed_by", sa.Text, nullable=False),
        sa.Column("warning_confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="in-repair"),
        sa.Column("replacement_device_id", sa.Uuid),
        sa.Column("opened_by", sa.Text, nullable=False),
        _now("opened_at"),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(_in("state", ("in-repair", "returned-to-holder", "replaced")),
                           name="state"),
        sa.CheckConstraint("num_nonnulls(holder_person_id, holder_unit_id) = 1",
                           name="one_holder"),
        schema=SCHEMA,
    )
    # One open repair per device.
    op.create_index("uq_repairs_open_device", "repairs", ["device_id"], unique=True,
                    schema=SCHEMA, postgresql_where=sa.text("state = 'in-repair'"))


def downgrade() -> None:
    op.drop_index("ix_subscriptions_msisdn_activated", "subscriptions", schema=SCHEMA)
    for table in ("repairs", "support_cases", "app_support", "telephony_reports", "extensions",
                  "people", "usage_months", "usage_records", "usage_flags", "usage_imports",
                  "private_use_agreements"):
        op.drop_table(table, schema=SCHEMA)
