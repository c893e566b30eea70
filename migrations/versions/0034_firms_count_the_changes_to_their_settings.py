"""firms count the changes to their settings

Issue 20 (intake at the framework's ceiling): every contact taken in read its firm's active
queues, default SLA policy and business calendar afresh, three of fifteen round trips for rows
that change a few times a year. Each firm now has a `settings_version`, bumped by a trigger on
every row written to `queues`, `sla_policies` or `business_calendars`, whatever writes it;
each process keeps copies of those settings and uses them while the version it read them
under stands (tenants/settings_cache.py). Row-level triggers: these tables change by hand, a
row at a time; the UPDATE of the firm's row also orders concurrent changes to one firm.
SQLite (`make run`) gets the same triggers in its own dialect.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("queues", "sla_policies", "business_calendars")

BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION switchboard_bump_settings_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenants SET settings_version = settings_version + 1
    WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    IF TG_OP = 'UPDATE' AND OLD.tenant_id IS DISTINCT FROM NEW.tenant_id THEN
        UPDATE tenants SET settings_version = settings_version + 1 WHERE id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("settings_version", sa.BigInteger(), server_default="0", nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BUMP_FUNCTION)
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_bump_settings_version "
                f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION switchboard_bump_settings_version()"
            )
        return
    for table in WATCHED:
        for when, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER {table}_bump_settings_version_{when.lower()} "
                f"AFTER {when} ON {table} FOR EACH ROW BEGIN "
                "UPDATE tenants SET settings_version = settings_version + 1 "
                f"WHERE id = {row}.tenant_id; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_settings_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS switchboard_bump_settings_version()")
    else:
        for table in WATCHED:
            for when in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_settings_version_{when}")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("settings_version")
