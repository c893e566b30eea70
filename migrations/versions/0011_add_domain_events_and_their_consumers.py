"""add domain events and their consumers

Issue 14: services record what happened as domain events, in the transaction of the change;
consumers (webhook deliveries first) read them in order from their own position.
`domain_events` is tenant-owned (key `(tenant_id, id)`, forced row-level security in the form
of revision 0006) and append-only for the application: migrations/env.py grants its role
SELECT and INSERT only. Its rows go with their tenant (`ON DELETE CASCADE` from `tenants`,
which PostgreSQL runs as the table's owner), which is how `flask tenants purge` deletes them.
`seq` is an identity; `tx` is the writing transaction's id, by which consumers order what
they read (app/events/service.py). SQLite has neither: the app numbers `seq` there, `tx` is 0.
`event_consumers` (one row per consumer, no tenant) holds each consumer's position.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


POLICY_USING = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
POLICY_CHECK = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # pg_current_xact_id() is an xid8 (64 bits, never wraps); text is its way to bigint.
    tx_default = sa.text("(pg_current_xact_id()::text)::bigint") if postgres else sa.text("0")
    op.create_table(
        "domain_events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("tx", sa.BigInteger(), server_default=tx_default, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_domain_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_domain_events")),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_domain_events_tenant_id_seq")),
    )
    op.create_index(op.f("ix_domain_events_tx_seq"), "domain_events", ["tx", "seq"])
    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )
    if postgres:
        op.execute("ALTER TABLE domain_events ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE domain_events FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON domain_events"
            f" USING ({POLICY_USING}) WITH CHECK ({POLICY_CHECK})"
        )
        # As on every tenant table, though the app role may not delete here at all.
        op.execute(
            "CREATE POLICY tenant_isolation_delete ON domain_events AS RESTRICTIVE FOR DELETE"
            f" USING ({POLICY_CHECK})"
        )


def downgrade() -> None:
    op.drop_table("event_consumers")
    op.drop_index(op.f("ix_domain_events_tx_seq"), table_name="domain_events")
    op.drop_table("domain_events")
