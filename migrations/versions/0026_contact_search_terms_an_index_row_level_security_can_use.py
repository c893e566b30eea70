"""contact search terms, an index row-level security can use

Issue 17 ("Find a contact"). The application's role is under forced row-level security, and
PostgreSQL then uses an index only for conditions made of leakproof functions: to_tsvector, @@,
lower and regexp_replace are not, so revision 0024's expression indexes were never used for it.
`contact_search_terms` holds each contact's words as plain text (collation "C") under a b-tree
led by `(tenant_id, term)`: a typed word is a range of terms (`>=`, `<`: leakproof), which the
index serves under row-level security. Sources: `contact` (subject, customer name, first text),
`message` and `note` (a thread's messages), `identifier` (the e-mail lower-cased, the phone's
digits). PostgreSQL triggers keep it, so every write (API, imports, erasure, purge, bulk
updates) does: words are to_tsvector('simple', text without HTML tags); an update replaces the
terms of what changed; deleting a contact or message deletes its terms. Existing contacts and
messages are indexed here. The firm's own rows (forced row-level security, revision 0023's
form). 0024's expression indexes on contacts and messages are dropped: nothing uses them.

SQLite (the demo) gets the table, empty: search scans there.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
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

# Revision 0024's, as it made them (the downgrade makes them again).
_WORDS = "to_tsvector('simple'::regconfig, regexp_replace({text}, '<[^>]*>', ' ', 'g'))"
OLD_INDEXES = {
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

# The triggers run as the writer (no SECURITY DEFINER): the terms are written under the same
# row-level security as the contact or message they come from.
FUNCTIONS = """
CREATE FUNCTION contact_search_words(document text) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT DISTINCT lexeme FROM unnest(
        to_tsvector(
            'simple'::regconfig, regexp_replace(coalesce(document, ''), '<[^>]*>', ' ', 'g')
        )
    )
$$;

CREATE FUNCTION contacts_keep_search_terms() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM contact_search_terms
        WHERE tenant_id = NEW.tenant_id AND contact_id = NEW.id
          AND message_id IS NULL;
    END IF;
    INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
    SELECT NEW.tenant_id, gen_random_uuid(), NEW.id, NULL, 'contact', word
    FROM contact_search_words(
        coalesce(NEW.subject, '') || ' ' || coalesce(NEW.customer_name, '') || ' '
        || coalesce(NEW.body, '')
    ) AS word;
    INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
    SELECT NEW.tenant_id, gen_random_uuid(), NEW.id, NULL, 'identifier', key
    FROM (VALUES
        (NULLIF(lower(NEW.customer_email), '')),
        (NULLIF(regexp_replace(coalesce(NEW.customer_phone, ''), '[^0-9]', '', 'g'), ''))
    ) AS keys (key)
    WHERE key IS NOT NULL;
    RETURN NULL;
END
$$;

CREATE FUNCTION contact_messages_keep_search_terms() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM contact_search_terms
        WHERE tenant_id = NEW.tenant_id AND message_id = NEW.id;
    END IF;
    INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
    SELECT NEW.tenant_id, gen_random_uuid(), NEW.contact_id, NEW.id,
           CASE WHEN NEW.kind = 'note' THEN 'note' ELSE 'message' END, word
    FROM contact_search_words(NEW.body) AS word;
    RETURN NULL;
