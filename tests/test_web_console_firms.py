"""Stories of the BPO's console: the portfolio of firms, onboarding a firm from the form, and a
firm's admin page with its lifecycle and exports."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from app.db import db, utcnow
from app.web import i18n
from tenants.models import Tenant
from tenants.scoping import unscoped
from tests.http_helpers import audit_actions, audit_entries
from tests.test_reports_sla import after, contact, policy, queue_of, store
from tests.web_helpers import csrf_of, sign_in


def text(response) -> str:
    return response.get_data(as_text=True)


def row_of(page: str, tenant_id) -> str:
    """The portfolio row of one firm."""
    match = re.search(rf'<tr data-tenant="{tenant_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {tenant_id}"
    return match.group(1)


def cell(row: str, kpi: str) -> str:
    match = re.search(rf'data-kpi="{kpi}">(.*?)</td>', row, re.S)
    return html.unescape(re.sub(r"<[^>]+>|\s+", " ", match.group(1))).strip()


def firm_order(page: str) -> list[str]:
    return re.findall(r'<tr data-tenant="([^"]+)">', page)


def some_calls(app, tenant, answered_within: int) -> None:
    """A few calls received a minute ago (this month, this week, today in the firm's zone)."""
    queue = queue_of(app, tenant)
    at = utcnow() - timedelta(minutes=1)
    store(
        app,
        tenant,
        [
            contact(queue, at, answered_at=after(at, answered_within)),
            contact(queue, at, answered_at=after(at, 10)),
            contact(queue, at, status="abandoned", abandoned_at=after(at, 3)),
            contact(queue, at, channel="email"),
        ],
    )


def test_bpo_admin_sees_every_firm_with_the_kpis_of_the_portfolio_report(app, client, factory):
    fast, slow = factory.tenant(name="Alpha Fast"), factory.tenant(name="Beta Slow")
    policy(app, slow, service_level_target_bps=9500)
    some_calls(app, fast, answered_within=5)
    some_calls(app, slow, answered_within=90)
    admin = factory.user("bpo_admin")
    api = client.get("/v1/reports/portfolio", headers=factory.caller("bpo_admin").headers)
    assert api.status_code == 200
    web = sign_in(app, admin.email)

    page = web.get("/console/")

    assert page.status_code == 200
    body = text(page)
    rows = api.get_json()["tenants"]
    assert {r["name"] for r in rows} == {"Alpha Fast", "Beta Slow"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for item in rows:
            row = row_of(body, item["tenant_id"])
            assert cell(row, "received") == i18n.number(item["received"])
            assert i18n.percent(item["service_level"]) in cell(row, "service_level")
            assert cell(row, "asa_seconds") == i18n.seconds(item["asa_seconds"])
            assert cell(row, "abandonment_rate") == i18n.percent(item["abandonment_rate"])
            assert cell(row, "backlog_now") == i18n.number(item["backlog_now"])
            assert i18n.number(item["breaches"]) in cell(row, "breaches")
    # Met or missed against each firm's own target, said in words as well as colour.
    assert "met" in cell(row_of(body, fast.id), "service_level")
    assert "missed" in cell(row_of(body, slow.id), "service_level")
    assert f'href="/firms/{fast.id}/dashboard"' in body
    assert f'href="/console/firms/{fast.id}"' in body  # admin actions beside the table


def test_each_kpi_is_judged_against_the_firms_own_contract_targets(app, factory):
    strict, lenient = factory.tenant(name="Strict"), factory.tenant(name="Lenient")
    # One of four calls abandoned: 33% of those offered; ASA 50 s (90 s and 10 s answers).
    policy(app, strict, abandonment_target_bps=1000, asa_target_seconds=30)
    policy(app, lenient, abandonment_target_bps=5000, asa_target_seconds=60)
    for firm in (strict, lenient):
        some_calls(app, firm, answered_within=90)
    web = sign_in(app, factory.user("bpo_admin").email)

    body = text(web.get("/console/"))

    assert "missed" in cell(row_of(body, strict.id), "abandonment_rate")
    assert "missed" in cell(row_of(body, strict.id), "asa_seconds")
    assert "met" in cell(row_of(body, lenient.id), "abandonment_rate")
    assert "met" in cell(row_of(body, lenient.id), "asa_seconds")
    # No AHT target in either contract: the figure is shown, not judged.
    assert "met" not in cell(row_of(body, strict.id), "aht_seconds")


def test_the_portfolio_sorts_by_any_column_and_htmx_gets_only_the_table(app, factory):
    busy, quiet = factory.tenant(name="A Busy"), factory.tenant(name="Z Quiet")
    some_calls(app, busy, answered_within=5)
    web = sign_in(app, factory.user("bpo_admin").email)

    by_name = firm_order(text(web.get("/console/?sort=name&dir=desc")))
    by_received = firm_order(text(web.get("/console/?sort=received&dir=desc")))
    fragment = web.get(
        "/console/?sort=received&dir=asc&period=today", headers={"HX-Request": "true"}
    )

    assert by_name == [str(quiet.id), str(busy.id)]
    assert by_received == [str(busy.id), str(quiet.id)]
    assert fragment.status_code == 200
    assert "<html" not in text(fragment) and firm_order(text(fragment)) == [
        str(quiet.id),
        str(busy.id),
    ]
    assert web.get("/console/?sort=nonsense&period=week").status_code == 200


def test_supervisor_sees_only_the_firms_they_supervise(app, factory):
    mine, other = factory.tenant(name="Supervised Firm"), factory.tenant(name="Someone Else")
    supervisor = factory.user("supervisor", mine)
    web = sign_in(app, supervisor.email)

    page = text(web.get("/console/"))

    assert firm_order(page) == [str(mine.id)]
    assert "Someone Else" not in page
    assert "Onboard a firm" not in page  # no admin actions or onboarding for a supervisor
    assert web.get("/console/firms/new").status_code == 403
    assert web.get(f"/console/firms/{other.id}").status_code == 404
    read_only = web.get(f"/console/firms/{mine.id}")
    assert read_only.status_code == 200 and "Suspend the firm" not in text(read_only)
    refused = web.post(f"/console/firms/{mine.id}/suspend", data={"csrf_token": csrf_of(read_only)})
    assert refused.status_code == 403


def test_client_admin_cannot_open_the_console(app, factory):
    firm = factory.tenant()
    web = sign_in(app, factory.user("client_admin", firm).email)
    assert web.get("/console/").status_code == 403
    assert web.get(f"/console/firms/{firm.id}").status_code == 403


def onboarding_form(page, **changes) -> dict:
    """The form as shown (the defaults) with a profile and these changes."""
    values: dict = {}
    body = text(page)
    inputs = r'<input id="f-[^"]*" name="([^"]+)" type="[^"]*" value="([^"]*)"'
    for name, value in re.findall(inputs, body):
        values[name] = html.unescape(value)
    selects = r'<select id="f-[^"]*" name="([^"]+)"[^>]*>(.*?)</select>'
    for name, options in re.findall(selects, body, re.S):
        values[name] = re.search(r'<option value="([^"]*)" selected', options).group(1)
    for name, value in re.findall(r'name="([^"]+)" value="([^"]+)" checked', body):
        values.setdefault(name, [])
        values[name] = [*values[name], value] if isinstance(values[name], list) else [value]
    values.update(
        {
            "csrf_token": csrf_of(page),
            "name": "Acme Retail",
            "slug": "acme-retail",
            "time_zone": "Europe/Madrid",
            "locale": "es-ES",
            "currency": "EUR",
            "calendar.holiday_country": "ES",
            "calendar.closures": "2030-12-24\n",
            "first_admin.name": "Ana Ruiz",
            "first_admin.email": "ana@acme.example",
        }
    )
    values.update(changes)
    return values


def tenant_count(app) -> int:
    with app.app_context(), unscoped():
        return db.session.scalar(select(func.count()).select_from(Tenant))


def test_onboarding_through_the_form_creates_the_firm_the_api_then_shows(app, client, factory):
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/firms/new")
    assert page.status_code == 200
    assert 'value="09:00"' in text(page)  # the domain's defaults, ready to change

    done = web.post(
        "/console/firms/new",
        data=onboarding_form(
            page,
            **{"queues.1.name": "Ventas", "queues.1.channels": ["voice", "chat"]},
            **{"calendar.weekly_hours.sat.0.start": "10:00"},
            **{"calendar.weekly_hours.sat.0.end": "14:00"},
        ),
    )

    # No mail server in the tests: the first admin's invitation link is shown here, once.
    assert done.status_code == 200, text(done)[:3000]
    assert "Acme Retail is onboarded." in text(done)
    assert re.search(r'id="accept-url">https?://[^<]+/invitations/[^<]+<', text(done))
    location = re.search(r'id="to-firm" href="([^"]+)"', text(done)).group(1)
    assert web.get(location).status_code == 200
    caller = factory.caller("bpo_admin")
    [firm] = [
        t
        for t in client.get("/v1/tenants", headers=caller.headers).get_json()
        if t["slug"] == "acme-retail"
    ]
    assert location == f"/console/firms/{firm['id']}"
    queues = client.get(f"/v1/tenants/{firm['id']}/queues", headers=caller.headers).get_json()
    assert sorted(q["name"] for q in queues) == ["General", "Ventas"]
    calendar = client.get(f"/v1/tenants/{firm['id']}/calendar", headers=caller.headers)
    assert calendar.get_json()["weekly_hours"]["sat"] == [{"start": "10:00", "end": "14:00"}]
    assert calendar.get_json()["closures"] == ["2030-12-24"]
    assert "tenant.onboarded" in audit_actions(app, target_id=firm["id"])
    assert firm["id"] in firm_order(text(web.get("/console/")))


def test_a_bad_time_zone_and_window_come_back_beside_their_fields_and_nothing_is_made(app, factory):
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/firms/new")
    before = tenant_count(app)

    refused = web.post(
        "/console/firms/new",
        data=onboarding_form(
            page,
            time_zone="Mars/Olympus",
            **{"calendar.weekly_hours.tue.1.start": "25:00"},
            **{"calendar.weekly_hours.tue.1.end": "26:00"},
            **{"queues.0.name": "Línea uno"},
        ),
    )

    assert refused.status_code == 422
    body = text(refused)
    assert re.search(r'id="f-time_zone"[^>]*value="Mars/Olympus"[^>]*aria-invalid="true"', body)
    assert 'id="e-time_zone"' in body and "Unknown IANA time zone" in body
    start = 'id="f-calendar.weekly_hours.tue.1.start"'
    assert re.search(start + r'[^>]*value="25:00"[^>]*aria-invalid="true"', body)
    assert 'id="e-calendar.weekly_hours.tue.1.start"' in body
    # Everything else typed is kept.
    assert 'value="Acme Retail"' in body and 'value="Línea uno"' in body
    assert 'value="ana@acme.example"' in body and "2030-12-24" in body
    assert tenant_count(app) == before


def test_a_taken_slug_is_said_beside_the_slug(app, factory):
    factory.tenant(slug="acme-retail")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/firms/new")
    refused = web.post("/console/firms/new", data=onboarding_form(page))
    assert refused.status_code == 409
    assert 'id="e-slug"' in text(refused)


def test_suspend_then_activate_changes_the_status_and_is_audited(app, factory):
    firm = factory.tenant(name="Cycle Firm")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get(f"/console/firms/{firm.id}")

    suspended = web.post(
        f"/console/firms/{firm.id}/suspend",
        data={"csrf_token": csrf_of(page), "suspend.reason": "Contract paused"},
    )
    assert suspended.status_code == 302
    assert 'data-status="suspended"' in text(web.get(f"/console/firms/{firm.id}"))
    [entry] = audit_entries(app, "tenant.suspended")
    assert entry.details["reason"] == "Contract paused"

    activated = web.post(f"/console/firms/{firm.id}/activate", data={"csrf_token": csrf_of(page)})
    assert activated.status_code == 302
    assert 'data-status="active"' in text(web.get(f"/console/firms/{firm.id}"))
    assert audit_actions(app, target_id=firm.id)[-2:] == ["tenant.suspended", "tenant.activated"]
    again = web.post(f"/console/firms/{firm.id}/activate", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 409 and "cannot activate" in text(again)


def test_offboarding_needs_the_confirmation_and_leaves_an_export_to_download(app, factory):
    firm = factory.tenant(name="Leaving Firm")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get(f"/console/firms/{firm.id}")
    assert "data-confirm=" in text(page)

    unconfirmed = web.post(
        f"/console/firms/{firm.id}/offboard",
        data={"csrf_token": csrf_of(page), "offboard.reason": "Contract ended"},
    )
    assert unconfirmed.status_code == 422
    assert 'id="e-offboard.confirm"' in text(unconfirmed) and "Contract ended" in text(unconfirmed)
    assert audit_entries(app, "tenant.offboarded") == []

    done = web.post(
        f"/console/firms/{firm.id}/offboard",
        data={"csrf_token": csrf_of(page), "offboard.reason": "Contract ended", "confirm": "yes"},
    )
    assert done.status_code == 302
    after_page = text(web.get(f"/console/firms/{firm.id}"))
    assert 'data-status="offboarded"' in after_page
    [link] = re.findall(rf'href="(/console/firms/{firm.id}/exports/[^"]+)"', after_page)
    download = web.get(link)
    assert download.status_code == 200
    assert download.mimetype == "application/x-ndjson"
    assert b'"table":"tenants"' in download.data
    assert "attachment" in download.headers["Content-Disposition"]
    assert len(audit_entries(app, "tenant.export_downloaded")) == 1


def test_bpo_admin_creates_an_export_and_downloads_it(app, factory):
    firm = factory.tenant(name="Export Firm")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get(f"/console/firms/{firm.id}")
    assert "Aún no hay exportaciones." in text(page)  # the firm's pages speak its Spanish

    created = web.post(f"/console/firms/{firm.id}/exports", data={"csrf_token": csrf_of(page)})

    assert created.status_code == 302
    [link] = re.findall(
        rf'href="(/console/firms/{firm.id}/exports/[^"]+)"',
        text(web.get(created.headers["Location"])),
    )
    assert web.get(link).status_code == 200
    assert len(audit_entries(app, "tenant.exported")) == 1
    other = factory.tenant()
    assert web.get(link.replace(str(firm.id), str(other.id))).status_code == 404


def test_a_bpo_admin_reads_a_firms_dashboard_with_the_admin_actions_beside_it(app, factory):
    firm = factory.tenant(name="Beside Firm")
    admin = sign_in(app, factory.user("bpo_admin").email)
    client_admin = sign_in(app, factory.user("client_admin", firm).email)

    as_bpo = text(admin.get(f"/firms/{firm.id}/dashboard"))
    as_client = text(client_admin.get(f"/firms/{firm.id}/dashboard"))

    assert f'href="/console/firms/{firm.id}"' in as_bpo
    assert f'href="/console/firms/{firm.id}"' not in as_client
