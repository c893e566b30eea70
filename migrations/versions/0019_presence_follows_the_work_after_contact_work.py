"""presence follows the work: after contact work

Issue 16 ("Presence follows the work"): a fifth presence, `after_contact_work`, between resolving
a contact and taking the next. The presence columns are strings with a named CHECK constraint
(app.db.str_enum, never a PostgreSQL enum type), so the constraint of each of the three tables
that hold a presence is replaced by one that admits the new value. `agents` gains
`presence_auto` (the presence was set by the work rules: a busy at the concurrency cap) and the
contact being wrapped up with its firm (`acw_contact_id`, `acw_tenant_id`).

Downgrading cannot keep what the old constraint refuses: agents in after-contact work become
`available`, and recorded events and time segments in it read `available` (the time stays
working time of the same firm; only its kind is lost).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("available", "busy", "break", "offline")
NEW = (*OLD, "after_contact_work")
TABLES = ("agents", "agent_events", "agent_time_segments")


def _replace_checks(presences: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{p}'" for p in presences)
    for table in TABLES:
        name = op.f(f"ck_{table}_presence")
        # SQLite cannot alter a constraint: batch mode copies the table with the new one.
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, f"presence IN ({allowed})")


def upgrade() -> None:
    _replace_checks(NEW)
    with op.batch_alter_table("agents") as batch:
        batch.add_column(
            sa.Column("presence_auto", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("acw_contact_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("acw_tenant_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The time segments are the firms' rows under forced row-level security: this
        # rewrite concerns every firm's.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")
    for table in TABLES:
        op.execute(
            f"UPDATE {table} SET presence = 'available' WHERE presence = 'after_contact_work'"
        )
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("acw_tenant_id")
        batch.drop_column("acw_contact_id")
        batch.drop_column("presence_auto")
    _replace_checks(OLD)
