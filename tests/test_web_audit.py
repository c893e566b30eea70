"""The audit log's pages: the BPO admin's in the console (every firm, the BPO's own entries
too) and a client admin's in the portal (the firm's own entries), each with its filters as a
form, the CSV of what they select, and nothing of another firm or of the BPO's internal ones."""

from __future__ import annotations

import csv
import io

import pytest

from tests.test_audit_api import entry
from tests.web_helpers import sign_in


@pytest.fixture
def log(app, factory):
    acme, other = factory.tenant(name="Acme"), factory.tenant(name="Other")
    entry(app, at_minute=1, tenant=acme, action="queue.created", target_id="acme-queue")
    entry(app, at_minute=2, tenant=acme, action="supervisor.granted", target_id="acme-staff")
    entry(app, at_minute=3, tenant=other, action="queue.created", target_id="other-queue")
    entry(
        app,
        at_minute=4,
        action="billing_period.closed",
        target_type="billing_period",
        target_id="bpo-period",
    )
    return acme, other


def test_a_client_admin_reads_the_firms_log_in_spanish_and_downloads_it(app, factory, log):
    acme, other = log
    admin = sign_in(app, factory.user("client_admin", acme).email)

    page = admin.get(f"/firms/{acme.id}/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # The firm speaks Spanish.
    assert "Registro de auditoría" in html
    assert "acme-queue" in html
    assert not {"acme-staff", "other-queue", "bpo-period"} & {w for w in html.split() if w}
    assert "acme-staff" not in html and "other-queue" not in html and "bpo-period" not in html

    narrowed = admin.get(f"/firms/{acme.id}/audit?action=user.")
    assert "acme-queue" not in narrowed.get_data(as_text=True)
    download = admin.get(f"/firms/{acme.id}/audit.csv?action=queue.created")
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [r["target_id"] for r in rows] == ["acme-queue"]
    assert admin.get(f"/firms/{other.id}/audit").status_code == 404


def test_a_bad_filter_shows_beside_its_field(app, factory, log):
    acme, _other = log
    admin = sign_in(app, factory.user("client_admin", acme).email)
    page = admin.get(f"/firms/{acme.id}/audit?from=2026-03-02&to=2026-03-01")
    assert page.status_code == 422
    assert 'id="e-to"' in page.get_data(as_text=True)


def test_a_client_viewer_has_no_audit_page(app, factory, log):
    acme, _other = log
    viewer = sign_in(app, factory.user("client_viewer", acme).email)
    assert viewer.get(f"/firms/{acme.id}/audit").status_code == 403
    assert f"/firms/{acme.id}/audit" not in viewer.get(f"/firms/{acme.id}/contacts").get_data(
        as_text=True
    )


def test_the_bpo_admin_reads_every_firms_entries_and_the_bpos_own(app, factory, log):
    acme, _other = log
    bpo = sign_in(app, factory.user("bpo_admin").email)

    html = bpo.get("/console/audit").get_data(as_text=True)
    for target in ("acme-queue", "acme-staff", "other-queue", "bpo-period"):
        assert target in html
    assert 'href="/console/audit"' in html  # in the menu

    only_acme = bpo.get(f"/console/audit?tenant_id={acme.id}").get_data(as_text=True)
    assert "acme-staff" in only_acme and "other-queue" not in only_acme
    download = bpo.get("/console/audit.csv?target_type=billing_period")
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [r["target_id"] for r in rows] == ["bpo-period"]


def test_a_supervisor_has_no_console_audit_page(app, factory, log):
    acme, _other = log
    supervisor = sign_in(app, factory.user("supervisor", acme).email)
    assert supervisor.get("/console/audit").status_code == 403
