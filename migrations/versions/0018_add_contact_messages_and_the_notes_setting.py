"""add contact messages and the notes setting

Issue 16 (conversations on a contact): `contact_messages` holds each contact's thread, the end
customer's messages (posted by the firm's integration), the agents' replies and internal notes,
read oldest first per contact (tenant_id, contact_id, created_at). An integration's own message
id is unique per contact, so a retried post finds the first one. The firm's own rows (forced
row-level security in revision 0017's form), gone with their contact and with the firm.
`tenants.share_notes_with_integration` (default false): whether the firm's integration reads
internal notes too.

On SQLite the key to the contact is single-column, as revision 0007 left every such key there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revision 0016's form: the scope's id list cast once per statement, inside the sub-select.
TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])::uuid[])
"""
WRITE_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        contact_key = sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            name=op.f("fk_contact_messages_tenant_id_contact_id_contacts"),
            ondelete="CASCADE",
        )
    else:
        contact_key = sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_messages_contact_id_contacts"),
            ondelete="CASCADE",
        )
    op.create_table(
        "contact_messages",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "inbound",
                "reply",
                "note",
                name="message_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "voice",
                "email",
                "chat",
                "web",
                "social",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("author_user_id", sa.Uuid(), nullable=True),
        sa.Column("author_client_id", sa.String(length=64), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "body_format",
            sa.Enum(
                "text",
                "html",
                name="body_format",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        contact_key,
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contact_messages")),
        sa.UniqueConstraint(
            "tenant_id",
            "contact_id",
            "external_id",
            name=op.f("uq_contact_messages_tenant_id_contact_id_external_id"),
        ),
    )
    op.create_index(
        op.f("ix_contact_messages_tenant_id_contact_id_created_at"),
        "contact_messages",
        ["tenant_id", "contact_id", "created_at"],
        unique=False,
    )
    op.add_column(
        "tenants",
        sa.Column(
            "share_notes_with_integration",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
    )
    if _is_postgresql():
        op.execute("ALTER TABLE contact_messages ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE contact_messages FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON contact_messages"
            f" USING ({TENANT_RULE}) WITH CHECK ({WRITE_RULE})"
        )
        op.execute(
            "CREATE POLICY tenant_isolation_delete ON contact_messages AS RESTRICTIVE FOR DELETE"
            f" USING ({WRITE_RULE})"
        )


def downgrade() -> None:
    op.drop_column("tenants", "share_notes_with_integration")
    op.drop_index(
        op.f("ix_contact_messages_tenant_id_contact_id_created_at"), table_name="contact_messages"
    )
    op.drop_table("contact_messages")
