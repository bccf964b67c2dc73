"""inventory v1: backbone tables, the register (models, apps, devices, SIMs, numbers,
subscriptions), fulfilment, the units read model and MDM compliance.

Revision ID: inventory_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from shared.messaging.tables import install_backbone

revision = "inventory_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "inventory"

DEVICE_STATES = ("in-stock", "reserved", "issued", "in-repair", "lost", "returned", "consumed",
                 "handed-to-supplier")
TIERS = ("robust", "simple", "standard", "advanced")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    ]


def upgrade() -> None:
    install_backbone(op.get_bind(), SCHEMA)
    _register()
    _devices()
    _telephony()
    _fulfilment()
    _units_and_compliance()


def _register() -> None:
    op.create_table(
        "device_models",
        sa.Column("model_id", sa.Text, primary_key=True),
        sa.Column("manufacturer", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("tier", sa.Text),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("security_updates_end", sa.Date, nullable=False),
        sa.Column("max_os_version", sa.Text, nullable=False),
        sa.Column("max_os_key", ARRAY(sa.Integer), nullable=False),
        sa.Column("catalogue_item_id", sa.Text),
        *_stamps(),
        sa.CheckConstraint("kind IN ('phone', 'tablet')", name="kind"),
        sa.CheckConstraint(f"tier IS NULL OR {_in('tier', TIERS)}", name="tier"),
        schema=SCHEMA,
    )
    op.create_index("ix_device_models_catalogue_item_id", "device_models",
                    ["catalogue_item_id"], schema=SCHEMA)
    op.create_table(
        "required_apps",
        sa.Column("app_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("min_os_version", sa.Text, nullable=False),
        sa.Column("min_os_key", ARRAY(sa.Integer), nullable=False),
        *_stamps(),
        schema=SCHEMA,
    )


def _devices() -> None:
    op.create_table(
        "devices",
        sa.Column("device_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.device_models.model_id"),
                  nullable=False),
        sa.Column("imei", sa.Text, unique=True),
        sa.Column("serial_number", sa.Text, nullable=False, unique=True),
        sa.Column("os_version", sa.Text),
        sa.Column("owner", sa.Text, nullable=False, server_default="municipality"),
        sa.Column("state", sa.Text, nullable=False, server_default="in-stock"),
        sa.Column("holder_person_id", sa.Text),
        sa.Column("holder_unit_id", sa.Text),
        sa.Column("unit_id", sa.Text),
        sa.Column("order_id", sa.Uuid),
        sa.Column("intake_exception", sa.Text),
        sa.Column("received_by", sa.Text, nullable=False),
        sa.Column("mdm_enrolment_id", sa.Text),
        sa.Column("wipe_command_id", sa.Text),
        sa.Column("consumed_reason", sa.Text),
        sa.Column("consumed_on", sa.Date),
        sa.Column("open_return_case_id", sa.Uuid),
        sa.Column("loss_id", sa.Uuid),
        sa.Column("supplier", sa.Text),
        sa.Column("erasure_confirmation", sa.Text),
        sa.Column("passcode_set", sa.Boolean),
        sa.Column("compliance_checked_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        *_stamps(),
        # rule B1: the municipality owns every device in the register.
        sa.CheckConstraint("owner = 'municipality'", name="owner_municipality"),
        sa.CheckConstraint(_in("state", DEVICE_STATES), name="state"),
        # rule U8: one person or one unit, never both; an issued device has exactly one holder.
        sa.CheckConstraint("num_nonnulls(holder_person_id, holder_unit_id) <= 1",
                           name="one_holder"),
        sa.CheckConstraint(
            "state <> 'issued' OR num_nonnulls(holder_person_id, holder_unit_id) = 1",
            name="issued_has_holder"),
        # rule O1: nothing enters without an order, or a recorded exception.
        sa.CheckConstraint("order_id IS NOT NULL OR intake_exception IS NOT NULL",
                           name="order_or_exception"),
        sa.CheckConstraint("state <> 'consumed' OR consumed_reason IS NOT NULL",
                           name="consumed_has_reason"),
        # rule C2: no hand-over to the supplier without the erasure confirmation.
        sa.CheckConstraint("state <> 'handed-to-supplier' OR erasure_confirmation IS NOT NULL",
                           name="handover_has_erasure"),
        schema=SCHEMA,
    )
    # Keyset listing: every filter has an index ending in device_id, the sort key.
    for column in ("state", "model_id", "unit_id"):
        op.create_index(f"ix_devices_{column}_device_id", "devices", [column, "device_id"],
                        schema=SCHEMA)
    for column in ("holder_person_id", "holder_unit_id", "order_id"):
        op.create_index(f"ix_devices_{column}_device_id", "devices", [column, "device_id"],
                        schema=SCHEMA, postgresql_where=sa.text(f"{column} IS NOT NULL"))
    op.create_table(
        "acknowledgements",
        sa.Column("acknowledgement_id", sa.Uuid, primary_key=True),
        sa.Column("device_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.devices.device_id"),
                  nullable=False, index=True),
        sa.Column("person_id", sa.Text, nullable=False),
        sa.Column("terms_version", sa.Text, nullable=False),
        sa.Column("terms_sha256", sa.Text, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )


def _telephony() -> None:
    op.create_table(
        "sims",
        sa.Column("sim_id", sa.Uuid, primary_key=True),
        sa.Column("iccid", sa.Text, nullable=False, unique=True),
        sa.Column("state", sa.Text, nullable=False, server_default="in-stock"),
        sa.Column("received_by", sa.Text, nullable=False),
        *_stamps(),
        sa.CheckConstraint(_in("state", ("in-stock", "reserved", "active", "blocked",
                                         "terminated")), name="state"),
        schema=SCHEMA,
    )
    op.create_index("ix_sims_state", "sims", ["state", "created_at"], schema=SCHEMA)
    op.create_table(
        "phone_numbers",
        sa.Column("msisdn", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False, server_default="free"),
        *_stamps(),
        sa.CheckConstraint(_in("state", ("free", "reserved", "active")), name="state"),
        schema=SCHEMA,
    )
    op.create_index("ix_phone_numbers_state", "phone_numbers", ["state", "msisdn"],
                    schema=SCHEMA)
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.Uuid, primary_key=True),
        sa.Column("order_id", sa.Uuid, index=True),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("calls", sa.Boolean, nullable=False),
        sa.Column("sms", sa.Boolean, nullable=False),
        sa.Column("mms", sa.Boolean, nullable=False),
        sa.Column("data_gb", sa.Integer, nullable=False),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text, nullable=False, index=True),
        sa.Column("holder_person_id", sa.Text, index=True),
        sa.Column("sim_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.sims.sim_id"), nullable=False),
        sa.Column("msisdn", sa.Text, sa.ForeignKey(f"{SCHEMA}.phone_numbers.msisdn"),
                  nullable=False),
        sa.Column("device_id", sa.Uuid, index=True),
        sa.Column("state", sa.Text, nullable=False, server_default="reserved"),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.Column("terminated_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint(_in("state", ("reserved", "active", "terminated")), name="state"),
        schema=SCHEMA,
    )
    # A SIM or a number serves one live subscription at a time.
    for column in ("sim_id", "msisdn"):
        op.create_index(f"uq_subscriptions_live_{column}", "subscriptions", [column],
                        unique=True, schema=SCHEMA,
                        postgresql_where=sa.text("state <> 'terminated'"))


def _fulfilment() -> None:
    op.create_table(
        "fulfilment_orders",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Text),
        sa.Column("cost_centre", sa.Text),
        sa.Column("recipient_person_id", sa.Text),
        sa.Column("approved_by", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('approved', 'cancelled')", name="state"),
        schema=SCHEMA,
    )
    op.create_table(
        "fulfilment_lines",
        sa.Column("line_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.fulfilment_orders.order_id"),
                  nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("item_no", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("catalogue_item_id", sa.Text, nullable=False),
        sa.Column("tier", sa.Text),
        sa.Column("model_id", sa.Text),
        sa.Column("calls", sa.Boolean),
        sa.Column("sms", sa.Boolean),
        sa.Column("mms", sa.Boolean),
        sa.Column("data_gb", sa.Integer),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("device_id", sa.Uuid, index=True),
        sa.Column("subscription_id", sa.Uuid),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("order_id", "line_no", "item_no", name="uq_fulfilment_lines_item"),
        sa.CheckConstraint(_in("state", ("waiting", "reserved", "issued", "released",
                                         "not-tracked")), name="state"),
        schema=SCHEMA,
    )
    op.create_index("ix_fulfilment_lines_waiting", "fulfilment_lines", ["kind", "line_id"],
                    schema=SCHEMA, postgresql_where=sa.text("state = 'waiting'"))


def _units_and_compliance() -> None:
    op.create_table(
        "units",
        sa.Column("unit_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_unit_id", sa.Text, index=True),
        sa.Column("cost_centre", sa.Text, nullable=False),
        sa.Column("head_person_id", sa.Text, index=True),
        sa.Column("source_event_time", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "compliance_reports",
        sa.Column("report_id", sa.Text, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("violations_opened", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "compliance_findings",
        sa.Column("finding_id", sa.Uuid, primary_key=True),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("device_id", sa.Uuid, index=True),
        sa.Column("sim_iccid", sa.Text),
        sa.Column("imei", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("report_id", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("rule IN ('U4', 'U5')", name="rule"),
        schema=SCHEMA,
    )
    # One open finding per rule and device/SIM pair: a device reported daily is one violation.
    op.execute(
        f"CREATE UNIQUE INDEX uq_compliance_findings_open ON {SCHEMA}.compliance_findings "
        "(rule, coalesce(device_id::text, ''), coalesce(sim_iccid, ''), coalesce(imei, '')) "
        "WHERE closed_at IS NULL"
    )


def downgrade() -> None:
    for table in ("compliance_findings", "compliance_reports", "units", "fulfilment_lines",
                  "fulfilment_orders", "subscriptions", "phone_numbers", "sims",
                  "acknowledgements", "devices", "required_apps", "device_models"):
        op.drop_table(table, schema=SCHEMA)
