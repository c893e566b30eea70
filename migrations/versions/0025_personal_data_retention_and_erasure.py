"""personal data retention and erasure

Issue 17 (the end customer's rights): a firm may keep its end customers' personal data in
contacts for a limited time, `tenants.personal_data_retention_months` (NULL: kept), after which
`flask contacts purge-personal-data` wipes it; an end customer may ask for theirs to be erased
at any time. Either way each wiped contact keeps every figure and records when it lost its
personal data, `contacts.personal_data_erased_at` (NULL: untouched), so that the purge skips it
and an export says so.

The domain events are append-only for the application (revision 0011), yet a reply's text,
carried by `contact.message.created` for the firm's systems to deliver, may hold the end
customer's personal data. `redact_message_bodies(contact_ids)` blanks exactly that text for the
given contacts, and nothing else: it runs as the table's owner (SECURITY DEFINER), so the
application gains no general right to rewrite its events; it touches only the rows of the one
firm the caller writes for (`app.tenant_id`, the row-level security's write rule, checked in
the function itself too, should the owner bypass row-level security).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDACT = """
CREATE FUNCTION redact_message_bodies(contact_ids uuid[]) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH redacted AS (
        UPDATE domain_events
        SET payload = jsonb_set(payload, '{message,body}', 'null'::jsonb)
        WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
          AND type = 'contact.message.created'
          AND payload ->> 'contact_id' = ANY (SELECT unnest(contact_ids)::text)
          AND payload -> 'message' ->> 'body' IS NOT NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM redacted
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("personal_data_retention_months", sa.Integer(), nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(REDACT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION redact_message_bodies(uuid[])")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("personal_data_erased_at")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("personal_data_retention_months")
