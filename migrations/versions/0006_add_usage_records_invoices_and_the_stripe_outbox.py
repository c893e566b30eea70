"""add usage records invoices and the stripe outbox

Billing (issue 6): one usage record per handled contact, each tenant's billing account (its
Stripe customer and grace period), invoices frozen per month with their lines, the outbox the
worker pushes to Stripe, and the Stripe events already processed (BPO-level, no tenant). Every
tenant-owned table gets forced row-level security in the form of revision 0005 (each setting
read once per statement).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 22:58:57.066363
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = ("billing_accounts", "usage_records", "invoices", "invoice_lines", "billing_outbox")

POLICY_USING = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ','))::uuid[])
"""
POLICY_CHECK = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
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
    op.create_table('stripe_events',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('invoice_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stripe_events_event_id'))
    )
    op.create_table('billing_accounts',
    sa.Column('stripe_customer_id', sa.String(length=64), nullable=True),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_accounts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_accounts')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_billing_accounts_tenant_id'))
    )
    op.create_index(op.f('ix_billing_accounts_tenant_id'), 'billing_accounts', ['tenant_id'], unique=False)
    op.create_table('invoices',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.Enum('closed', 'finalized', 'paid', 'payment_failed', 'void', name='invoice_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('usage_count', sa.Integer(), nullable=False),
    sa.Column('subtotal', sa.Integer(), nullable=False),
    sa.Column('minimum_topup', sa.Integer(), nullable=False),
    sa.Column('credit_amount', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('sla_figures', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=64), nullable=True),
    sa.Column('finalized_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_invoices_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('tenant_id', 'period', name=op.f('uq_invoices_tenant_id_period'))
    )
    op.create_index(op.f('ix_invoices_tenant_id'), 'invoices', ['tenant_id'], unique=False)
    op.create_table('billing_outbox',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('invoice_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'dead', name='outbox_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_billing_outbox_invoice_id_invoices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_billing_outbox_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_outbox')),
    sa.UniqueConstraint('tenant_id', 'kind', 'invoice_id', name=op.f('uq_billing_outbox_tenant_id_kind_invoice_id'))
    )
    op.create_index(op.f('ix_billing_outbox_status_next_attempt_at'), 'billing_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_billing_outbox_tenant_id'), 'billing_outbox', ['tenant_id'], unique=False)
    op.create_table('invoice_lines',
    sa.Column('invoice_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('usage', 'minimum_topup', 'sla_credit', name='invoice_line_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('direction', sa.String(length=32), nullable=True),
    sa.Column('tier', sa.Integer(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_amount', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('stripe_invoice_item_id', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_invoice_lines_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines')),
    sa.UniqueConstraint('tenant_id', 'invoice_id', 'position', name=op.f('uq_invoice_lines_tenant_id_invoice_id_position'))
    )
    op.create_index(op.f('ix_invoice_lines_tenant_id'), 'invoice_lines', ['tenant_id'], unique=False)
    op.create_table('usage_records',
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=32), nullable=False),
    sa.Column('rate_card_id', sa.Uuid(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('unit_amount', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('billable', 'voided', name='usage_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.Column('voided_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_usage_records_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rate_card_id'], ['rate_cards.id'], name=op.f('fk_usage_records_rate_card_id_rate_cards')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_usage_records_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_records')),
    sa.UniqueConstraint('tenant_id', 'contact_id', name=op.f('uq_usage_records_tenant_id_contact_id'))
    )
    op.create_index(op.f('ix_usage_records_tenant_id'), 'usage_records', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_usage_records_tenant_id_period_status'), 'usage_records', ['tenant_id', 'period', 'status'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            enable_rls(table)


def downgrade() -> None:
    op.drop_index(op.f('ix_usage_records_tenant_id_period_status'), table_name='usage_records')
    op.drop_index(op.f('ix_usage_records_tenant_id'), table_name='usage_records')
    op.drop_table('usage_records')
    op.drop_index(op.f('ix_invoice_lines_tenant_id'), table_name='invoice_lines')
    op.drop_table('invoice_lines')
    op.drop_index(op.f('ix_billing_outbox_tenant_id'), table_name='billing_outbox')
    op.drop_index(op.f('ix_billing_outbox_status_next_attempt_at'), table_name='billing_outbox')
    op.drop_table('billing_outbox')
    op.drop_index(op.f('ix_invoices_tenant_id'), table_name='invoices')
    op.drop_table('invoices')
    op.drop_index(op.f('ix_billing_accounts_tenant_id'), table_name='billing_accounts')
    op.drop_table('billing_accounts')
    op.drop_table('stripe_events')