END
$$;
"""
CONTACT_FIELDS = ("subject", "customer_name", "body", "customer_email", "customer_phone")
MESSAGE_FIELDS = ("body", "kind")


def _changed(fields: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{f} IS DISTINCT FROM NEW.{f}" for f in fields)


TRIGGERS = f"""
CREATE TRIGGER contacts_search_terms_inserted AFTER INSERT ON contacts
FOR EACH ROW EXECUTE FUNCTION contacts_keep_search_terms();
CREATE TRIGGER contacts_search_terms_updated
AFTER UPDATE OF {", ".join(CONTACT_FIELDS)} ON contacts
FOR EACH ROW WHEN ({_changed(CONTACT_FIELDS)}) EXECUTE FUNCTION contacts_keep_search_terms();
CREATE TRIGGER contact_messages_search_terms_inserted AFTER INSERT ON contact_messages
FOR EACH ROW EXECUTE FUNCTION contact_messages_keep_search_terms();
CREATE TRIGGER contact_messages_search_terms_updated
AFTER UPDATE OF {", ".join(MESSAGE_FIELDS)} ON contact_messages
FOR EACH ROW WHEN ({_changed(MESSAGE_FIELDS)})
EXECUTE FUNCTION contact_messages_keep_search_terms();
"""

# What the triggers would have written, for the contacts and messages already there.
BACKFILL = """
INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
SELECT c.tenant_id, gen_random_uuid(), c.id, NULL, 'contact', word
FROM contacts c, contact_search_words(
    coalesce(c.subject, '') || ' ' || coalesce(c.customer_name, '') || ' ' || coalesce(c.body, '')
) AS word;
INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
SELECT c.tenant_id, gen_random_uuid(), c.id, NULL, 'identifier', key
FROM contacts c, LATERAL (VALUES
    (NULLIF(lower(c.customer_email), '')),
    (NULLIF(regexp_replace(coalesce(c.customer_phone, ''), '[^0-9]', '', 'g'), ''))
) AS keys (key)
WHERE key IS NOT NULL;
INSERT INTO contact_search_terms (tenant_id, id, contact_id, message_id, source, term)
SELECT m.tenant_id, gen_random_uuid(), m.contact_id, m.id,
       CASE WHEN m.kind = 'note' THEN 'note' ELSE 'message' END, word
FROM contact_messages m, contact_search_words(m.body) AS word;
"""


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        keys = [
            sa.ForeignKeyConstraint(
                ["tenant_id", "contact_id"],
                ["contacts.tenant_id", "contacts.id"],
                name=op.f("fk_contact_search_terms_tenant_id_contact_id_contacts"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["tenant_id", "message_id"],
                ["contact_messages.tenant_id", "contact_messages.id"],
                name=op.f("fk_contact_search_terms_tenant_id_message_id_contact_messages"),
                ondelete="CASCADE",
            ),
        ]
    else:
        keys = [
            sa.ForeignKeyConstraint(
                ["contact_id"],
                ["contacts.id"],
                name=op.f("fk_contact_search_terms_contact_id_contacts"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["message_id"],
                ["contact_messages.id"],
                name=op.f("fk_contact_search_terms_message_id_contact_messages"),
                ondelete="CASCADE",
            ),
        ]
    op.create_table(
        "contact_search_terms",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        # Code point order (SQLite's own is already binary, and it knows no "C").
        sa.Column(
            "term", sa.Text(collation="C") if _is_postgresql() else sa.Text(), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        *keys,
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_search_terms_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contact_search_terms")),
    )
    for columns in (
        ["tenant_id", "term"],
        ["tenant_id", "contact_id"],
        ["tenant_id", "message_id"],
    ):
        op.create_index(
            op.f(f"ix_contact_search_terms_{'_'.join(columns)}"),
            "contact_search_terms",
            columns,
            unique=False,
        )
    if _is_postgresql():
        op.execute("ALTER TABLE contact_search_terms ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE contact_search_terms FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON contact_search_terms"
            f" USING ({TENANT_RULE}) WITH CHECK ({WRITE_RULE})"
        )
        op.execute(
            "CREATE POLICY tenant_isolation_delete ON contact_search_terms AS RESTRICTIVE"
            f" FOR DELETE USING ({WRITE_RULE})"
        )
        op.execute(FUNCTIONS)
        op.execute(TRIGGERS)
        # The owner is under forced row-level security too: index every firm's rows.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")
        op.execute(BACKFILL)
        op.execute("SELECT set_config('app.unscoped', '', true)")
        op.execute("DROP INDEX ix_contacts_search_document")
        op.execute("DROP INDEX ix_contacts_search_email")
        op.execute("DROP INDEX ix_contacts_search_phone")
        op.execute("DROP INDEX ix_contact_messages_search_document")


def downgrade() -> None:
    if _is_postgresql():
        for name, definition in OLD_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {definition}")
        op.execute("DROP TRIGGER contact_messages_search_terms_updated ON contact_messages")
        op.execute("DROP TRIGGER contact_messages_search_terms_inserted ON contact_messages")
        op.execute("DROP TRIGGER contacts_search_terms_updated ON contacts")
        op.execute("DROP TRIGGER contacts_search_terms_inserted ON contacts")
        op.execute("DROP FUNCTION contact_messages_keep_search_terms()")
        op.execute("DROP FUNCTION contacts_keep_search_terms()")
        op.execute("DROP FUNCTION contact_search_words(text)")
    op.drop_table("contact_search_terms")
