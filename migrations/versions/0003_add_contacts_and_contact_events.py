"""add contacts and contact events

Contacts (issue 4) with their lifecycle timestamps and handle-time counters, the append-only
contact events, and each tenant's reopen window. Both new tables are tenant-owned and get the
same forced row-level security as the earlier revisions (copied, so this one never changes).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:22:05.244362
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = ("contacts", "contact_events")

POLICY_USING = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = ANY (string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])
"""
POLICY_CHECK = """
    current_setting('app.unscoped', true) = 'on'
    OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
"""


def enable_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY_USING}) WITH CHECK ({POLICY_CHECK})"
    )
    # DELETE is checked against USING alone: restrict it to the single tenant in scope too.
    op.execute(
        f"CREATE POLICY tenant_isolation_delete ON {table} AS RESTRICTIVE FOR DELETE"
        f" USING ({POLICY_CHECK})"
    )


def upgrade() -> None:
    op.create_table('contacts',
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('channel', sa.Enum('voice', 'email', 'chat', 'web', 'social', name='channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='direction', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('category', sa.Enum('complaint', 'claim', 'information_request', 'suggestion', 'compliment', 'order_request', 'incident', name='category', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('priority', sa.Enum('low', 'normal', 'high', 'urgent', name='priority', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('priority_rank', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('customer_email', sa.String(length=254), nullable=True),
    sa.Column('customer_phone', sa.String(length=40), nullable=True),
    sa.Column('customer_ref', sa.String(length=100), nullable=True),
    sa.Column('customer_key', sa.String(length=260), nullable=True),
    sa.Column('customer_contact_number', sa.Integer(), nullable=False),
    sa.Column('remedy_requested', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('compensation_amount', sa.Integer(), nullable=True),
    sa.Column('queue_id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('department_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.Enum('queued', 'assigned', 'active', 'waiting_customer', 'escalated', 'on_hold', 'resolved', 'closed', 'reopened', 'abandoned', name='contact_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disposition', sa.String(length=64), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('abandoned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queue_wait_seconds', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.Column('hold_seconds', sa.Integer(), nullable=False),
    sa.Column('acw_seconds', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_contacts_agent_id_agents')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_contacts_department_id_departments')),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_contacts_queue_id_queues')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contacts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('tenant_id', 'external_id', name=op.f('uq_contacts_tenant_id_external_id'))
    )
    op.create_index(op.f('ix_contacts_tenant_id'), 'contacts', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_contacts_tenant_id_agent_id_status'), 'contacts', ['tenant_id', 'agent_id', 'status'], unique=False)
    op.create_index(op.f('ix_contacts_tenant_id_created_at'), 'contacts', ['tenant_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_contacts_tenant_id_customer_key_category_received_at'), 'contacts', ['tenant_id', 'customer_key', 'category', 'received_at'], unique=False)
    op.create_index(op.f('ix_contacts_tenant_id_queue_id_status_priority_rank_queued_at'), 'contacts', ['tenant_id', 'queue_id', 'status', 'priority_rank', 'queued_at'], unique=False)
    op.create_table('contact_events',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('actor_user_id', sa.Uuid(), nullable=True),
    sa.Column('actor_client_id', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_events_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_events'))
    )
    op.create_index(op.f('ix_contact_events_tenant_id'), 'contact_events', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_contact_events_tenant_id_contact_id_occurred_at'), 'contact_events', ['tenant_id', 'contact_id', 'occurred_at'], unique=False)
    op.add_column('tenants', sa.Column('reopen_window_days', sa.Integer(), nullable=False, server_default='30'))

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            enable_rls(table)

def downgrade() -> None:
    op.drop_column('tenants', 'reopen_window_days')
    op.drop_index(op.f('ix_contact_events_tenant_id_contact_id_occurred_at'), table_name='contact_events')
    op.drop_index(op.f('ix_contact_events_tenant_id'), table_name='contact_events')
    op.drop_table('contact_events')
    op.drop_index(op.f('ix_contacts_tenant_id_queue_id_status_priority_rank_queued_at'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_tenant_id_customer_key_category_received_at'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_tenant_id_created_at'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_tenant_id_agent_id_status'), table_name='contacts')
    op.drop_index(op.f('ix_contacts_tenant_id'), table_name='contacts')
    op.drop_table('contacts')
