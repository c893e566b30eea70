"""contacts keep when their clocks put them at risk

Issue 16 ("Fast"): the wallboard counted the contacts at risk and breached by reading every open
SLA clock at risk and joining each to its contact, a probe per contact that a scope of many firms
makes several times dearer (about 10 ms for 800 contacts at risk across 50 firms). Each open
contact now keeps `sla_risk_at` and `sla_breach_at` (app.sla.clocks.risk_instants: the earliest
instant its clocks not stopped put it at risk, and in breach; in the past once so; NULL once it
is finished), so the contacts at risk by now are one range of a partial index.

Existing contacts are filled in from their clocks, by the same rule written in SQL.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = "('resolved', 'closed', 'abandoned')"


def _least(postgresql: bool, a: str, b: str) -> str:
    """The earlier of two instants, either of which may be NULL (then the other)."""
    if postgresql:
        return f"LEAST({a}, {b})"  # LEAST ignores NULLs
    return f"min(coalesce({a}, {b}), coalesce({b}, {a}))"


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("sla_risk_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_breach_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        op.f("ix_contacts_tenant_id_sla_risk_at"),
        "contacts",
        ["tenant_id", "sla_risk_at"],
        unique=False,
        postgresql_where=sa.text("sla_risk_at IS NOT NULL"),
        sqlite_where=sa.text("sla_risk_at IS NOT NULL"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # Every firm's contacts and clocks, under forced row-level security.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")
    marked = "coalesce(k.at_risk_at, k.started_at)"
    risk = (
        "CASE"
        f" WHEN k.state = 'breached' THEN"
        f" {_least(postgresql, marked, 'coalesce(k.breached_at, k.started_at)')}"
        f" WHEN k.state = 'at_risk' THEN {_least(postgresql, marked, 'k.due_at')}"
        f" ELSE {_least(postgresql, 'k.at_risk_at', 'k.due_at')} END"
    )
    breach = (
        "CASE WHEN k.state = 'breached' THEN coalesce(k.breached_at, k.started_at)"
        " ELSE k.due_at END"
    )
    clocks = (
        "FROM sla_clocks k WHERE k.tenant_id = contacts.tenant_id"
        " AND k.contact_id = contacts.id AND k.stopped_at IS NULL"
    )
    # Only constant SQL is put together here: no value comes from outside.
    fill = (
        f"UPDATE contacts SET sla_risk_at = (SELECT min({risk}) {clocks}),"  # noqa: S608
        f" sla_breach_at = (SELECT min({breach}) {clocks})"
        f" WHERE status NOT IN {FINISHED}"
    )
    op.execute(fill)


def downgrade() -> None:
    op.drop_index(op.f("ix_contacts_tenant_id_sla_risk_at"), table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("sla_breach_at")
        batch.drop_column("sla_risk_at")
