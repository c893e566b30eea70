"""add outbound campaigns lists records and do-not-contact registers

Issue 19 (outbound campaigns): a firm's campaigns (purpose, channel, queue, script,
dispositions, the calling window in the customer's time, attempts and retry delay, dates,
state, how its records blend with inbound work), the lists loaded into them, one record per
end customer (duplicates merged by a key), the firm's do-not-contact register under forced
row-level security, and the BPO's own register (no firm's). Contacts name the campaign and
record an attempt was made for.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("campaigns", "campaign_lists", "campaign_records", "do_not_contact")
# Revision 0016's form: the scope's id list cast once per statement, inside the sub-select.
TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])::uuid[])
"""
WRITE_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CHANNELS = ("voice", "email", "chat", "web", "social")
CATEGORIES = (
    "complaint",
    "claim",
    "information_request",
    "suggestion",
    "compliment",
    "order_request",
    "incident",
)
DNC_KINDS = ("phone", "email")
DNC_SOURCES = ("manual", "import", "disposition")


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tenant_key(table: str, column: str, parent: str, ondelete: str | None = "CASCADE"):
    """The key to another of the firm's rows: (tenant_id, column) on PostgreSQL."""
    if _is_postgresql():
        return sa.ForeignKeyConstraint(
            ["tenant_id", column],
            [f"{parent}.tenant_id", f"{parent}.id"],
            name=op.f(f"fk_{table}_tenant_id_{column}_{parent}"),
            ondelete=ondelete,
        )
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def _owned(table: str) -> list:
    """A tenant-owned table's tenant column, id, key to its firm and primary key."""
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        # SQLite: the id alone, so the single-column keys there find a unique parent.
        sa.PrimaryKeyConstraint(
            *(("tenant_id", "id") if _is_postgresql() else ("id",)), name=op.f(f"pk_{table}")
        ),
    ]


def _stamps() -> list:
    return [_at("created_at"), _at("updated_at")]


