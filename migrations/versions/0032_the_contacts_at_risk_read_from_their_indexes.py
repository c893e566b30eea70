"""the contacts at risk read from their indexes

Issue 20 (a large BPO's floor, 1M open contacts): the at-risk list and the wallboard count the
contacts at risk per queue from the partial index on `sla_risk_at` alone (it now includes the
queue, the status and the breach instant that row-level security and the counts read), and
take the most urgent of them in the order of a new partial index on (`sla_due_at`, `id`),
instead of fetching and sorting every contact at risk.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AT_RISK = "sla_risk_at IS NOT NULL"


def _risk_index(include: list[str]) -> None:
    op.create_index(
        op.f("ix_contacts_tenant_id_sla_risk_at"),
        "contacts",
        ["tenant_id", "sla_risk_at"],
        unique=False,
        postgresql_where=sa.text(AT_RISK),
        sqlite_where=sa.text(AT_RISK),
        postgresql_include=include,
    )


def upgrade() -> None:
    op.drop_index(op.f("ix_contacts_tenant_id_sla_risk_at"), table_name="contacts")
    _risk_index(["queue_id", "status", "sla_breach_at"])
    op.create_index(
        op.f("ix_contacts_sla_due_at_id_tenant_id_sla_risk_at"),
        "contacts",
        ["sla_due_at", "id", "tenant_id", "sla_risk_at"],
        unique=False,
        postgresql_where=sa.text(AT_RISK),
        sqlite_where=sa.text(AT_RISK),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contacts_sla_due_at_id_tenant_id_sla_risk_at"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_tenant_id_sla_risk_at"), table_name="contacts")
    _risk_index([])
