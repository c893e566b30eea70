"""A client firm's lifecycle: suspend, activate, offboard (with its data export), purge."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from app.db import Base, db
from tenants.models import Tenant, TenantExport, User
from tenants.scoping import is_tenant_owned, unscoped
from tests.factories import one_row_of_everything
from tests.http_helpers import assert_problem, audit_actions, audit_entries


def _url(tenant, action: str = "") -> str:
    return f"/v1/tenants/{tenant.id}" + (f"/{action}" if action else "")


def _tenant_row(app, tenant_id) -> Tenant | None:
    with app.app_context():
        return db.session.get(Tenant, tenant_id)


def _tenant_owned_tables() -> set[str]:
    return {m.local_table.name for m in Base.registry.mappers if is_tenant_owned(m.class_)}


def _rows_of(app, tenant_id) -> dict[str, int]:
    """Rows of this tenant in every tenant-owned table, read unscoped (no filter can hide any)."""
    counts = {}
    with app.app_context():
        # The test looks at the whole database, past any tenant scope.
        with unscoped():
            for mapper in Base.registry.mappers:
                if is_tenant_owned(mapper.class_):
                    cls = mapper.class_
                    counts[mapper.local_table.name] = db.session.scalar(
                        select(func.count()).select_from(cls).where(cls.tenant_id == tenant_id)
                    )
    return counts


def _offboard(client, admin, tenant, **body):
    response = client.post(_url(tenant, "offboard"), json=body or None, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _ndjson(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


# --- suspend and activate --------------------------------------------------------------------


def test_a_bpo_admin_suspends_a_firm_whose_data_stays_readable(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    viewer = factory.caller("client_viewer", tenant)

    response = client.post(
        _url(tenant, "suspend"), json={"reason": "Unpaid invoices"}, headers=admin.headers
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "suspended"
    assert body["suspended_at"] is not None
    assert _tenant_row(app, tenant.id).status == "suspended"
    [entry] = audit_entries(app, "tenant.suspended")
    assert (entry.tenant_id, entry.target_id, entry.actor_user_id) == (
        tenant.id,
        str(tenant.id),
        admin.user_id,
    )
    assert entry.details["reason"] == "Unpaid invoices"
    read = client.get(_url(tenant), headers=viewer.headers)
    assert read.status_code == 200
    assert read.get_json()["status"] == "suspended"


def test_a_suspended_firm_is_activated_again(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    client.post(_url(tenant, "suspend"), headers=admin.headers)

    response = client.post(_url(tenant, "activate"), headers=admin.headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "active"
    assert response.get_json()["suspended_at"] is None
    assert audit_actions(app, target_id=tenant.id)[-2:] == ["tenant.suspended", "tenant.activated"]


def test_illegal_moves_are_409_naming_the_allowed_ones(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    activate_active = client.post(_url(tenant, "activate"), headers=admin.headers)
    client.post(_url(tenant, "suspend"), headers=admin.headers)
    suspend_suspended = client.post(_url(tenant, "suspend"), headers=admin.headers)

    body = assert_problem(activate_active, 409)
    assert body["allowed_actions"] == ["suspend", "offboard"]
    assert "suspend, offboard" in body["detail"]
    body = assert_problem(suspend_suspended, 409)
    assert body["allowed_actions"] == ["activate", "offboard"]
    assert "activate, offboard" in body["detail"]
    assert audit_actions(app, target_id=tenant.id).count("tenant.suspended") == 1


def test_an_offboarded_firm_allows_reads_only(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    _offboard(client, admin, tenant)
    etag = client.get(_url(tenant), headers=admin.headers).headers["ETag"]

    for action in ("suspend", "activate", "offboard"):
        body = assert_problem(client.post(_url(tenant, action), headers=admin.headers), 409)
        assert "read-only" in body["detail"], action
    patch = client.patch(
        _url(tenant), json={"name": "Back"}, headers={**admin.headers, "If-Match": etag}
    )
    assert_problem(patch, 409)
    assert client.get(_url(tenant), headers=admin.headers).get_json()["status"] == "offboarded"
    assert len(audit_entries(app, "tenant.offboarded")) == 1


def test_only_a_bpo_admin_moves_a_firm_through_its_lifecycle(client, factory):
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    supervisor = factory.caller("supervisor", tenant)

    for caller in (client_admin, supervisor):
        for action in ("suspend", "activate", "offboard"):
            response = client.post(_url(tenant, action), headers=caller.headers)
            assert_problem(response, 403)
    assert client.get(_url(tenant), headers=client_admin.headers).get_json()["status"] == "active"


def test_a_lifecycle_reason_is_validated(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    response = client.post(
        _url(tenant, "suspend"), json={"reason": "x" * 501, "status": "x"}, headers=admin.headers
    )

    body = assert_problem(response, 422)
    assert set(body["errors"]["json"]) == {"reason", "status"}


# --- offboarding -----------------------------------------------------------------------------


def test_offboarding_exports_marks_for_deletion_and_revokes_api_clients(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    integration = factory.caller("integration", tenant)
    assert client.get("/v1/tenants", headers=integration.headers).status_code == 200

    body = _offboard(client, admin, tenant, reason="Contract ended")

    assert body["tenant"]["status"] == "offboarded"
    row = _tenant_row(app, tenant.id)
    assert row.offboarded_at is not None
    assert row.purge_after == row.offboarded_at + timedelta(days=30)
    assert body["tenant"]["purge_after"] == row.purge_after.isoformat()
    export = body["export"]
    assert export["row_count"] > 0 and len(export["sha256"]) == 64
    assert_problem(client.get("/v1/tenants", headers=integration.headers), 401)
    record = factory.api_client_record(integration.client_id)
    assert record.revoked_at is not None
    actions = audit_actions(app)
    assert {"tenant.exported", "tenant.offboarded", "api_client.revoked"} <= set(actions)
    assert actions.index("tenant.exported") < actions.index("tenant.offboarded")
    [offboarded] = audit_entries(app, "tenant.offboarded")
    assert offboarded.details["export_id"] == export["id"]
    assert offboarded.details["reason"] == "Contract ended"
    assert offboarded.details["api_clients_revoked"] == 1
    [exported] = audit_entries(app, "tenant.exported")
    assert (exported.tenant_id, exported.target_id) == (tenant.id, export["id"])


def test_the_retention_period_comes_from_the_configuration(app, client, factory, monkeypatch):
    monkeypatch.setitem(app.config, "OFFBOARDING_RETENTION_DAYS", 7)
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    _offboard(client, admin, tenant)

    row = _tenant_row(app, tenant.id)
    assert row.purge_after - row.offboarded_at == timedelta(days=7)


def test_a_suspended_firm_can_be_offboarded(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    client.post(_url(tenant, "suspend"), headers=admin.headers)

    assert _offboard(client, admin, tenant)["tenant"]["status"] == "offboarded"


def test_the_export_holds_every_tenant_owned_table_and_nothing_else(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant, other = factory.tenant(), factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    integration = factory.caller("integration", tenant)
    mine = one_row_of_everything(app, tenant)
    theirs = one_row_of_everything(app, other)
    factory.caller("client_admin", other)

    export = _offboard(client, admin, tenant)["export"]
    response = client.get(_url(tenant, f"exports/{export['id']}"), headers=client_admin.headers)

    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.endswith('.ndjson"')
    assert tenant.slug in disposition
    raw = response.get_data()
    assert hashlib.sha256(raw).hexdigest() == export["sha256"]
    assert len(raw) == export["size_bytes"]
    lines = _ndjson(response)
    assert len(lines) == export["row_count"]
    tables = {line["table"] for line in lines}
    assert tables == {"tenants", "users"} | _tenant_owned_tables()
    # Every row is the tenant's own: no other firm's, no BPO-wide one.
    assert [line["row"]["id"] for line in lines if line["table"] == "tenants"] == [str(tenant.id)]
    for line in lines:
        if line["table"] not in ("tenants", "users"):
            assert line["row"]["tenant_id"] == str(tenant.id), line
    text = raw.decode()
    for object_id in theirs.values():
        assert str(object_id) not in text
    assert str(other.id) not in text and other.slug not in text
    for object_id in (v for k, v in mine.items() if k != "agent"):
        assert str(object_id) in text
    # Users: the firm's own people, public fields only; no secret or secret digest anywhere.
    users = [line["row"] for line in lines if line["table"] == "users"]
    assert [u["id"] for u in users] == [str(client_admin.user_id)]
    # The person's chosen language is theirs (data rights); password hashes never leave.
    assert set(users[0]) == {
        "id",
        "email",
        "name",
        "is_active",
        "language",
        "created_at",
        "updated_at",
    }
    columns = {column for line in lines for column in line["row"]}
    assert not {c for c in columns if "password" in c or "secret" in c or c.endswith("_hash")}
    assert "$argon2" not in text
    assert integration.client_secret not in text
    [client_row] = [line["row"] for line in lines if line["table"] == "api_clients"]
    assert client_row["client_id"] == integration.client_id
    # Formats: times RFC 3339 with offset, ids as strings, bytes left out.
    assert users[0]["created_at"].endswith("+00:00")
    exports = [line["row"] for line in lines if line["table"] == "tenant_exports"]
    assert exports and all("content" not in row for row in exports)
    keyed = [line["row"] for line in lines if line["table"] == "idempotency_records"]
    assert keyed and all("body" not in row for row in keyed)
    assert "tenant.export_downloaded" in audit_actions(app, target_id=export["id"])


def test_the_stored_export_is_gzip_of_the_downloaded_lines(app, client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()

    export = _offboard(client, admin, tenant)["export"]
    download = client.get(_url(tenant, f"exports/{export['id']}"), headers=admin.headers)

    with app.app_context():
        # The export row is the tenant's; read it as the test, past any scope.
        with unscoped():
            stored = db.session.get(TenantExport, uuid.UUID(export["id"]))
            assert gzip.decompress(stored.content) == download.get_data()
            assert stored.created_by_user_id == admin.user_id


def test_exports_are_listed_without_content_for_bpo_and_client_admins(client, factory):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    client_admin = factory.caller("client_admin", tenant)
    viewer = factory.caller("client_viewer", tenant)
    export = _offboard(client, admin, tenant)["export"]

    for caller in (admin, client_admin):
        listed = client.get(_url(tenant, "exports"), headers=caller.headers)
        assert listed.status_code == 200
        assert listed.get_json() == [export]
        assert "content" not in listed.get_json()[0]
    assert_problem(client.get(_url(tenant, "exports"), headers=viewer.headers), 403)
    assert_problem(client.get(_url(tenant, f"exports/{export['id']}"), headers=viewer.headers), 403)
    assert_problem(
        client.get(_url(tenant, f"exports/{uuid.uuid4()}"), headers=client_admin.headers), 404
    )


def test_another_firms_admin_cannot_reach_an_export(client, factory):
    admin = factory.caller("bpo_admin")
    tenant, other = factory.tenant(), factory.tenant()
    outsider = factory.caller("client_admin", other)
    export = _offboard(client, admin, tenant)["export"]

    assert_problem(
        client.get(_url(tenant, f"exports/{export['id']}"), headers=outsider.headers), 404
    )
    assert_problem(client.get(_url(other, f"exports/{export['id']}"), headers=admin.headers), 404)


def test_the_openapi_document_says_the_export_is_ndjson(client):
    spec = client.get("/openapi.json").get_json()

    download = spec["paths"]["/v1/tenants/{tenant_id}/exports/{export_id}"]["get"]
    assert "application/x-ndjson" in download["responses"]["200"]["content"]
    assert "NDJSON" in download["summary"]
    for action in ("suspend", "activate", "offboard"):
        assert (
            "tenants:admin"
            in spec["paths"][f"/v1/tenants/{{tenant_id}}/{action}"]["post"]["description"]
        )


# --- purge -----------------------------------------------------------------------------------


def _purge(runner, *args):
    result = runner.invoke(args=["tenants", "purge", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_purge_deletes_a_firm_past_retention_and_keeps_the_audit_log(
    app, client, factory, runner, monkeypatch
):
    admin = factory.caller("bpo_admin")
    gone, kept, waiting = factory.tenant(), factory.tenant(), factory.tenant()
    gone_admin = factory.caller("client_admin", gone)
    gone_supervisor = factory.caller("supervisor", gone)
    factory.caller("integration", gone)
    one_row_of_everything(app, gone)
    one_row_of_everything(app, kept)
    factory.caller("client_admin", kept)
    kept_rows = _rows_of(app, kept.id)
    monkeypatch.setitem(app.config, "OFFBOARDING_RETENTION_DAYS", 0)
    _offboard(client, admin, gone)
    monkeypatch.setitem(app.config, "OFFBOARDING_RETENTION_DAYS", 30)
    _offboard(client, admin, waiting)
    audit_before = audit_actions(app)
    gone_audit_rows = _rows_of(app, gone.id)["audit_logs"]

    output = _purge(runner)

    assert f"purged {gone.slug}" in output and waiting.slug not in output
    assert "1 user(s) deleted" in output
    assert _tenant_row(app, gone.id) is None
    # Every row the firm owned is gone, except its audit trail, which has one entry more.
    left = {table: n for table, n in _rows_of(app, gone.id).items() if n}
    assert left == {"audit_logs": gone_audit_rows + 1}
    with app.app_context():
        assert db.session.get(User, gone_admin.user_id) is None
        # BPO staff keep their accounts, even with no firm left to supervise.
        assert db.session.get(User, gone_supervisor.user_id) is not None
    assert _rows_of(app, kept.id) == kept_rows
    assert _tenant_row(app, waiting.id).status == "offboarded"
    assert audit_actions(app) == [*audit_before, "tenant.purged"]
    [purged] = audit_entries(app, "tenant.purged")
    assert (purged.tenant_id, purged.target_id) == (gone.id, str(gone.id))
    assert purged.details["slug"] == gone.slug
    assert purged.details["rows"]["queues"] == 1
    assert "audit_logs" not in purged.details["rows"]  # kept, so not counted as purged
    assert purged.details["users_deleted"] == 1


def test_purging_twice_is_harmless(app, client, factory, runner, monkeypatch):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    monkeypatch.setitem(app.config, "OFFBOARDING_RETENTION_DAYS", 0)
    _offboard(client, admin, tenant)

    first = _purge(runner)
    second = _purge(runner)

    assert f"purged {tenant.slug}" in first
    assert second.strip().splitlines()[-1] == "nothing to purge"
    assert len(audit_entries(app, "tenant.purged")) == 1


def test_a_dry_run_purges_nothing(app, client, factory, runner, monkeypatch):
    admin = factory.caller("bpo_admin")
    tenant = factory.tenant()
    factory.caller("client_admin", tenant)
    monkeypatch.setitem(app.config, "OFFBOARDING_RETENTION_DAYS", 0)
    _offboard(client, admin, tenant)
    before = _rows_of(app, tenant.id)

    output = _purge(runner, "--dry-run")

    assert f"would purge {tenant.slug}" in output
    assert "memberships 1" in output
    assert _tenant_row(app, tenant.id) is not None
    assert _rows_of(app, tenant.id) == before
    assert audit_entries(app, "tenant.purged") == []


def test_purge_leaves_active_and_suspended_firms_alone(app, client, factory, runner):
    admin = factory.caller("bpo_admin")
    active, suspended = factory.tenant(), factory.tenant()
    client.post(_url(suspended, "suspend"), headers=admin.headers)

    assert _purge(runner).strip().splitlines()[-1] == "nothing to purge"
    assert _tenant_row(app, active.id).status == "active"
    assert _tenant_row(app, suspended.id).status == "suspended"
