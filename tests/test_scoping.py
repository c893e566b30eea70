"""The tenant scoping layer: the filter nobody can forget, and the error with nothing in scope."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.db import db
from tenants import scoping
from tenants.models import ApiClient, AuditLog, Membership
from tenants.scoping import TenantScopeError, tenant_scope, tenants_scope, unscoped


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
