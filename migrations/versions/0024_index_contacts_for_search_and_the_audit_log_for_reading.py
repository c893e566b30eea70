"""index contacts for search and the audit log for reading

Issue 17 ("Find a contact", "The audit log, readable"). `GET .../contacts?q=` finds a firm's
contacts by the end customer's identifiers and by words (app/contacts/search.py); on
PostgreSQL these expression indexes serve it: GIN over the words of each contact (subject,
customer name, first text) and of each message of a thread, in the 'simple' configuration
(no stemming: Spanish and English alike), and b-trees over the e-mail lower-cased and the
phone's digits, as search compares them; plus the firm's customer id. The expressions are
app/contacts/search_sql.py's, written out here as they were when this revision was made.
SQLite (the demo) gets only the customer id's index: search scans there.

The audit log, now read by the BPO admin across every firm, newest first, and by object:
indexes on `occurred_at` and on `(target_type, target_id)`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORDS = "to_tsvector('simple'::regconfig, regexp_replace({text}, '<[^>]*>', ' ', 'g'))"
EXPRESSION_INDEXES = {
    "ix_contacts_search_document": (
        "contacts USING gin ("
        + _WORDS.format(
            text="(((subject::text || ' ') || coalesce(customer_name, '')::text) || ' ') || body"
        )
        + ")"
    ),
    "ix_contacts_search_email": "contacts (tenant_id, lower(customer_email))",
    "ix_contacts_search_phone": (
        "contacts (tenant_id, regexp_replace(customer_phone, '[^0-9]', '', 'g'))"
    ),
    "ix_contact_messages_search_document": (
        "contact_messages USING gin (" + _WORDS.format(text="body") + ")"
    ),
}


def upgrade() -> None:
    op.create_index(
        op.f("ix_contacts_tenant_id_customer_ref"), "contacts", ["tenant_id", "customer_ref"]
    )
    op.create_index(op.f("ix_audit_logs_occurred_at"), "audit_logs", ["occurred_at"])
    op.create_index(
        op.f("ix_audit_logs_target_type_target_id"), "audit_logs", ["target_type", "target_id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, definition in EXPRESSION_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in EXPRESSION_INDEXES:
            op.execute(f"DROP INDEX {name}")
    op.drop_index(op.f("ix_audit_logs_target_type_target_id"), table_name="audit_logs")
    op.drop_index(op.f("ix_audit_logs_occurred_at"), table_name="audit_logs")
    op.drop_index(op.f("ix_contacts_tenant_id_customer_ref"), table_name="contacts")
