"""report agent days are kept a row per pair of days

Issue 20 (a large BPO's year rolled up): `report_agent_days` held a row per agent, day of
receipt and day finished: about 47,000 a year for a firm of 550 contacts a day, the biggest
write of the worker's roll-up of a firm once migration 0038 folded the durations (PostgreSQL
spends about 30 microseconds on each row it inserts there: its keys, the firm's foreign key,
row-level security). Each pair of days now keeps one row whose `work` maps each agent's id to
its [handled, handle seconds, CSAT responses, satisfied].

Migration 0039 has just dropped every firm's roll-ups (the worker rolls them up afresh), so
there is nothing to fold: the rows go here too, and downgrading drops them the same way.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-05 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OLD_KEY = ("tenant_id", "day", "agent_id", "finished_day")
NEW_KEY = ("tenant_id", "day", "finished_day")
FIGURES = ("handled", "handle", "rated", "satisfied")


def _forget_rollups() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Every firm's rows at once (TRUNCATE is not subject to row-level security).
        op.execute("TRUNCATE report_agent_days, report_rollups")
        return
    op.execute("DELETE FROM report_agent_days")
    op.execute("DELETE FROM report_rollups")


def _key_name(columns: tuple[str, ...]) -> str:
    return "uq_report_agent_days_" + "_".join(columns)


def upgrade() -> None:
    _forget_rollups()
    with op.batch_alter_table("report_agent_days") as batch:
        batch.drop_constraint(_key_name(OLD_KEY), type_="unique")
        for name in ("agent_id", *FIGURES):
            batch.drop_column(name)
        batch.add_column(sa.Column("work", JSON, nullable=False))
        batch.create_unique_constraint(_key_name(NEW_KEY), list(NEW_KEY))


def downgrade() -> None:
    _forget_rollups()
    with op.batch_alter_table("report_agent_days") as batch:
        batch.drop_constraint(_key_name(NEW_KEY), type_="unique")
        batch.drop_column("work")
        batch.add_column(sa.Column("agent_id", sa.Uuid(), nullable=False))
        batch.add_column(sa.Column("handled", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("handle", sa.BigInteger(), nullable=False))
        batch.add_column(sa.Column("rated", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("satisfied", sa.Integer(), nullable=False))
        batch.create_unique_constraint(_key_name(OLD_KEY), list(OLD_KEY))
