"""oauth token families and replay detection

Issue 13 (the authorization server under concurrency and tampering):
- `oauth_token_families`: one row per sign-in; its code, rotated refresh tokens and their
  access tokens (claim `sid`) die together when it is revoked. Codes and refresh tokens gain
  `family_id`; existing ones get a family each. Codes gain `used_at` (kept after redemption
  so a replay is recognised).
- `users.tokens_valid_after`: tokens issued before a deactivation stay dead after reactivation.
- `login_throttles.email` becomes `key` (per account and client address, and per address);
  the old per-email counters mean nothing under the new keys and are dropped.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_token_families",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_token_families_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_token_families")),
    )
    op.create_index(
        op.f("ix_oauth_token_families_user_id"), "oauth_token_families", ["user_id"], unique=False
    )
    for table in ("oauth_authorization_codes", "oauth_refresh_tokens"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("family_id", sa.Uuid(), nullable=True))
            if table == "oauth_authorization_codes":
                batch.add_column(
                    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True)
                )
        _one_family_per_row(table)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("family_id", existing_type=sa.Uuid(), nullable=False)
            batch.create_foreign_key(
                op.f(f"fk_{table}_family_id_oauth_token_families"),
                "oauth_token_families",
                ["family_id"],
                ["id"],
                ondelete="CASCADE",
            )
            batch.create_index(op.f(f"ix_{table}_family_id"), ["family_id"], unique=False)

    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True)
        )

    op.execute("DELETE FROM login_throttles")
    with op.batch_alter_table("login_throttles") as batch:
        batch.alter_column(
            "email",
            new_column_name="key",
            existing_type=sa.String(length=254),
            type_=sa.String(length=320),
            existing_nullable=False,
        )


def _one_family_per_row(table: str) -> None:
    """Give every existing code or refresh token a family of its own."""
    bind = op.get_bind()
    rows = sa.table(
        table,
        sa.column("id", sa.Uuid()),
        sa.column("client_id", sa.String()),
        sa.column("user_id", sa.Uuid()),
        sa.column("family_id", sa.Uuid()),
    )
    families = sa.table(
        "oauth_token_families",
        sa.column("id", sa.Uuid()),
        sa.column("client_id", sa.String()),
        sa.column("user_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    # SQLite keeps UTC as text without an offset (app/db.py's UTCDateTime).
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    for row in bind.execute(sa.select(rows.c.id, rows.c.client_id, rows.c.user_id)).all():
        family_id = uuid.uuid4()
        bind.execute(
            families.insert().values(
                id=family_id, client_id=row.client_id, user_id=row.user_id, created_at=now
            )
        )
        bind.execute(rows.update().where(rows.c.id == row.id).values(family_id=family_id))


def downgrade() -> None:
    op.execute("DELETE FROM login_throttles")
    with op.batch_alter_table("login_throttles") as batch:
        batch.alter_column(
            "key",
            new_column_name="email",
            existing_type=sa.String(length=320),
            type_=sa.String(length=254),
            existing_nullable=False,
        )
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_valid_after")
    for table in ("oauth_refresh_tokens", "oauth_authorization_codes"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_family_id"))
            batch.drop_constraint(
                op.f(f"fk_{table}_family_id_oauth_token_families"), type_="foreignkey"
            )
            batch.drop_column("family_id")
            if table == "oauth_authorization_codes":
                batch.drop_column("used_at")
    op.drop_index(op.f("ix_oauth_token_families_user_id"), table_name="oauth_token_families")
    op.drop_table("oauth_token_families")
