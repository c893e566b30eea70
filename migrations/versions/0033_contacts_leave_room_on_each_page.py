"""contacts leave room on each page

Issue 20 (the SLA scan over 1M open contacts): marking a contact at risk or breached changes
its `sla_state` and `updated_at`, which no index holds, so PostgreSQL can update the row in
place on its page (a HOT update, no index touched) - when the page has room. A contact is
written many times in its life (intake, routing, every action, the scan), so each page keeps a
tenth free (fillfactor 90). It applies to pages written from now on; `VACUUM FULL` or
`pg_repack` would rewrite the existing ones. Nothing to do on SQLite.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts RESET (fillfactor)")
