"""add escalations that departments answer, and the firm's reminder setting

Issue 17 ("Escalations that reach the department and come back"): `escalations` keeps each
escalation of a contact to a department: when it went and came back (the time with each
department the SLA report and the complaints register show), the agent's note, the outcome, the
SHA-256 digest of the single-use link the department answers through (found by digest across
firms: the link names none), and the department's mails as a leased outbox (app/leases.py: the
first mail, then reminders). The firm's own rows (forced row-level security in revision 0018's
form), gone with their contact and with the firm.
`tenants.department_reminder_minutes` (NULL: no reminders): after how long a department that
has not answered is mailed again.

On SQLite the keys to the contact and the department are single-column, as revision 0007 left
every such key there.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revision 0016's form: the scope's id list cast once per statement, inside the sub-select.
TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])::uuid[])
"""
WRITE_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    if _is_postgresql():
        keys = [
            sa.ForeignKeyConstraint(
                ["tenant_id", "contact_id"],
                ["contacts.tenant_id", "contacts.id"],
                name=op.f("fk_escalations_tenant_id_contact_id_contacts"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["tenant_id", "department_id"],
                ["departments.tenant_id", "departments.id"],
                name=op.f("fk_escalations_tenant_id_department_id_departments"),
            ),
        ]
    else:
        keys = [
            sa.ForeignKeyConstraint(
                ["contact_id"],
                ["contacts.id"],
                name=op.f("fk_escalations_contact_id_contacts"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["department_id"],
                ["departments.id"],
                name=op.f("fk_escalations_department_id_departments"),
            ),
        ]
    op.create_table(
        "escalations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "outcome",
            _enum("done", "needs_more", "withdrawn", name="escalation_outcome"),
            nullable=True,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            _enum("pending", "sent", "dead", "closed", name="escalation_mail_status"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *keys,
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_escalations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalations")),
        sa.UniqueConstraint(
            "tenant_id", "token_hash", name=op.f("uq_escalations_tenant_id_token_hash")
        ),
    )
    for columns in (
        ["token_hash"],
        ["tenant_id", "contact_id", "started_at"],
        ["tenant_id", "ended_at"],
        ["status", "next_attempt_at"],
    ):
        op.create_index(
            op.f(f"ix_escalations_{'_'.join(columns)}"), "escalations", columns, unique=False
        )
    op.add_column(
        "tenants", sa.Column("department_reminder_minutes", sa.Integer(), nullable=True)
    )
    if _is_postgresql():
        op.execute("ALTER TABLE escalations ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE escalations FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON escalations"
            f" USING ({TENANT_RULE}) WITH CHECK ({WRITE_RULE})"
        )
        op.execute(
            "CREATE POLICY tenant_isolation_delete ON escalations AS RESTRICTIVE FOR DELETE"
            f" USING ({WRITE_RULE})"
        )


def downgrade() -> None:
    op.drop_column("tenants", "department_reminder_minutes")
    for columns in (
        ["status", "next_attempt_at"],
        ["tenant_id", "ended_at"],
        ["tenant_id", "contact_id", "started_at"],
        ["token_hash"],
    ):
        op.drop_index(op.f(f"ix_escalations_{'_'.join(columns)}"), table_name="escalations")
    op.drop_table("escalations")
