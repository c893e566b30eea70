"""Stories of the BPO running its operation in the console: agents, the assignments grid,
supervisors' firms, closing a month and the Stripe outbox, and staffing by Erlang C."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.db import db
from billing.models import OutboxMessage
from tenants.scoping import tenant_scope
from tests.test_billing_invoices_api import PERIOD, TIERS, handle, march
from tests.test_billing_rating import price_firm
from tests.test_contacts_intake import queue_of
from tests.web_helpers import csrf_of, sign_in


def _agent_form(**fields) -> dict:
    return {
        "name": "Ana Ruiz",
        "email": "ana.ruiz@example.test",
        "channels": ["voice", "chat"],
        "concurrency.voice": "1",
        "concurrency.chat": "3",
        "skills": "billing:3\nlang:es:5",
        "languages": "es, en",
        **fields,
    }


def _agents_api(client, factory) -> list[dict]:
    admin = factory.caller("bpo_admin")
    response = client.get("/v1/agents", headers=admin.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_bpo_admin_creates_an_agent_through_the_form_and_the_api_lists_it(app, client, factory):
    admin = factory.user("bpo_admin")
    web = sign_in(app, admin.email)
    form = web.get("/console/agents/new")
    assert form.status_code == 200

    created = web.post("/console/agents/new", data={**_agent_form(), "csrf_token": csrf_of(form)})
    assert created.status_code == 302, created.get_data(as_text=True)

    [agent] = [a for a in _agents_api(client, factory) if a["email"] == "ana.ruiz@example.test"]
    assert agent["channels"] == ["voice", "chat"]
    assert agent["concurrency"] == {"voice": 1, "chat": 3}
    assert agent["skills"] == [{"name": "billing", "level": 3}, {"name": "lang:es", "level": 5}]
    assert agent["languages"] == ["es", "en"]
    listed = web.get("/console/agents").get_data(as_text=True)
    assert "Ana Ruiz" in listed and "ana.ruiz@example.test" in listed


def test_a_bad_concurrency_shows_its_error_beside_the_field_and_keeps_what_was_typed(
    app, client, factory
):
    web = sign_in(app, factory.user("bpo_admin").email)
    form = web.get("/console/agents/new")

    refused = web.post(
        "/console/agents/new",
        data={**_agent_form(**{"concurrency.chat": "99"}), "csrf_token": csrf_of(form)},
    )

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'id="f-concurrency.chat"[^>]*value="99"[^>]*aria-invalid="true"', page, re.S)
    assert 'id="e-concurrency.chat"' in page
    assert 'value="ana.ruiz@example.test"' in page and "billing:3" in page
    assert not [a for a in _agents_api(client, factory) if a["email"] == "ana.ruiz@example.test"]


def test_bpo_admin_changes_an_agents_concurrency_and_deactivates_it(app, client, factory):
    web = sign_in(app, factory.user("bpo_admin").email)
    form = web.get("/console/agents/new")
    web.post("/console/agents/new", data={**_agent_form(), "csrf_token": csrf_of(form)})
    [agent] = [a for a in _agents_api(client, factory) if a["email"] == "ana.ruiz@example.test"]

    page = web.get(f"/console/agents/{agent['id']}")
    assert page.status_code == 200
    saved = web.post(
        f"/console/agents/{agent['id']}",
        data={
            **_agent_form(channels=["chat", "email"], **{"concurrency.email": "4"}),
            "csrf_token": csrf_of(page),
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    off = web.post(
        f"/console/agents/{agent['id']}/active",
        data={"is_active": "false", "csrf_token": csrf_of(page)},
    )
    assert off.status_code == 302

    [after] = [a for a in _agents_api(client, factory) if a["id"] == agent["id"]]
    assert after["channels"] == ["chat", "email"]
    assert after["concurrency"] == {"chat": 3, "email": 4}
    assert after["is_active"] is False


def test_a_supervisor_reads_agents_but_may_not_create_one(app, client, factory):
    firm, other = factory.tenant(name="Overseen Firm"), factory.tenant()
    api_admin = factory.caller("bpo_admin")
    ids = []
    for tenant, email in ((firm, "serves.mine@example.test"), (other, "serves.other@example.test")):
        agent = _agent_via_api(client, api_admin, email)
        queue_id = queue_of(app, tenant)
        assigned = client.put(
            f"/v1/agents/{agent['id']}/assignments/{queue_id}", json={}, headers=api_admin.headers
        )
        assert assigned.status_code == 200
        ids.append(agent["id"])
    supervisor = factory.user("supervisor", firm)
    web = sign_in(app, supervisor.email)

    listed = web.get("/console/agents")
    assert listed.status_code == 200
    text = listed.get_data(as_text=True)
    assert "serves.mine@example.test" in text and "Overseen Firm" in text
    assert "serves.other@example.test" not in text
    mine = web.get(f"/console/agents/{ids[0]}")
    assert mine.status_code == 200 and "disabled" in mine.get_data(as_text=True)
    assert web.get(f"/console/agents/{ids[1]}").status_code == 404
    assert web.get("/console/agents/new").status_code == 403
    page = web.get("/console/agents")
    refused = web.post("/console/agents/new", data={**_agent_form(), "csrf_token": csrf_of(page)})
    assert refused.status_code == 403


def _agent_via_api(client, admin, email: str) -> dict:
    body = {"email": email, "name": email.split("@")[0], "channels": ["voice", "chat"]}
    response = client.post("/v1/agents", json=body, headers=admin.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def _served(client, admin, agent_id) -> set[str]:
    response = client.get(f"/v1/agents/{agent_id}/assignments", headers=admin.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {a["queue_id"] for a in response.get_json()["assignments"]}


def test_ticking_a_cell_of_the_grid_assigns_the_agent_and_unticking_unassigns(app, client, factory):
    firm = factory.tenant(name="Acme Logistics")
    queue_id = str(queue_of(app, firm, "Returns"))
    api_admin = factory.caller("bpo_admin")
    agent = _agent_via_api(client, api_admin, "grid.agent@example.test")
    web = sign_in(app, factory.user("bpo_admin").email)
    grid = web.get("/console/assignments")
    page = grid.get_data(as_text=True)
    assert grid.status_code == 200 and "Acme Logistics" in page and "Returns" in page
    assert 'aria-label="grid.agent serves this queue"' in page
    cell = f"{agent['id']}:{queue_id}"
    url = f"/console/assignments/{agent['id']}/{queue_id}"
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf_of(grid)}

    ticked = web.post(url, data={"cell": cell}, headers=htmx)
    assert ticked.status_code == 200
    assert 'aria-label="grid.agent serves this queue"' in ticked.get_data(as_text=True)
    assert "checked" in ticked.get_data(as_text=True)
    assert "<html" not in ticked.get_data(as_text=True)  # only the cell
    assert _served(client, api_admin, agent["id"]) == {queue_id}

    unticked = web.post(url, data={}, headers=htmx)
    assert unticked.status_code == 200
    assert "checked" not in unticked.get_data(as_text=True)
    assert _served(client, api_admin, agent["id"]) == set()


def test_the_whole_grid_sent_without_javascript_assigns_what_is_ticked(app, client, factory):
    firm = factory.tenant()
    first, second = str(queue_of(app, firm, "Sales")), str(queue_of(app, firm, "Support"))
    api_admin = factory.caller("bpo_admin")
    agent = _agent_via_api(client, api_admin, "form.agent@example.test")
    web = sign_in(app, factory.user("bpo_admin").email)
    grid = web.get("/console/assignments")

    sent = web.post(
        "/console/assignments",
        data={
            "csrf_token": csrf_of(grid),
            "agent": [agent["id"]],
            "queue": [first, second],
            "cell": [f"{agent['id']}:{second}"],
        },
    )

    assert sent.status_code == 302
    assert _served(client, api_admin, agent["id"]) == {second}


def test_a_supervisor_sees_the_grid_but_cannot_tick_it(app, client, factory):
    firm = factory.tenant()
    queue_id = str(queue_of(app, firm, "Returns"))
    api_admin = factory.caller("bpo_admin")
    agent = _agent_via_api(client, api_admin, "seen.agent@example.test")
    client.put(
        f"/v1/agents/{agent['id']}/assignments/{queue_id}", json={}, headers=api_admin.headers
    )
    web = sign_in(app, factory.user("supervisor", firm).email)

    grid = web.get("/console/assignments")
    assert grid.status_code == 200
    assert "disabled" in grid.get_data(as_text=True)
    refused = web.post(
        f"/console/assignments/{agent['id']}/{queue_id}",
        data={},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(grid)},
    )
    assert refused.status_code == 403
    assert _served(client, api_admin, agent["id"]) == {queue_id}


def test_bpo_admin_gives_a_supervisor_another_firm_and_takes_one_away(app, client, factory):
    first, second = factory.tenant(name="First Firm"), factory.tenant(name="Second Firm")
    supervisor = factory.user("supervisor", first)
    api_admin = factory.caller("bpo_admin")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/supervisors")
    assert page.status_code == 200 and supervisor.name in page.get_data(as_text=True)
    url = f"/console/supervisors/{supervisor.id}/firms"

    assert (
        web.post(url, data={"add": str(second.id), "csrf_token": csrf_of(page)}).status_code == 302
    )
    assert (
        web.post(url, data={"remove": str(first.id), "csrf_token": csrf_of(page)}).status_code
        == 302
    )

    firms = client.get(f"/v1/supervisors/{supervisor.id}/tenants", headers=api_admin.headers)
    assert firms.get_json()["tenant_ids"] == [str(second.id)]


def _billable_firm(app, factory, name: str):
    """A firm with 3 contacts handled in March 2025, as test_billing_invoices_api seeds them."""
    tenant = factory.tenant(name=name)
    price_firm(app, tenant, prices=[{"channel": "email", "unit_amount": 400}], tiers=TIERS)
    queue_id = queue_of(app, tenant, "General")
    for day in (3, 4):
        handle(app, tenant, queue_id, march(day))
    handle(app, tenant, queue_id, march(5), channel="email")
    return tenant


def test_closing_a_month_through_the_form_makes_the_invoices_the_api_shows(app, client, factory):
    firm = _billable_firm(app, factory, "Acme Logistics")
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/billing")
    assert page.status_code == 200 and "data-confirm" in page.get_data(as_text=True)

    closed = web.post(
        "/console/billing/close", data={"period": PERIOD, "csrf_token": csrf_of(page)}
    )
    assert closed.status_code == 302

    api_admin = factory.caller("bpo_admin")
    [invoice] = client.get(f"/v1/tenants/{firm.id}/invoices", headers=api_admin.headers).get_json()
    assert invoice["period"] == PERIOD
    listed = web.get(closed.headers["Location"]).get_data(as_text=True)
    assert "1 invoice made" in listed
    assert "Acme Logistics" in listed and PERIOD in listed
    with app.test_request_context():
        from app.web.i18n import money

        assert money(invoice["total"], "EUR") in listed


def test_a_malformed_month_shows_its_error_beside_the_field(app, factory):
    web = sign_in(app, factory.user("bpo_admin").email)
    page = web.get("/console/billing")

    refused = web.post(
        "/console/billing/close", data={"period": "2025-13", "csrf_token": csrf_of(page)}
    )

    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert 'id="e-period"' in text and 'value="2025-13"' in text


def test_the_outbox_lists_a_failing_push_with_its_error(app, client, factory):
    firm = _billable_firm(app, factory, "Acme Logistics")
    api_admin = factory.caller("bpo_admin")
    assert (
        client.post(f"/v1/billing/periods/{PERIOD}/close", headers=api_admin.headers).status_code
        == 200
    )
    with app.app_context(), tenant_scope(firm.id):
        message = db.session.scalars(select(OutboxMessage)).one()
        message.attempts = 3
        message.last_error = "APIConnectionError: Stripe could not be reached"
        db.session.commit()
    web = sign_in(app, factory.user("bpo_admin").email)

    page = web.get("/console/billing").get_data(as_text=True)

    assert "APIConnectionError: Stripe could not be reached" in page
    assert "Failing" in page


def test_a_supervisor_cannot_open_billing_or_supervisors(app, factory):
    firm = factory.tenant()
    web = sign_in(app, factory.user("supervisor", firm).email)
    assert web.get("/console/billing").status_code == 403
    assert web.get("/console/supervisors").status_code == 403


def _figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="(\w+)" data-value="([^"]*)"', page))


def test_the_staffing_answer_equals_the_apis_for_the_same_inputs(app, client, factory):
    firm = factory.tenant(name="Acme Logistics")
    queue_id = queue_of(app, firm, "Returns")
    inputs = {"volume": "120", "aht": "240", "target": "0.8", "threshold": "20", "interval": "30m"}
    api_admin = factory.caller("bpo_admin")
    api = client.get(
        f"/v1/tenants/{firm.id}/queues/{queue_id}/staffing",
        query_string=inputs,
        headers=api_admin.headers,
    )
    assert api.status_code == 200, api.get_data(as_text=True)
    expected = api.get_json()
    web = sign_in(app, factory.user("supervisor", firm).email)

    page = web.get("/console/staffing", query_string={"queue": f"{firm.id}:{queue_id}", **inputs})

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    shown = _figures(text)
    for name in ("agents", "scheduled", "service_level", "asa_seconds", "occupancy"):
        assert float(shown[name]) == expected[name], name
    assert 'data-chart="staffing-curve"' in text and 'id="staffing-curve"' in text
    assert "Returns" in web.get("/console/staffing").get_data(as_text=True)


def test_a_bad_staffing_input_shows_its_error_beside_the_field(app, factory):
    firm = factory.tenant()
    queue_id = queue_of(app, firm, "Returns")
    web = sign_in(app, factory.user("bpo_admin").email)

    page = web.get(
        "/console/staffing",
        query_string={"queue": f"{firm.id}:{queue_id}", "volume": "10", "aht": "0", "target": "2"},
    )

    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert 'id="e-aht"' in text and 'id="e-target"' in text and 'value="2"' in text


def test_a_supervisor_cannot_size_a_queue_of_a_firm_they_do_not_oversee(app, factory):
    mine, theirs = factory.tenant(), factory.tenant(name="Other Firm")
    queue_id = queue_of(app, theirs, "Hidden Queue")
    web = sign_in(app, factory.user("supervisor", mine).email)

    assert "Hidden Queue" not in web.get("/console/staffing").get_data(as_text=True)
    page = web.get(
        "/console/staffing", query_string={"queue": f"{theirs.id}:{queue_id}", "volume": "10"}
    )
    assert page.status_code == 404


def test_a_client_admin_gets_403_on_every_console_page(app, factory):
    firm = factory.tenant()
    web = sign_in(app, factory.user("client_admin", firm).email)
    for path in (
        "/console/agents",
        "/console/agents/new",
        "/console/assignments",
        "/console/supervisors",
        "/console/billing",
        "/console/staffing",
    ):
        assert web.get(path).status_code == 403, path


def test_an_agent_with_an_email_already_taken_is_refused_beside_the_email(app, factory):
    taken = factory.user("client_admin", factory.tenant())
    web = sign_in(app, factory.user("bpo_admin").email)
    form = web.get("/console/agents/new")

    refused = web.post(
        "/console/agents/new",
        data={**_agent_form(email=taken.email), "csrf_token": csrf_of(form)},
    )

    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert 'id="e-email"' in text and "already exists" in text
