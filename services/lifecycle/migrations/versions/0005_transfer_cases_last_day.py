"""lifecycle v5: open transfer cases are due on the last day in the unit left (rule U7).

Until this release a transfer's return case was due on the move's first day in the new unit
(`effective_date`); it is now due the day before, the last day there. Every open `transferred` case
at this upgrade was opened by the old rule, so each moves one day earlier (its policy offset
stays), audited as a reschedule by this migration. Besides keeping the rule, this lets a later
HR correction of the move find its cases: a correction recognises a case by the due date the
corrected move gave it. Dashboards learn the new date with the next change of the case.

Revision ID: lifecycle_0005
Revises: lifecycle_0004
"""

from alembic import op

revision = "lifecycle_0005"
down_revision = "lifecycle_0004"
branch_labels = None
depends_on = None
SCHEMA = "lifecycle"
ACTOR = "migration:lifecycle_0005"


def upgrade() -> None:
    op.execute(f"""
        INSERT INTO {SCHEMA}.audit_log (actor, action, object_type, object_id, before, after)
        SELECT '{ACTOR}', 'return-case.reschedule', 'return-case', case_id::text,
               jsonb_build_object('due_date', due_date),
               jsonb_build_object('due_date', due_date - 1, 'because',
                                  'rule U7: due on the last day in the unit left')
        FROM {SCHEMA}.return_cases WHERE status = 'open' AND reason = 'transferred'""")
    op.execute(f"UPDATE {SCHEMA}.return_cases SET due_date = due_date - 1 "
               "WHERE status = 'open' AND reason = 'transferred'")


def downgrade() -> None:
    op.execute(f"UPDATE {SCHEMA}.return_cases SET due_date = due_date + 1 "
               "WHERE status = 'open' AND reason = 'transferred'")
