"""lifecycle: private use (P1, P3), the subscriptions read model, the versioned policy (B5, R1).

Seeds version 1 of the P3 text and of the municipal policy, as the guideline of 2020-10-22 lays
them down (its date of decision is the last review known: R1 then reports a review overdue).

Revision ID: lifecycle_0003
Revises: lifecycle_0002
"""

import hashlib
from datetime import date

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "lifecycle_0003"
down_revision = "lifecycle_0002"
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"
SEEDED_BY = "migration:lifecycle_0003"

P3_TEXT = """\
Avtal om privat användning av kommunens mobiltelefon / Agreement on private use of a municipal \
mobile phone

Allt som du gör i ditt arbete som anställd i Värnamo kommun omfattas av tryckfrihetsförordningen \
och därmed offentlighetsprincipen. Det som inte rör ditt arbete omfattas som regel inte av \
offentlighetsprincipen. Det är alltså inte en allmän handling, som du kan behöva lämna ut. Men du \
måste räkna med att en journalist eller en privatperson kan kräva att få pröva möjligheten att \
även det ska lämnas ut.

Användningen får inte medföra extra kostnader för Värnamo kommun. Uppstår undantagsvis kostnader \
för privata tjänster via utrustningen – utöver de tjänster som ingår i abonnemanget mot fast \
avgift – till exempel betaltjänster, utlandssamtal och roaming, ska dessa kostnader betalas av \
dig som medarbetare.

Everything you do in your job as an employee of Värnamo kommun falls under the Freedom of the \
Press Act and so under the public access principle. What does not concern your work is, as a \
rule, not covered by it: it is not an official document you may have to hand out. But you must \
expect that a journalist or a private person may demand that it be tried whether that too is to \
be handed out.

The use may cause Värnamo kommun no extra cost. Should private services through the equipment \
exceptionally cost anything beyond what the flat-fee subscription includes – for example payment \
services, international calls and roaming – you as the employee pay those costs.
"""

MUNICIPAL_POLICY = {
    "tiers_on_offer": ["robust", "simple", "standard", "advanced"],  # O4
    "tiers_requiring_justification": ["advanced"],  # O4
    "return_due_days_after_last_day": 0,  # U7: back on the last day, never kept
    "escalation_interval_days": 7,  # U7
    "private_use_allowed": True,  # P1: the head decides case by case
    "private_cost_categories": ["international-calls", "premium-services", "roaming"],  # P2
    "support_channels": [  # S1
        {"kind": "portal", "value": "https://varnamo.kommunsupport.se"},
        {"kind": "phone", "value": "0370-377800"},
        {"kind": "visit", "value": "IT-service, Stadshuset (the town hall), Värnamo"},
    ],
}


def _text_column(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.Text, **kw)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.Uuid, primary_key=True),
        sa.Column("device_id", sa.Uuid),
        _text_column("holder_person_id"),
        _text_column("unit_id"),
        _text_column("state", nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('active', 'terminated')", name="ck_subscriptions_state"),
        schema=SCHEMA,
    )
    op.create_index("ix_subscriptions_device", "subscriptions", ["device_id"], schema=SCHEMA)

    terms = op.create_table(
        "private_use_terms",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        _text_column("text", nullable=False),
        _text_column("sha256", nullable=False),
        _text_column("published_by", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.bulk_insert(terms, [{"version": 1, "text": P3_TEXT, "published_by": SEEDED_BY,
                            "sha256": hashlib.sha256(P3_TEXT.encode("utf-8")).hexdigest()}])

    op.create_table(
        "private_use_agreements",
        sa.Column("agreement_id", sa.Uuid, primary_key=True),
        _text_column("person_id", nullable=False),
        _text_column("unit_id", nullable=False),
        sa.Column("device_id", sa.Uuid, nullable=False),
        sa.Column("subscription_id", sa.Uuid),
        _text_column("status", nullable=False),
        _text_column("motivation", nullable=False, server_default=""),
        _text_column("requested_by", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        _text_column("decided_by"),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        _text_column("decision_note"),
        sa.Column("terms_version", sa.Integer),
        _text_column("terms_sha256"),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
        sa.Column("valid_from", sa.Date),
        sa.Column("ended_on", sa.Date),
        _text_column("end_reason"),
        _text_column("ended_by"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'refused', 'active', 'ended', 'cancelled')",
            name="ck_private_use_status"),
        # rule P3: nothing is in force without the text it was signed over.
        sa.CheckConstraint("status NOT IN ('active', 'ended') OR (terms_version IS NOT NULL "
                           "AND signed_at IS NOT NULL AND valid_from IS NOT NULL)",
                           name="ck_private_use_signed"),
        sa.ForeignKeyConstraint(["terms_version"], [f"{SCHEMA}.private_use_terms.version"],
                                name="fk_private_use_terms"),
        schema=SCHEMA,
    )
    # rule P1: one open agreement per person and phone, however many ask at once.
    op.create_index("uq_private_use_open", "private_use_agreements", ["person_id", "device_id"],
                    unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('requested', 'approved', 'active')"))
    op.create_index("ix_private_use_person", "private_use_agreements", ["person_id"],
                    schema=SCHEMA)
    op.create_index("ix_private_use_unit", "private_use_agreements", ["unit_id", "status"],
                    schema=SCHEMA)

    changes = op.create_table(
        "policy_changes",
        sa.Column("policy_version", sa.Integer, primary_key=True, autoincrement=False),
        _text_column("scope", nullable=False),
        _text_column("scope_id"),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("reviewed_on", sa.Date),
        _text_column("note", nullable=False, server_default=""),
        _text_column("changed_by", nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("scope IN ('municipality', 'administration', 'unit')",
                           name="ck_policy_changes_scope"),
        sa.CheckConstraint("(scope = 'municipality') = (scope_id IS NULL)",
                           name="ck_policy_changes_scope_id"),
        # rule R1: the municipal policy always carries the date of its last review.
        sa.CheckConstraint("scope <> 'municipality' OR reviewed_on IS NOT NULL",
                           name="ck_policy_changes_reviewed"),
        schema=SCHEMA,
    )
    op.create_index("ix_policy_changes_scope", "policy_changes",
                    ["scope", "scope_id", "policy_version"], schema=SCHEMA)
    op.bulk_insert(changes, [{
        "policy_version": 1, "scope": "municipality", "scope_id": None,
        "document": MUNICIPAL_POLICY, "reviewed_on": date(2020, 10, 22),
        "note": "The guideline as decided by the municipal director, valid from 2020-10-22",
        "changed_by": SEEDED_BY}])


def downgrade() -> None:
    for table in ("policy_changes", "private_use_agreements", "private_use_terms",
                  "subscriptions"):
        op.drop_table(table, schema=SCHEMA)
