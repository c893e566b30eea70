"""onboarding calendars queues agents

The tables of onboarding (issue 3): business calendars and SLA policies, queues and briefings,
departments, rate cards, agents with their assignments, events and time segments, tenant
exports, idempotency records; and the tenant lifecycle columns. Every new tenant-owned table
gets the same forced row-level security as revision 0001 (copied, so this revision never
changes when a later one does).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:28:55.605547
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = (
    "business_calendars",
    "sla_policies",
    "queues",
    "briefings",
    "departments",
    "rate_cards",
    "agent_assignments",
    "agent_time_segments",
    "tenant_exports",
    "idempotency_records",
)

POLICY_USING = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = ANY (string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])
"""
POLICY_CHECK = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
"""


def enable_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY_USING}) WITH CHECK ({POLICY_CHECK})"
    )
    # DELETE is checked against USING alone: restrict it to the single tenant in scope too.
    op.execute(
        f"CREATE POLICY tenant_isolation_delete ON {table} AS RESTRICTIVE FOR DELETE"
        f" USING ({POLICY_CHECK})"
    )


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "skills",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "concurrency",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "presence",
            sa.Enum(
                "available",
                "busy",
                "break",
                "offline",
                name="presence",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("presence_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "active_queue_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("user_id", name=op.f("uq_agents_user_id")),
    )
    op.create_table(
        "briefings",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "queue_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_briefings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
    )
    op.create_index(op.f("ix_briefings_tenant_id"), "briefings", ["tenant_id"], unique=False)
    op.create_table(
        "business_calendars",
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column(
            "weekly_hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("holiday_country", sa.String(length=2), nullable=True),
        sa.Column("holiday_subdivision", sa.String(length=10), nullable=True),
        sa.Column(
            "closures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_business_calendars_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
        sa.UniqueConstraint(
            "tenant_id",
            "effective_from",
            name=op.f("uq_business_calendars_tenant_id_effective_from"),
        ),
    )
    op.create_index(
        op.f("ix_business_calendars_tenant_id"), "business_calendars", ["tenant_id"], unique=False
    )
    op.create_table(
        "departments",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "logistics",
                "finance",
                "marketing",
                "technical",
                "legal",
                "custom",
                name="department_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_departments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_departments_tenant_id_name")),
    )
    op.create_index(op.f("ix_departments_tenant_id"), "departments", ["tenant_id"], unique=False)
    op.create_table(
        "idempotency_records",
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_idempotency_records_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint(
            "tenant_id",
            "caller",
            "key",
            name=op.f("uq_idempotency_records_tenant_id_caller_key"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_idempotency_records_tenant_id"), "idempotency_records", ["tenant_id"], unique=False
    )
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "languages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("answer_threshold_seconds", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_queues_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_queues_tenant_id_name")),
    )
    op.create_index(op.f("ix_queues_tenant_id"), "queues", ["tenant_id"], unique=False)
    op.create_table(
        "rate_cards",
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("default_unit_amount", sa.Integer(), nullable=False),
        sa.Column(
            "prices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tier_mode",
            sa.Enum(
                "graduated",
                "volume",
                name="tier_mode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "tiers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("monthly_minimum", sa.Integer(), nullable=False),
        sa.Column(
            "sla_credits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rate_cards_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
        sa.UniqueConstraint(
            "tenant_id", "effective_from", name=op.f("uq_rate_cards_tenant_id_effective_from")
        ),
    )
    op.create_index(op.f("ix_rate_cards_tenant_id"), "rate_cards", ["tenant_id"], unique=False)
    op.create_table(
        "sla_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column(
            "targets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("service_level_target_bps", sa.Integer(), nullable=False),
        sa.Column("pause_on_escalated", sa.Boolean(), nullable=False),
        sa.Column("at_risk_bps", sa.Integer(), nullable=False),
        sa.Column(
            "abandon_treatment",
            sa.Enum(
                "exclude_short",
                "ignore",
                "count_within_threshold_as_met",
                name="abandon_treatment",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("short_abandon_seconds", sa.Integer(), nullable=False),
        sa.Column("fcr_window_days", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sla_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sla_policies_tenant_id_name")),
    )
    op.create_index(op.f("ix_sla_policies_tenant_id"), "sla_policies", ["tenant_id"], unique=False)
    op.create_table(
        "tenant_exports",
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_exports_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_exports")),
    )
    op.create_index(
        op.f("ix_tenant_exports_tenant_id"), "tenant_exports", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_tenant_exports_tenant_id_created_at"),
        "tenant_exports",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "agent_assignments",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_assignments_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_agent_assignments_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agent_assignments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_assignments")),
        sa.UniqueConstraint(
            "tenant_id",
            "agent_id",
            "queue_id",
            name=op.f("uq_agent_assignments_tenant_id_agent_id_queue_id"),
        ),
    )
    op.create_index(
        op.f("ix_agent_assignments_tenant_id"), "agent_assignments", ["tenant_id"], unique=False
    )
    op.create_table(
        "agent_events",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "presence",
                "active_queues",
                "assignments",
                name="agent_event_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "presence",
            sa.Enum(
                "available",
                "busy",
                "break",
                "offline",
                name="presence",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "active_queue_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_events_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    op.create_index(
        op.f("ix_agent_events_agent_id_occurred_at"),
        "agent_events",
        ["agent_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "agent_time_segments",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "presence",
            sa.Enum(
                "available",
                "busy",
                "break",
                "offline",
                name="presence",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("share_bps", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_time_segments_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agent_time_segments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_time_segments")),
    )
    op.create_index(
        op.f("ix_agent_time_segments_tenant_id"), "agent_time_segments", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_agent_time_segments_tenant_id_agent_id_started_at"),
        "agent_time_segments",
        ["tenant_id", "agent_id", "started_at"],
        unique=False,
    )
    op.add_column("tenants", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("offboarded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            enable_rls(table)


def downgrade() -> None:
    op.drop_column("tenants", "purge_after")
    op.drop_column("tenants", "offboarded_at")
    op.drop_column("tenants", "suspended_at")
    op.drop_index(
        op.f("ix_agent_time_segments_tenant_id_agent_id_started_at"),
        table_name="agent_time_segments",
    )
    op.drop_index(op.f("ix_agent_time_segments_tenant_id"), table_name="agent_time_segments")
    op.drop_table("agent_time_segments")
    op.drop_index(op.f("ix_agent_events_agent_id_occurred_at"), table_name="agent_events")
    op.drop_table("agent_events")
    op.drop_index(op.f("ix_agent_assignments_tenant_id"), table_name="agent_assignments")
    op.drop_table("agent_assignments")
    op.drop_index(op.f("ix_tenant_exports_tenant_id_created_at"), table_name="tenant_exports")
    op.drop_index(op.f("ix_tenant_exports_tenant_id"), table_name="tenant_exports")
    op.drop_table("tenant_exports")
    op.drop_index(op.f("ix_sla_policies_tenant_id"), table_name="sla_policies")
    op.drop_table("sla_policies")
    op.drop_index(op.f("ix_rate_cards_tenant_id"), table_name="rate_cards")
    op.drop_table("rate_cards")
    op.drop_index(op.f("ix_queues_tenant_id"), table_name="queues")
    op.drop_table("queues")
    op.drop_index(op.f("ix_idempotency_records_tenant_id"), table_name="idempotency_records")
    op.drop_table("idempotency_records")
    op.drop_index(op.f("ix_departments_tenant_id"), table_name="departments")
    op.drop_table("departments")
    op.drop_index(op.f("ix_business_calendars_tenant_id"), table_name="business_calendars")
    op.drop_table("business_calendars")
    op.drop_index(op.f("ix_briefings_tenant_id"), table_name="briefings")
    op.drop_table("briefings")
    op.drop_table("agents")
