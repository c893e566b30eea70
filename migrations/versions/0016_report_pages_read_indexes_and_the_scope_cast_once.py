"""report pages read indexes and the scope cast once

Issue 15 ("Fast"): at 1,000,000 contacts in a month the agents page, the complaints register and
the breaches list scanned every contact or clock of the firm.

- The tenant-isolation policies (revision 0005's form) read the tenant and queue lists in
  scalar sub-selects but cast them to uuid[] outside, so PostgreSQL parsed every id of the list
  again for each row it checked: a third of the agents report's time. The cast now sits inside
  the sub-select, computed once per statement; the rule itself is unchanged. Rewritten on every
  table with the tenant_isolation policy (all carry the same rule, contacts its queue rule too).
- contacts (tenant_id, resolved_at) and (tenant_id, closed_at) where not resolved: the agents
  report's contacts finished in a range (app/reports/agents.py reads resolved_at, else
  closed_at, in a form these serve under row-level security).
- contacts (tenant_id, category, received_at) including queue_id: the complaints register's
  count of a year, from the index alone (the contacts policy reads queue_id too).
- sla_clocks (tenant_id, breached_at) where breached: the breaches list, latest first.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
# Written beside 0015 (the reports' roll-ups), whose tables' policies this rewrites too.
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# `ANY ((SELECT ...))` would read the sub-select as a set of rows: the outer cast (a no-op on a
# uuid[]) keeps the once-cast list a scalar array.
TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])::uuid[])
"""
QUEUE_RULE = """
    (SELECT current_setting('app.queue_scoped', true)) IS DISTINCT FROM 'on'
    OR queue_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.queue_ids', true), ''), ',')::uuid[])::uuid[])
"""
OLD_TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
OLD_QUEUE_RULE = """
    (SELECT current_setting('app.queue_scoped', true)) IS DISTINCT FROM 'on'
    OR queue_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.queue_ids', true), ''), ','))::uuid[])
"""


def _tables() -> list[str]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT tablename FROM pg_policies WHERE schemaname = current_schema()"
            " AND policyname = 'tenant_isolation' ORDER BY tablename"
        )
    )
    return [row[0] for row in rows]


def _policies(tenant_rule: str, queue_rule: str) -> None:
    # USING only: WITH CHECK compares one id, already cast inside its sub-select.
    for table in _tables():
        using = f"({tenant_rule}) AND ({queue_rule})" if table == "contacts" else tenant_rule
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING ({using})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _policies(TENANT_RULE, QUEUE_RULE)
    op.create_index(
        op.f("ix_contacts_tenant_id_resolved_at"),
        "contacts",
        ["tenant_id", "resolved_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_tenant_id_closed_at"),
        "contacts",
        ["tenant_id", "closed_at"],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index(
        op.f("ix_contacts_tenant_id_category_received_at"),
        "contacts",
        ["tenant_id", "category", "received_at"],
        unique=False,
        postgresql_include=["queue_id"],
    )
    op.create_index(
        op.f("ix_sla_clocks_tenant_id_breached_at"),
        "sla_clocks",
        ["tenant_id", "breached_at"],
        unique=False,
        postgresql_where=sa.text("breached_at IS NOT NULL"),
        sqlite_where=sa.text("breached_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_clocks_tenant_id_breached_at"), table_name="sla_clocks")
    op.drop_index(op.f("ix_contacts_tenant_id_category_received_at"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_tenant_id_closed_at"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_tenant_id_resolved_at"), table_name="contacts")
    if op.get_bind().dialect.name == "postgresql":
        _policies(OLD_TENANT_RULE, OLD_QUEUE_RULE)
