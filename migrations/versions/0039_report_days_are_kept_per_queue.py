"""report days are kept per queue

Issue 20 (a firm's month at 20M contacts a year under 1 s): the SLA report narrowed to a queue
or grouped by queue read the month's contacts (about 8 s for the biggest firm), because the
roll-ups kept each day per channel only; a firm's SLA is most often read by queue. The day's
counts, its clocks' durations and its departures from the backlog gain the queue, so those
reports read the roll-ups too. A firm's queues rarely share a channel: the rows grow by little.

The roll-ups are derived data and cannot be split by queue in place, so they go, and with
them every firm's `report_rollups` row. The worker's next pass rolls each firm up afresh
(app/reports/rollups.py `refresh`; about 12 minutes for a BPO of 20M contacts a year on the
bench machine); until it has, a firm's reports read its contacts, as before a firm's first
roll-up. Downgrading drops the queue the same way.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table's unique key without the queue, and where the queue goes in it.
KEYS = {
    "report_days": (("tenant_id", "day", "channel"), ()),
    "report_durations": (("tenant_id", "day", "channel"), ("kind",)),
    "report_departures": (("tenant_id", "day", "channel"), ("done_day",)),
}


def _forget_rollups() -> None:
    tables = [*KEYS, "report_rollups"]
    if op.get_bind().dialect.name == "postgresql":
        # Every firm's rows at once (TRUNCATE is not subject to row-level security); the
        # ALTER TABLEs below take the same exclusive locks anyway.
        op.execute(f"TRUNCATE {', '.join(tables)}")
        return
    for table in tables:
        op.execute(f"DELETE FROM {table}")


def _key(table: str, *, with_queue: bool) -> tuple[str, list[str]]:
    head, tail = KEYS[table]
    columns = [*head, *(("queue_id",) if with_queue else ()), *tail]
    return f"uq_{table}_" + "_".join(columns), columns


def upgrade() -> None:
    _forget_rollups()
    for table in KEYS:
        old, _ = _key(table, with_queue=False)
        new, columns = _key(table, with_queue=True)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(old, type_="unique")
            batch.add_column(sa.Column("queue_id", sa.Uuid(), nullable=False))
            batch.create_unique_constraint(new, columns)


def downgrade() -> None:
    _forget_rollups()
    for table in KEYS:
        new, _ = _key(table, with_queue=True)
        old, columns = _key(table, with_queue=False)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(new, type_="unique")
            batch.drop_column("queue_id")
            batch.create_unique_constraint(old, columns)
