"""add daily report rollups

Issue 15 ("Fast"): a firm's SLA report over a month of a million contacts must answer in well
under a second, so what the report sums is kept per firm and local day of receipt:
`report_days` (counts, seconds and clock outcomes per channel), `report_durations` (the
distribution of the business seconds stopped clocks took, for percentiles),
`report_departures` (the day each day's contacts left the backlog), `report_marks` (hours whose
contacts changed since their day was rolled up) and `report_rollups` (which firms are rolled up,
under which settings). All derived, all the firm's own (forced row-level security, in the form
of revision 0005), all gone with the firm (`ON DELETE CASCADE`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("report_days", "report_durations", "report_departures", "report_marks", "report_rollups")

POLICY_USING = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
POLICY_CHECK = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def upgrade() -> None:
    op.create_table(
        "report_days",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "voice",
                "email",
                "chat",
                "web",
                "social",
                name="report_day_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("answered_within", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("short_abandoned", sa.Integer(), nullable=False),
        sa.Column("abandoned_within", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("first_contacts", sa.Integer(), nullable=False),
        sa.Column("handled_first_contacts", sa.Integer(), nullable=False),
        sa.Column("resolved_first_time", sa.Integer(), nullable=False),
        sa.Column("answer_wait", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("handle", sa.BigInteger(), nullable=False),
        sa.Column("first_response_measured", sa.Integer(), nullable=False),
        sa.Column("first_response_within", sa.Integer(), nullable=False),
        sa.Column("first_response_breaches", sa.Integer(), nullable=False),
        sa.Column("resolution_measured", sa.Integer(), nullable=False),
        sa.Column("resolution_within", sa.Integer(), nullable=False),
        sa.Column("resolution_breaches", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_days_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_days")),
        sa.UniqueConstraint(
            "tenant_id", "day", "channel", name=op.f("uq_report_days_tenant_id_day_channel")
        ),
    )
    op.create_table(
        "report_departures",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "voice",
                "email",
                "chat",
                "web",
                "social",
                name="report_departure_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("done_day", sa.Date(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_departures_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_departures")),
        sa.UniqueConstraint(
            "tenant_id",
            "day",
            "channel",
            "done_day",
            name=op.f("uq_report_departures_tenant_id_day_channel_done_day"),
        ),
    )
    op.create_table(
        "report_durations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "first_response",
                "resolution",
                name="report_duration_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("clocks", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_durations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_durations")),
        sa.UniqueConstraint(
            "tenant_id",
            "day",
            "kind",
            "seconds",
            name=op.f("uq_report_durations_tenant_id_day_kind_seconds"),
        ),
    )
    op.create_table(
        "report_marks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_marks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_marks")),
    )
    op.create_index(
        op.f("ix_report_marks_tenant_id_hour"), "report_marks", ["tenant_id", "hour"], unique=False
    )
    op.create_table(
        "report_rollups",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_rollups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_rollups")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_report_rollups_tenant_id")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table}"
                f" USING ({POLICY_USING}) WITH CHECK ({POLICY_CHECK})"
            )
            op.execute(
                f"CREATE POLICY tenant_isolation_delete ON {table} AS RESTRICTIVE FOR DELETE"
                f" USING ({POLICY_CHECK})"
            )


def downgrade() -> None:
    op.drop_table("report_rollups")
    op.drop_index(op.f("ix_report_marks_tenant_id_hour"), table_name="report_marks")
    op.drop_table("report_marks")
    op.drop_table("report_departures")
    op.drop_table("report_durations")
    op.drop_table("report_days")
