"""The tenant scoping layer: the filter nobody can forget, and the error with nothing in scope."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import exists, func, insert, select, text, union_all, update
from sqlalchemy.orm import aliased

from app.contacts.models import Contact
from app.db import db, utcnow
from tenants import scoping
from tenants.models import ApiClient, AuditLog, Membership, Tenant
from tenants.scoping import TenantScopeError, tenant_scope, tenants_scope, unscoped
from tests.factories import one_row_of_everything


def test_reading_tenant_data_with_no_tenant_in_scope_raises(app, factory):
    factory.tenant()
    with app.app_context(), pytest.raises(TenantScopeError, match="no tenant in scope"):
        db.session.scalars(select(AuditLog)).all()


def test_a_tenant_scope_reads_only_that_tenants_rows(app, factory):
    a, b = factory.tenant(), factory.tenant()
    with app.app_context():
        with tenant_scope(a.id):
            rows = db.session.scalars(select(AuditLog)).all()
        assert rows and {r.tenant_id for r in rows} == {a.id}
        with tenant_scope(b.id):
            assert {r.tenant_id for r in db.session.scalars(select(AuditLog))} == {b.id}


def test_a_multi_tenant_scope_reads_the_set_and_nothing_else(app, factory):
    a, b, c = factory.tenant(), factory.tenant(), factory.tenant()
    with app.app_context(), tenants_scope([a.id, b.id]):
        seen = {r.tenant_id for r in db.session.scalars(select(AuditLog))}
    assert seen == {a.id, b.id}
    assert c.id not in seen


def test_new_rows_are_stamped_with_the_tenant_in_scope(app, factory):
    a = factory.tenant()
    with app.app_context():
        with tenant_scope(a.id):
            entry = AuditLog(action="test.stamp", target_type="test")
            db.session.add(entry)
            db.session.flush()
            assert entry.tenant_id == a.id
        db.session.rollback()


def test_writing_a_row_of_another_tenant_is_refused(app, factory):
    a, b = factory.tenant(), factory.tenant()
    with app.app_context(), tenant_scope(a.id):
        db.session.add(AuditLog(tenant_id=b.id, action="test.cross", target_type="test"))
        with pytest.raises(TenantScopeError, match="out of scope"):
            db.session.flush()
        db.session.rollback()


def test_moving_a_row_between_tenants_is_refused(app, factory):
    a, b = factory.tenant(), factory.tenant()
    factory.integration_client(a)
    with app.app_context(), unscoped():
        client = db.session.scalar(select(ApiClient).where(ApiClient.tenant_id == a.id))
        client.tenant_id = b.id
        with pytest.raises(TenantScopeError, match="moved between tenants"):
            db.session.flush()
        db.session.rollback()


def test_bulk_updates_are_filtered_to_the_tenant_in_scope(app, factory):
    a, b = factory.tenant(), factory.tenant()
    factory.integration_client(a)
    factory.integration_client(b)
    with app.app_context():
        with tenant_scope(a.id):
            db.session.execute(update(ApiClient).values(name="renamed"))
            db.session.commit()
        with unscoped():
            names = {c.tenant_id: c.name for c in db.session.scalars(select(ApiClient))}
    assert names[a.id] == "renamed"
    assert names[b.id] == "integration"


def test_a_multi_tenant_scope_cannot_create_rows_without_naming_the_tenant(app, factory):
    a, b = factory.tenant(), factory.tenant()
    user = factory.user("agent")
    with app.app_context(), tenants_scope([a.id, b.id]):
        db.session.add(Membership(user_id=user.id, role="client_viewer"))
        with pytest.raises(TenantScopeError, match="multi-tenant scope"):
            db.session.flush()
        db.session.rollback()


def test_platform_rows_are_invisible_inside_a_tenant_scope(app, factory):
    a = factory.tenant()
    factory.user("bpo_admin")
    with app.app_context():
        with tenant_scope(a.id):
            assert all(m.tenant_id == a.id for m in db.session.scalars(select(Membership)))
        with unscoped():
            assert any(m.tenant_id is None for m in db.session.scalars(select(Membership)))


def test_the_orm_filter_switch_exists_only_to_prove_rls(monkeypatch):
    # Guard: the switch must default to on.
    assert scoping.ORM_FILTER_ENABLED is True


# --- every statement, not only the top-level entities (on both databases) --------------------
# Each tenant made by the factory has written exactly one audit entry (its creation).


def _two_tenants(db_factory):
    return db_factory.tenant(), db_factory.tenant()


def test_a_count_over_select_from_counts_only_the_tenants_rows(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    with db_app.app_context(), tenant_scope(a.id):
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 1
        # No entity at all, only a column in the WHERE clause.
        assert db.session.scalar(select(func.count()).where(AuditLog.action != "none")) == 1


def test_a_count_over_a_subquery_counts_only_the_tenants_rows(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    with db_app.app_context(), tenant_scope(a.id):
        inner = select(AuditLog).order_by(AuditLog.occurred_at).subquery()
        assert db.session.scalar(select(func.count()).select_from(inner)) == 1
        ids = select(AuditLog.id).subquery()
        assert len(db.session.scalars(select(ids.c.id)).all()) == 1
        scalar = select(func.count(AuditLog.id)).scalar_subquery()
        assert db.session.scalar(select(scalar)) == 1


def test_a_cte_reads_only_the_tenants_rows(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    with db_app.app_context(), tenant_scope(a.id):
        entries = select(AuditLog.tenant_id).cte("entries")
        assert db.session.scalars(select(entries.c.tenant_id)).all() == [a.id]


def test_a_correlated_exists_sees_only_the_tenants_rows(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    with db_app.app_context(), tenant_scope(a.id):
        audited = exists(select(AuditLog.id).where(AuditLog.tenant_id == Tenant.id))
        assert db.session.scalars(select(Tenant.id).where(audited)).all() == [a.id]


def test_every_member_of_a_union_reads_only_the_tenants_rows(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    with db_app.app_context(), tenant_scope(a.id):
        both = union_all(select(AuditLog.tenant_id), select(aliased(AuditLog).tenant_id))
        assert db.session.scalars(both).all() == [a.id, a.id]


def test_bare_tables_and_raw_sql_on_tenant_data_are_refused_in_a_tenant_scope(db_app, db_factory):
    a, _b = _two_tenants(db_factory)
    table = AuditLog.__table__
    with db_app.app_context():
        with tenant_scope(a.id):
            with pytest.raises(TenantScopeError, match="named bare"):
                db.session.scalar(select(func.count()).select_from(table))
            with pytest.raises(TenantScopeError, match="named bare"):
                db.session.execute(update(table).values(action="renamed"))
            with pytest.raises(TenantScopeError, match="raw SQL"):
                db.session.scalar(text("SELECT count(*) FROM audit_logs"))
        with pytest.raises(TenantScopeError, match="no tenant in scope"):
            db.session.scalar(select(func.count()).select_from(table))
        # What spans tenants on purpose still may, unscoped.
        with unscoped():
            assert db.session.scalar(select(func.count()).select_from(table)) == 2
        db.session.rollback()


def test_a_statement_shape_read_before_never_lets_its_bare_twin_through(db_app, db_factory):
    # What a statement touches is remembered by its shape: the ORM and the bare table's
    # versions of one count, and a raw SQL text differing in one literal, are other shapes.
    a, _b = _two_tenants(db_factory)
    table = AuditLog.__table__
    with db_app.app_context(), tenant_scope(a.id):
        for _ in range(2):
            assert db.session.scalar(select(func.count()).where(AuditLog.action != "x")) == 1
            with pytest.raises(TenantScopeError, match="named bare"):
                db.session.scalar(select(func.count()).where(table.c.action != "x"))
        assert db.session.scalar(text("SELECT count(*) FROM tenants WHERE slug <> 'x'")) == 2
        with pytest.raises(TenantScopeError, match="raw SQL"):
            db.session.scalar(text("SELECT count(*) FROM audit_logs WHERE action <> 'x'"))


def test_an_agent_scope_counts_only_the_contacts_of_its_queues(db_app, db_factory):
    a = db_factory.tenant()
    rows = one_row_of_everything(db_app, a)
    with db_app.app_context():
        with tenant_scope(a.id):
            assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
        with scoping._entered(scoping.single(a.id, queue_ids=frozenset({uuid.uuid4()}))):
            assert db.session.scalar(select(func.count()).select_from(Contact)) == 0
            inner = select(Contact.id).where(Contact.queue_id == rows["queue"]).subquery()
            assert db.session.scalar(select(func.count()).select_from(inner)) == 0


def test_bulk_inserts_are_stamped_with_the_tenant_in_scope_or_refused(db_app, db_factory):
    a, b = _two_tenants(db_factory)
    entry = {"action": "test.bulk", "target_type": "test", "details": {}}
    with db_app.app_context():
        with tenant_scope(a.id):
            db.session.execute(insert(AuditLog), [dict(entry, id=uuid.uuid4()) for _ in "xy"])
            db.session.execute(
                insert(AuditLog.__table__), {**entry, "id": uuid.uuid4(), "occurred_at": utcnow()}
            )
            with pytest.raises(TenantScopeError, match="out of scope"):
                db.session.execute(insert(AuditLog), [{**entry, "tenant_id": b.id}])
            with pytest.raises(TenantScopeError, match="from a SELECT"):
                db.session.execute(
                    insert(AuditLog.__table__).from_select(
                        ["id", "tenant_id", "action", "target_type", "occurred_at"],
                        select(
                            AuditLog.id,
                            AuditLog.tenant_id,
                            AuditLog.action,
                            AuditLog.target_type,
                            AuditLog.occurred_at,
                        ),
                    )
                )
        with tenants_scope([a.id, b.id]), pytest.raises(TenantScopeError, match="multi-tenant"):
            db.session.execute(insert(AuditLog), [entry])
        with unscoped():
            stamped = db.session.scalars(
                select(AuditLog.tenant_id).where(AuditLog.action == "test.bulk")
            ).all()
        assert stamped == [a.id] * 3
        db.session.rollback()
