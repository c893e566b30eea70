"""add account tokens for invitations and password resets

Issue 15: an admin invites a person, who sets a password through a single-use link valid 24 h;
"forgot password" sends such a link too. `account_tokens` keeps each link's SHA-256 digest,
never the link. An invitation to a client firm is the firm's (forced row-level security, in the
form of revision 0005); an invitation to a BPO role and every password reset have no firm
(`tenant_id` NULL, seen only by unscoped code, like BPO-wide memberships). Rows go with their
firm and with their person (`ON DELETE CASCADE`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
# Reserved as 0013, which main gave to the SLA policy headline targets meanwhile.
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("bpo_admin", "supervisor", "agent", "client_admin", "client_viewer", "integration")

POLICY_USING = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
POLICY_CHECK = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "purpose",
            _enum("invitation", "password_reset", name="account_token_purpose"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", _enum(*ROLES, name="account_token_role"), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_client_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_account_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_account_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_account_tokens_tenant_id"), "account_tokens", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_account_tokens_user_id_created_at"),
        "account_tokens",
        ["user_id", "created_at"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE account_tokens ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE account_tokens FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON account_tokens"
            f" USING ({POLICY_USING}) WITH CHECK ({POLICY_CHECK})"
        )
        op.execute(
            "CREATE POLICY tenant_isolation_delete ON account_tokens AS RESTRICTIVE FOR DELETE"
            f" USING ({POLICY_CHECK})"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_account_tokens_user_id_created_at"), table_name="account_tokens")
    op.drop_index(op.f("ix_account_tokens_tenant_id"), table_name="account_tokens")
    op.drop_table("account_tokens")
