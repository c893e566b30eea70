"""sla policy headline targets

Issue 15 (the firm's dashboard holds every headline figure to the firm's own target): an SLA
policy may set targets for ASA, AHT, abandonment, FCR and CSAT beside its service level. All
nullable: a contract that sets none keeps none.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "asa_target_seconds",
    "aht_target_seconds",
    "abandonment_target_bps",
    "fcr_target_bps",
    "csat_target_bps",
)


def upgrade() -> None:
    with op.batch_alter_table("sla_policies") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sla_policies") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
