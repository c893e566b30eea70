"""tenant id leads every key of the tenant owned tables

Issue 7 (scale-out): every tenant-owned table's primary key becomes `(tenant_id, id)` and every
foreign key between two tenant-owned tables becomes `(tenant_id, x_id) -> (tenant_id, id)`.
The database then refuses a row that points at another tenant's row, whatever the code does,
and the schema can be distributed by `tenant_id` (Citus requires the distribution column in
every primary, unique and foreign key; docs/scaling.md). The single-column `tenant_id` indexes
go: the primary key's index now leads with `tenant_id` and serves the same lookups.

SQLite (the single-process demo database) keeps its single-column keys: it cannot alter a
primary or foreign key in place, batch mode would rebuild each table with DROP TABLE (which
cascades to child rows while foreign keys are on), and nothing distributes a SQLite file. The
ORM identifies rows by `id` alone on both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = (
    "agent_assignments",
    "agent_time_segments",
    "billing_accounts",
    "billing_outbox",
    "briefings",
    "business_calendars",
    "contact_events",
    "contacts",
    "departments",
    "invoice_lines",
    "invoices",
    "queues",
    "rate_cards",
    "sla_clocks",
    "sla_policies",
    "tenant_exports",
    "usage_records",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
)

# (table, column, referred table, ON DELETE)
FOREIGN_KEYS = (
    ("agent_assignments", "queue_id", "queues", "CASCADE"),
    ("contacts", "queue_id", "queues", None),
    ("contacts", "department_id", "departments", None),
    ("contact_events", "contact_id", "contacts", "CASCADE"),
    ("sla_clocks", "contact_id", "contacts", "CASCADE"),
    ("sla_clocks", "policy_id", "sla_policies", None),
    ("webhook_deliveries", "endpoint_id", "webhook_endpoints", "CASCADE"),
    ("webhook_attempts", "delivery_id", "webhook_deliveries", "CASCADE"),
    ("usage_records", "contact_id", "contacts", "CASCADE"),
    ("usage_records", "rate_card_id", "rate_cards", None),
    ("invoice_lines", "invoice_id", "invoices", "CASCADE"),
    ("billing_outbox", "invoice_id", "invoices", "CASCADE"),
)


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        # Keys that reference a primary key must go before it can be replaced.
        for table, column, referred, _ in FOREIGN_KEYS:
            op.drop_constraint(f"fk_{table}_{column}_{referred}", table, type_="foreignkey")
        for table in TENANT_TABLES:
            op.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT pk_{table},"
                f" ADD CONSTRAINT pk_{table} PRIMARY KEY (tenant_id, id)"
            )
        for table, column, referred, ondelete in FOREIGN_KEYS:
            op.create_foreign_key(
                f"fk_{table}_tenant_id_{column}_{referred}",
                table,
                referred,
                ["tenant_id", column],
                ["tenant_id", "id"],
                ondelete=ondelete,
            )
    for table in TENANT_TABLES:
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    if _is_postgresql():
        for table, column, referred, _ in FOREIGN_KEYS:
            op.drop_constraint(
                f"fk_{table}_tenant_id_{column}_{referred}", table, type_="foreignkey"
            )
        for table in TENANT_TABLES:
            op.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT pk_{table},"
                f" ADD CONSTRAINT pk_{table} PRIMARY KEY (id)"
            )
        for table, column, referred, ondelete in FOREIGN_KEYS:
            op.create_foreign_key(
                f"fk_{table}_{column}_{referred}",
                table,
                referred,
                [column],
                ["id"],
                ondelete=ondelete,
            )