def upgrade() -> None:
    op.create_table(
        "campaigns",
        *_owned("campaigns"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "purpose",
            _enum(
                "sales", "survey", "collections", "reminder", "callback", name="campaign_purpose"
            ),
            nullable=False,
        ),
        sa.Column("channel", _enum(*CHANNELS, name="channel"), nullable=False),
        sa.Column("category", _enum(*CATEGORIES, name="category"), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("dispositions", JSON, nullable=False),
        sa.Column("weekdays", JSON, nullable=False),
        sa.Column("window_start", sa.String(length=5), nullable=False),
        sa.Column("window_end", sa.String(length=5), nullable=False),
        sa.Column("skip_holidays", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delay_minutes", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "state",
            _enum("draft", "running", "paused", "finished", name="campaign_state"),
            nullable=False,
        ),
        sa.Column(
            "blend", _enum("inbound_first", "time_share", name="campaign_blend"), nullable=False
        ),
        sa.Column("share_bps", sa.Integer(), nullable=True),
        _at("started_at", nullable=True),
        _at("finished_at", nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        *_stamps(),
        _tenant_key("campaigns", "queue_id", "queues", ondelete=None),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_campaigns_tenant_id_name")),
    )
    op.create_index(op.f("ix_campaigns_tenant_id_state"), "campaigns", ["tenant_id", "state"])
    op.create_table(
        "campaign_lists",
        *_owned("campaign_lists"),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        _at("loaded_at"),
        sa.Column("loaded_by_user_id", sa.Uuid(), nullable=True),
        _tenant_key("campaign_lists", "campaign_id", "campaigns"),
    )
    op.create_index(
        op.f("ix_campaign_lists_tenant_id_campaign_id_loaded_at"),
        "campaign_lists",
        ["tenant_id", "campaign_id", "loaded_at"],
    )
    op.create_table(
        "campaign_records",
        *_owned("campaign_records"),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("customer_ref", sa.String(length=100), nullable=True),
        sa.Column("phone_digits", sa.String(length=40), nullable=True),
        sa.Column("email_lower", sa.String(length=254), nullable=True),
        sa.Column("dedupe_key", sa.String(length=260), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("fields", JSON, nullable=False),
        sa.Column(
            "state",
            _enum(
                "pending",
                "in_progress",
                "done",
                "exhausted",
                "do_not_contact",
                "closed",
                name="campaign_record_state",
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at", nullable=True),
        _at("window_closes_at", nullable=True),
        _at("callback_at", nullable=True),
        sa.Column("callback_agent_id", sa.Uuid(), nullable=True),
        _at("last_attempt_at", nullable=True),
        _at("retry_after", nullable=True),
        sa.Column("last_disposition", sa.String(length=64), nullable=True),
        sa.Column("current_contact_id", sa.Uuid(), nullable=True),
        _at("reached_at", nullable=True),
        _at("succeeded_at", nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["callback_agent_id"],
            ["agents.id"],
            name=op.f("fk_campaign_records_callback_agent_id_agents"),
        ),
        _tenant_key("campaign_records", "campaign_id", "campaigns"),
        _tenant_key("campaign_records", "list_id", "campaign_lists"),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "dedupe_key",
            name=op.f("uq_campaign_records_tenant_id_campaign_id_dedupe_key"),
        ),
    )
    op.create_index(
        op.f("ix_campaign_records_tenant_id_campaign_id_state_next_attempt_at"),
        "campaign_records",
        ["tenant_id", "campaign_id", "state", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_campaign_records_tenant_id_phone_digits"),
        "campaign_records",
        ["tenant_id", "phone_digits"],
    )
    op.create_index(
        op.f("ix_campaign_records_tenant_id_email_lower"),
        "campaign_records",
        ["tenant_id", "email_lower"],
    )
    op.create_table(
        "do_not_contact",
        *_owned("do_not_contact"),
        sa.Column("kind", _enum(*DNC_KINDS, name="dnc_kind"), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", _enum(*DNC_SOURCES, name="dnc_source"), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("added_by_user_id", sa.Uuid(), nullable=True),
        _at("created_at"),
        sa.UniqueConstraint(
            "tenant_id", "kind", "value", name=op.f("uq_do_not_contact_tenant_id_kind_value")
        ),
    )
    op.create_table(
        "bpo_do_not_contact",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", _enum(*DNC_KINDS, name="dnc_kind"), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", _enum(*DNC_SOURCES, name="dnc_source"), nullable=False),
        sa.Column("added_by_user_id", sa.Uuid(), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bpo_do_not_contact")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_bpo_do_not_contact_kind_value")),
    )
    # Plain ADD COLUMN on both: a batch copy of contacts would rewrite the biggest table.
    for column, parent in (
        ("campaign_id", "campaigns"),
        ("campaign_record_id", "campaign_records"),
    ):
        if _is_postgresql():
            op.add_column("contacts", sa.Column(column, sa.Uuid(), nullable=True))
            op.create_foreign_key(
                op.f(f"fk_contacts_tenant_id_{column}_{parent}"),
                "contacts",
                parent,
                ["tenant_id", column],
                ["tenant_id", "id"],
            )
        else:
            # SQLite takes a key inline in ADD COLUMN (Alembic's op would ask for a batch copy).
            op.execute(
                f"ALTER TABLE contacts ADD COLUMN {column} CHAR(32) REFERENCES {parent} (id)"
            )
    op.create_index(
        op.f("ix_contacts_tenant_id_campaign_id_received_at"),
        "contacts",
        ["tenant_id", "campaign_id", "received_at"],
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_contacts_tenant_id_campaign_record_id"),
        "contacts",
        ["tenant_id", "campaign_record_id"],
        postgresql_where=sa.text("campaign_record_id IS NOT NULL"),
        sqlite_where=sa.text("campaign_record_id IS NOT NULL"),
    )
    # Rate cards say how campaigns are billed; earlier versions bill none specially.
    op.add_column("rate_cards", sa.Column("campaign_prices", JSON, nullable=True))
    op.execute("UPDATE rate_cards SET campaign_prices = '[]'")
    with op.batch_alter_table("rate_cards") as batch:
        batch.alter_column("campaign_prices", existing_type=JSON, nullable=False)
    if _is_postgresql():
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table}"
                f" USING ({TENANT_RULE}) WITH CHECK ({WRITE_RULE})"
            )
            op.execute(
                f"CREATE POLICY tenant_isolation_delete ON {table} AS RESTRICTIVE FOR DELETE"
                f" USING ({WRITE_RULE})"
            )


def downgrade() -> None:
    with op.batch_alter_table("rate_cards") as batch:
        batch.drop_column("campaign_prices")
    op.drop_index(op.f("ix_contacts_tenant_id_campaign_record_id"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_tenant_id_campaign_id_received_at"), table_name="contacts")
    if _is_postgresql():
        op.drop_column("contacts", "campaign_record_id")
        op.drop_column("contacts", "campaign_id")
    else:
        with op.batch_alter_table("contacts") as batch:
            batch.drop_column("campaign_record_id")
            batch.drop_column("campaign_id")
    # Dropping a table drops its indexes and policies.
    op.drop_table("bpo_do_not_contact")
    for table in reversed(TABLES):
        op.drop_table(table)
