"""Reading the audit log: the BPO admin reads every entry (`/v1/audit`), a firm's client admin
its firm's own (`/v1/tenants/{id}/audit`) and never the BPO's internal ones nor another firm's;
who, what, which object, when, from which client; filters, pages and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest

from app.db import db
from tenants.models import AuditLog
from tenants.scoping import unscoped
from tests.http_helpers import assert_problem

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entry(app, *, at_minute: int, tenant=None, user_id=None, client_id="web", **fields):
    """An audit entry written by hand, `at_minute` minutes after T0."""
    with app.app_context():
        # Entries of any firm, and the BPO's own, are written here.
        with unscoped():
            row = AuditLog(
                tenant_id=tenant.id if tenant else None,
                occurred_at=T0.replace(minute=at_minute),
                actor_user_id=user_id,
                actor_client_id=client_id,
                request_id=f"req-{at_minute}",
                **{"target_type": "user", "target_id": str(uuid.uuid4()), **fields},
            )
            db.session.add(row)
            db.session.commit()
            return str(row.id)


def read(client, caller, path: str, **args):
    response = client.get(path, query_string=args, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def csv_of(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def log(app, factory):
    """Two firms' entries and the BPO's own, by a named person and by the platform."""
    acme, other = factory.tenant(name="Acme"), factory.tenant(name="Other")
    ana = factory.user("client_admin", acme, email=f"ana-{uuid.uuid4().hex[:6]}@acme.test")
    ids = {
        "role": entry(app, at_minute=1, tenant=acme, user_id=ana.id, action="user.role_changed"),
        "queue": entry(
            app,
            at_minute=2,
            tenant=acme,
            client_id="system",
            action="queue.created",
            target_type="queue",
            target_id="q-1",
            details={"name": "=HYPERLINK(1)"},
        ),
        # The BPO's internal entries that name the firm, and one of no firm.
        "assignments": entry(
            app,
            at_minute=3,
            tenant=acme,
            action="agent.assignments_changed",
            target_type="agent",
        ),
        "supervisor": entry(app, at_minute=4, tenant=acme, action="supervisor.granted"),
        "period": entry(
            app,
            at_minute=5,
            action="billing_period.closed",
            target_type="billing_period",
            target_id="2026-02",
        ),
        "other": entry(app, at_minute=6, tenant=other, action="user.created"),
    }
    return acme, other, ana, ids


def test_a_client_admin_reads_the_firms_own_entries_and_not_the_bpos_internal_ones(
    client, factory, log
):
    acme, _other, ana, ids = log
    admin = factory.caller("client_admin", acme)

    entries = read(client, admin, f"/v1/tenants/{acme.id}/audit")

    # The firm's own entries beyond the two made by hand are its onboarding's (user.created).
    assert [e["id"] for e in entries if e["id"] in ids.values()] == [ids["queue"], ids["role"]]
    assert all(e["tenant_id"] == str(acme.id) for e in entries)
    assert not {e["action"].split(".")[0] for e in entries} & {"agent", "supervisor"}
    [role] = [e for e in entries if e["id"] == ids["role"]]
    assert role["actor"] == {
        "user_id": str(ana.id),
        "name": ana.name,
        "email": ana.email,
        "client_id": "web",
    }
    assert role["occurred_at"] == "2026-03-02T09:01:00+00:00"
    assert role["request_id"] == "req-1" and role["target_type"] == "user"


def test_the_bpo_admin_reads_every_entry_and_narrows_by_firm(client, factory, log):
    acme, _other, _ana, ids = log
    bpo = factory.caller("bpo_admin")

    everything = {e["id"] for e in read(client, bpo, "/v1/audit", page_size=100)}
    assert set(ids.values()) <= everything
    acme_only = read(client, bpo, "/v1/audit", tenant_id=str(acme.id), page_size=100)
    assert {ids["role"], ids["queue"], ids["assignments"], ids["supervisor"]} <= {
        e["id"] for e in acme_only
    }
    assert all(e["tenant_id"] == str(acme.id) for e in acme_only)
    [period] = read(client, bpo, "/v1/audit", target_type="billing_period")
    assert period["id"] == ids["period"] and period["tenant_id"] is None


def test_filters_by_actor_action_object_and_time_combine(client, factory, log):
    acme, _other, ana, ids = log
    admin = factory.caller("client_admin", acme)
    path = f"/v1/tenants/{acme.id}/audit"

    def found(**args):
        return [e["id"] for e in read(client, admin, path, **args)]

    assert found(actor_user_id=str(ana.id)) == [ids["role"]]
    assert found(actor_client_id="system", action="queue.created") == [ids["queue"]]
    assert ids["role"] in found(action="user.")
    assert found(target_type="queue", target_id="q-1") == [ids["queue"]]
    assert found(**{"from": "2026-03-02T09:01:00Z", "to": "2026-03-02T09:02:00Z"}) == [ids["role"]]
    # In the firm's offset: 10:02 in Madrid is 09:02 UTC.
    assert found(**{"from": "2026-03-02T10:02:00+01:00", "to": "2026-03-02T09:03:00Z"}) == [
        ids["queue"]
    ]


def test_entries_come_a_page_at_a_time(client, factory, log):
    _acme, _other, _ana, _ids = log
    bpo = factory.caller("bpo_admin")

    response = client.get(
        "/v1/audit", query_string={"page_size": 2, "page": 2}, headers=bpo.headers
    )
    assert response.status_code == 200
    assert len(response.get_json()) == 2
    assert '"page": 2' in response.headers["X-Pagination"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"from": "2026-03-02T10:00:00Z", "to": "2026-03-02T09:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"action": "x" * 65}, "action"),
        ({"actor_user_id": "ana"}, "actor_user_id"),
    ],
)
def test_bad_filters_are_refused_beside_their_field(client, factory, log, args, field):
    acme, *_ = log
    admin = factory.caller("client_admin", acme)
    response = client.get(f"/v1/tenants/{acme.id}/audit", query_string=args, headers=admin.headers)
    assert_problem(response, 422)
    assert field in response.get_json()["errors"]["query"]


def test_the_csv_holds_every_selected_entry_with_formulas_as_text(client, factory, log):
    acme, _other, ana, ids = log
    admin = factory.caller("client_admin", acme)

    rows = csv_of(
        client.get(
            f"/v1/tenants/{acme.id}/audit",
            query_string={"page_size": 1, "target_type": "queue"},
            headers={**admin.headers, "Accept": "text/csv"},
        )
    )
    [queue] = rows
    assert queue["id"] == ids["queue"] and queue["actor_client_id"] == "system"
    # The details are one JSON cell; a name typed as a formula stays text inside it.
    assert queue["details"] == '{"name": "=HYPERLINK(1)"}'
    named = csv_of(
        client.get(
            f"/v1/tenants/{acme.id}/audit",
            query_string={"actor_user_id": str(ana.id)},
            headers={**admin.headers, "Accept": "text/csv"},
        )
    )
    assert named[0]["actor_email"] == ana.email and named[0]["action"] == "user.role_changed"


def test_an_action_typed_as_a_formula_is_text_in_the_csv(app, client, factory):
    firm = factory.tenant()
    entry(app, at_minute=7, tenant=firm, action="=1+1", target_type="@SUM(A1)")
    admin = factory.caller("client_admin", firm)
    rows = csv_of(
        client.get(
            f"/v1/tenants/{firm.id}/audit",
            query_string={"action": "=1+1"},
            headers={**admin.headers, "Accept": "text/csv"},
        )
    )
    assert [(r["action"], r["target_type"]) for r in rows] == [("'=1+1", "'@SUM(A1)")]


def test_a_client_admin_cannot_read_another_firms_log_nor_the_bpos(client, factory, log):
    acme, other, _ana, _ids = log
    admin = factory.caller("client_admin", acme)

    assert_problem(client.get(f"/v1/tenants/{other.id}/audit", headers=admin.headers), 404)
    assert_problem(client.get("/v1/audit", headers=admin.headers), 403)


@pytest.mark.parametrize("role", ["client_viewer", "integration", "supervisor", "agent"])
def test_other_roles_do_not_read_the_firms_log(client, factory, log, role):
    acme, *_ = log
    caller = factory.caller(role, acme if role != "agent" else None)
    response = client.get(f"/v1/tenants/{acme.id}/audit", headers=caller.headers)
    # An agent serving none of the firm's queues does not reach the firm at all.
    assert_problem(response, 404 if role == "agent" else 403)
    assert_problem(client.get("/v1/audit", headers=caller.headers), 403)


def test_the_firms_own_actions_through_the_api_are_in_its_log(client, factory):
    firm = factory.tenant()
    admin = factory.caller("client_admin", firm)
    made = client.post(
        f"/v1/tenants/{firm.id}/departments",
        json={"kind": "logistics", "name": "Warehouse"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_json()

    [created] = read(client, admin, f"/v1/tenants/{firm.id}/audit", action="department.created")
    assert created["target_id"] == made.get_json()["id"]
    assert created["actor"]["user_id"] == str(admin.user_id)
    assert created["actor"]["client_id"] == admin.client_id
    assert created["request_id"] == made.headers["X-Request-ID"]


def test_a_csv_longer_than_one_batch_is_streamed_whole_in_order_and_only_the_firms(
    app, client, factory, log, monkeypatch
):
    from app.audit import service as audit_service

    acme, _other, _ana, ids = log
    extra = [entry(app, at_minute=10 + i, tenant=acme, action="user.created") for i in range(5)]
    # Two entries a batch: the export reads four batches and more through the cursor.
    monkeypatch.setattr(audit_service, "CSV_BATCH", 2)
    admin = factory.caller("client_admin", acme)

    rows = csv_of(
        client.get(
            f"/v1/tenants/{acme.id}/audit",
            headers={**admin.headers, "Accept": "text/csv"},
        )
    )
    json_ids = [e["id"] for e in read(client, admin, f"/v1/tenants/{acme.id}/audit")]
    assert [r["id"] for r in rows] == json_ids  # every entry, newest first, like the JSON
    assert [r["id"] for r in rows if r["id"] in extra] == extra[::-1]
    assert {r["tenant_id"] for r in rows} == {str(acme.id)}
    internal = {ids["assignments"], ids["supervisor"], ids["period"], ids["other"]}
    assert not internal & {r["id"] for r in rows}

    filtered = csv_of(
        client.get(
            f"/v1/tenants/{acme.id}/audit",
            query_string={
                "action": "user.",
                "from": "2026-03-02T09:11:00Z",
                "to": "2026-03-03T00:00:00Z",
            },
            headers={**admin.headers, "Accept": "text/csv"},
        )
    )
    assert [r["id"] for r in filtered] == extra[:0:-1]

    bpo = factory.caller("bpo_admin")
    everything = csv_of(client.get("/v1/audit", headers={**bpo.headers, "Accept": "text/csv"}))
    assert set(ids.values()) | set(extra) <= {r["id"] for r in everything}
