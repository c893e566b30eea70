"""report durations are kept per channel

Issue 20 (a firm's month at 20M contacts a year under 1 s): the SLA report grouped by channel,
or narrowed to one, read the month's contacts, because the roll-ups kept the clocks' durations
(where the percentiles come from) per day and kind, not per channel; the day's counts and its
departures already were per channel. `report_durations` gains the channel.

The roll-ups are derived data: the durations there cannot be split by channel, so they go, and
with them every firm's `report_rollups` row. The worker's next pass rolls each firm up afresh
(app/reports/rollups.py `refresh`); until it has, a firm's reports read its contacts, as they
do before a firm's first roll-up. Downgrading drops the channel the same way.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = sa.Enum(
    "voice",
    "email",
    "chat",
    "web",
    "social",
    name="report_duration_channel",
    native_enum=False,
    create_constraint=True,
    length=32,
)
OLD_KEY = ("tenant_id", "day", "kind", "seconds")
NEW_KEY = ("tenant_id", "day", "channel", "kind", "seconds")


def _forget_rollups() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Every firm's rows at once (TRUNCATE is not subject to row-level security); the
        # ALTER TABLE below takes the same exclusive lock anyway.
        op.execute("TRUNCATE report_durations, report_rollups")
        return
    op.execute("DELETE FROM report_durations")
    op.execute("DELETE FROM report_rollups")


def _key_name(columns: tuple[str, ...]) -> str:
    return "uq_report_durations_" + "_".join(columns)


def upgrade() -> None:
    _forget_rollups()
    with op.batch_alter_table("report_durations") as batch:
        batch.drop_constraint(_key_name(OLD_KEY), type_="unique")
        batch.add_column(sa.Column("channel", CHANNEL, nullable=False))
        batch.create_unique_constraint(_key_name(NEW_KEY), list(NEW_KEY))


def downgrade() -> None:
    _forget_rollups()
    with op.batch_alter_table("report_durations") as batch:
        batch.drop_constraint(_key_name(NEW_KEY), type_="unique")
        # SQLite's copy of the table would keep the channel's CHECK after the column went.
        batch.drop_constraint(op.f("ck_report_durations_report_duration_channel"), type_="check")
        batch.drop_column("channel")
        batch.create_unique_constraint(_key_name(OLD_KEY), list(OLD_KEY))
