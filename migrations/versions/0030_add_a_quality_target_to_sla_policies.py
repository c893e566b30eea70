"""add a quality target to sla policies (the month's minimum average evaluation score)

Issue 18 (quality as an SLA target): `quality_target_bps` on a firm's SLA policy, the least
average score of the month's current reviews, in basis points; NULL: the contract sets none.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 12:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_policies") as batch:
        batch.add_column(sa.Column("quality_target_bps", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sla_policies") as batch:
        batch.drop_column("quality_target_bps")
