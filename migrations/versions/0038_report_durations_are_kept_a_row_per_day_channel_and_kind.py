"""report durations are kept a row per day channel and kind

Issue 20 (a large BPO's year rolled up): `report_durations` held a row per distinct duration
of a day, channel and kind, which came to about one row per stopped clock (a firm of 550
contacts a day: about 250,000 rows a year). PostgreSQL writes such a row in about 30 microseconds
(its keys, its firm's foreign key, row-level security), and those writes were more than half of
the worker's roll-up of a firm. Each day, channel and kind now keeps one row whose
`distribution` lists its [seconds, clocks] pairs, ascending.

The rows there are folded in place, firm by firm as they stand, so no firm needs rolling up
afresh after the upgrade; downgrading unfolds them.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OLD_KEY = ("tenant_id", "day", "channel", "kind", "seconds")
NEW_KEY = ("tenant_id", "day", "channel", "kind")
GROUP = "tenant_id, day, channel, kind"


def _key_name(columns: tuple[str, ...]) -> str:
    return "uq_report_durations_" + "_".join(columns)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _every_firm() -> None:
    if _is_postgres():
        # Every firm's rows, under forced row-level security.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")


def upgrade() -> None:
    _every_firm()
    with op.batch_alter_table("report_durations") as batch:
        batch.add_column(sa.Column("distribution", JSON, nullable=True))
    # A row per day, channel and kind gathers its values; seconds -1 keeps it clear of the old
    # key until the old rows go. Only constant SQL here: no value comes from outside.
    if _is_postgres():
        new_id = "gen_random_uuid()"
        pairs = "jsonb_agg(jsonb_build_array(seconds, clocks) ORDER BY seconds)"
        source = "report_durations"
    else:
        new_id = "lower(hex(randomblob(16)))"
        pairs = "json_group_array(json_array(seconds, clocks))"
        source = "(SELECT * FROM report_durations ORDER BY seconds)"  # the pairs in order
    op.execute(
        "INSERT INTO report_durations (id, tenant_id, day, channel, kind, seconds, clocks, "  # noqa: S608
        f"distribution) SELECT {new_id}, {GROUP}, -1, 0, {pairs} FROM {source} GROUP BY {GROUP}"
    )
    op.execute("DELETE FROM report_durations WHERE distribution IS NULL")
    with op.batch_alter_table("report_durations") as batch:
        batch.drop_constraint(_key_name(OLD_KEY), type_="unique")
        batch.drop_column("seconds")
        batch.drop_column("clocks")
        batch.alter_column("distribution", existing_type=JSON, nullable=False)
        batch.create_unique_constraint(_key_name(NEW_KEY), list(NEW_KEY))


def downgrade() -> None:
    _every_firm()
    with op.batch_alter_table("report_durations") as batch:
        batch.drop_constraint(_key_name(NEW_KEY), type_="unique")
        batch.alter_column("distribution", existing_type=JSON, nullable=True)
        batch.add_column(sa.Column("seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("clocks", sa.Integer(), nullable=True))
    if _is_postgres():
        unfolded = (
            "SELECT gen_random_uuid(), d.tenant_id, d.day, d.channel, d.kind, "
            "(p.value ->> 0)::int, (p.value ->> 1)::int "
            "FROM report_durations AS d, jsonb_array_elements(d.distribution) AS p"
        )
    else:
        unfolded = (
            "SELECT lower(hex(randomblob(16))), d.tenant_id, d.day, d.channel, d.kind, "
            "json_extract(p.value, '$[0]'), json_extract(p.value, '$[1]') "
            "FROM report_durations AS d, json_each(d.distribution) AS p"
        )
    op.execute(
        "INSERT INTO report_durations (id, tenant_id, day, channel, kind, seconds, clocks) "
        + unfolded
    )
    op.execute("DELETE FROM report_durations WHERE seconds IS NULL")
    with op.batch_alter_table("report_durations") as batch:
        batch.drop_column("distribution")
        batch.alter_column("seconds", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("clocks", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint(_key_name(OLD_KEY), list(OLD_KEY))
