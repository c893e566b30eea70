"""notify live listeners of new events

Issue 16 ("Live, honestly"): pages update within 2 s of a change, fed from the domain event
log. Statement-level AFTER INSERT triggers (with transition tables, so a multi-row INSERT costs
one trigger call) send `NOTIFY switchboard_live` once per distinct firm, queue and contact of
the new `domain_events` (`c:<tenant>:<queue or ''>:<contact or ''>`; a transfer names its
previous queue too), and once per agent of the new `agent_events` (`a:<agent>`). PostgreSQL
sends them at commit, only if the transaction commits, each distinct payload once per
transaction: the request pays no extra round trip. A statement of more than 64 events (an
import) sends one `t:<tenant>` per firm instead, which listeners read as "re-read that firm".
Payloads stay under 100 bytes (the limit is 8,000). The listener is app/live/listener.py.
SQLite has no NOTIFY: there the listener polls the two tables, and this revision does nothing.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "switchboard_live"
# More events than this in one statement are announced per firm, not per contact.
FLOOD = 64

DOMAIN_EVENTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION switchboard_live_domain_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    item text;
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {FLOOD + 1}) AS head) > {FLOOD} THEN
        FOR item IN SELECT DISTINCT 't:' || tenant_id FROM new_rows LOOP
            PERFORM pg_notify('{CHANNEL}', item);
        END LOOP;
        RETURN NULL;
    END IF;
    FOR item IN
        SELECT 'c:' || tenant_id || ':' || coalesce(payload->>'queue_id', '') || ':'
               || coalesce(payload->>'contact_id', '')
        FROM new_rows
        UNION
        SELECT 'c:' || tenant_id || ':' || (payload->>'previous_queue_id') || ':'
               || coalesce(payload->>'contact_id', '')
        FROM new_rows
        WHERE payload->>'previous_queue_id' IS NOT NULL
    LOOP
        PERFORM pg_notify('{CHANNEL}', item);
    END LOOP;
    RETURN NULL;
END;
$$
"""

AGENT_EVENTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION switchboard_live_agent_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    item text;
BEGIN
    FOR item IN SELECT DISTINCT 'a:' || agent_id FROM new_rows LOOP
        PERFORM pg_notify('{CHANNEL}', item);
    END LOOP;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(DOMAIN_EVENTS_FUNCTION)
    op.execute(AGENT_EVENTS_FUNCTION)
    for table, function in (
        ("domain_events", "switchboard_live_domain_events"),
        ("agent_events", "switchboard_live_agent_events"),
    ):
        op.execute(
            f"CREATE TRIGGER {table}_notify_live AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, function in (
        ("domain_events", "switchboard_live_domain_events"),
        ("agent_events", "switchboard_live_agent_events"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_live ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
