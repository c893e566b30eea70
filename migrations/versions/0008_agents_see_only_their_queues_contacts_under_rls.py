"""agents see only their queues contacts under rls

Issue 8 (the role matrix with the ORM filter off): an agent's scope names the queues it
reaches a tenant through, and the ORM filter hid other queues' contacts, but the contacts
policy checked the tenant only, so SQL that escaped the ORM filter showed an agent every
contact of the tenant. The scope now also writes `app.queue_scoped` / `app.queue_ids`
(tenants/scoping.py), and the policy's USING adds: when queue-scoped, only rows of those
queues. WITH CHECK stays tenant-only, so an agent can still transfer a contact it holds to a
queue it does not serve (the row then leaves its sight, as it should). The settings are read in
scalar sub-selects, once per statement (the form of revision 0005).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
QUEUE_RULE = """
    (SELECT current_setting('app.queue_scoped', true)) IS DISTINCT FROM 'on'
    OR queue_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.queue_ids', true), ''), ','))::uuid[])
"""
CHECK_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""


def _policy(using: str) -> None:
    op.execute("DROP POLICY tenant_isolation ON contacts")
    op.execute(
        f"CREATE POLICY tenant_isolation ON contacts USING ({using}) WITH CHECK ({CHECK_RULE})"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _policy(f"({TENANT_RULE}) AND ({QUEUE_RULE})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _policy(TENANT_RULE)
