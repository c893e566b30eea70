"""rls policies read the scope once per statement

The tenant-isolation policies called current_setting() and cast the tenant list to uuid[] for
every row a scan read, which made a year-long report several times slower than the same query
without row-level security. Wrapping each setting in a scalar sub-select makes PostgreSQL
evaluate it once per statement (an InitPlan); the rule itself is unchanged. Applies to every
table that carries the tenant_isolation policies, so revisions that add tables later write the
new form themselves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 23:20:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_USING = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = ANY (string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])
"""
OLD_CHECK = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
"""
NEW_USING = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
NEW_CHECK = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def _tables() -> list[str]:
    rows = op.get_bind().execute(
        text(
            "SELECT tablename FROM pg_policies WHERE schemaname = current_schema()"
            " AND policyname = 'tenant_isolation' ORDER BY tablename"
        )
    )
    return [row[0] for row in rows]


def _set(using: str, check: str) -> None:
    for table in _tables():
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})")
        op.execute(f"ALTER POLICY tenant_isolation_delete ON {table} USING ({check})")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set(NEW_USING, NEW_CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _set(OLD_USING, OLD_CHECK)
