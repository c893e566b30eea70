"""contacts queued_seconds is time in line

Issue 13, item 15: a contact's `queue_wait_seconds` summed the time spent in status `queued`
(to each assignment) while the reports' queue wait, whose mean is the ASA, runs from receipt
to answer. The column keeps its quantity under an honest name, `queued_seconds`; the queue
wait is `answered_at - received_at`, computed where it is shown, never stored. RENAME COLUMN
is the same statement on PostgreSQL and on SQLite (3.25+), and touches no policy or index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE contacts RENAME COLUMN queue_wait_seconds TO queued_seconds")


def downgrade() -> None:
    op.execute("ALTER TABLE contacts RENAME COLUMN queued_seconds TO queue_wait_seconds")
