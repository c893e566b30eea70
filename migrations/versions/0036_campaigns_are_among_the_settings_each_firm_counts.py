"""campaigns are among the settings each firm counts

Issue 20 (claim-next at the framework's ceiling): every claim read the running campaigns of the
agent's firms afresh, one of its sixteen round trips, for rows that change when a campaign is
created, started, paused or finished. A row written to `campaigns` now moves the firm's
`settings_version` as a row of its queues does (migration 0034, the same function), so each
process keeps the firm's running campaigns while the version stands (tenants/settings_cache.py).
A campaign's records (`campaign_records`) change with every attempt and stay unwatched.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-05 11:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "campaigns"
CHANGES = (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_bump_settings_version "
            f"AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION switchboard_bump_settings_version()"
        )
        return
    for when, row in CHANGES:
        op.execute(
            f"CREATE TRIGGER {TABLE}_bump_settings_version_{when.lower()} "
            f"AFTER {when} ON {TABLE} FOR EACH ROW BEGIN "
            "UPDATE tenants SET settings_version = settings_version + 1 "
            f"WHERE id = {row}.tenant_id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_bump_settings_version ON {TABLE}")
        return
    for when, _row in CHANGES:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_bump_settings_version_{when.lower()}")
