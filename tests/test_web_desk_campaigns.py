"""A campaign's attempt on the agent's desk (Flask's client): Next brings the customer with the
campaign's brief, their local time and the script filled in; the attempt ends with one of the
campaign's dispositions (never Resolve), a call-back typed on the customer's clock, and a
refused call-back said beside its field with nothing typed lost; in Spanish too."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.campaigns.models import CampaignRecord
from app.contacts.models import Contact
from app.db import db, utcnow
from tenants.scoping import tenant_scope
from tests.campaign_helpers import running_campaign, uid
from tests.web_helpers import csrf_of, sign_in

SCRIPT = "Hello {name}, about your {plan} plan <b>today</b>. Ask for {missing}.\nThanks!"


def _agent_on_desk(app, client, factory, *, records=2, locale="en-GB"):
    """A running campaign with `records` customers and its agent signed in on the desk."""
    tenant = factory.tenant(locale=locale)
    campaign, _queue, agent, _caller, _admin = running_campaign(
        client, factory, tenant, records=records, script=SCRIPT
    )
    return tenant, campaign, sign_in(app, agent["email"])


def _post(web, path, data, page="/desk/"):
    return web.post(path, data={"csrf_token": csrf_of(web.get(page)), **data})


def _next(web) -> tuple[str, str]:
    """Press Next; return the workspace's path and its page."""
    claimed = _post(web, "/desk/next", {})
    assert claimed.status_code == 303, claimed.get_data(as_text=True)[:500]
    path = claimed.headers["Location"]
    return path, web.get(path).get_data(as_text=True)


def _records(app, tenant, campaign) -> dict[str, CampaignRecord]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.session.scalars(
            select(CampaignRecord).where(CampaignRecord.campaign_id == uid(campaign["id"]))
        )
        return {r.name: r for r in rows}


def _attempt_of(app, tenant, path) -> Contact:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Contact, uid(path.rstrip("/").rsplit("/", 1)[-1]))


def test_next_brings_the_attempt_with_the_campaigns_brief_and_the_script_filled_in(
    app, client, factory
):
    tenant, campaign, web = _agent_on_desk(app, client, factory, records=1)

    path, page = _next(web)

    attempt = _attempt_of(app, tenant, path)
    assert attempt.campaign_id == uid(campaign["id"]) and attempt.direction == "outbound"
    assert f"Campaign call: {campaign['name']}" in page and "Sales" in page
    assert "Customer 1 · +34 600 000 001" in page
    zone = _records(app, tenant, campaign)["Customer 1"].time_zone
    assert f"({zone})" in page and "1 of at most 3" in page
    # The record's fields filled in and marked; unknown placeholders as typed; all escaped.
    assert '<mark class="script-field">Customer 1</mark>' in page
    assert '<mark class="script-field">fibre</mark>' in page
    assert "&lt;b&gt;today&lt;/b&gt;" in page and "{missing}" in page and "<b>today" not in page
    # How it may end: the campaign's dispositions, not Resolve; answer and hold stay.
    assert (
        'id="form-disposition"' in page and 'value="no_answer"' in page and "Not interested" in page
    )
    assert 'id="form-resolve"' not in page and f'action="{path}/resolve"' not in page
    assert f'action="{path}/answer"' in page and f'action="{path}/release"' not in page
    refused = _post(web, f"{path}/resolve", {"disposition": "sold"}, page=path)
    assert refused.status_code == 409
    assert "A campaign&#39;s attempt ends with its disposition." in refused.get_data(as_text=True)


def test_no_answer_leaves_the_record_for_a_retry_and_the_next_one_is_sold(app, client, factory):
    tenant, campaign, web = _agent_on_desk(app, client, factory, records=2)

    first, _page = _next(web)
    unanswered = _post(web, f"{first}/disposition", {"code": "no_answer"}, page=first)
    assert unanswered.status_code == 303 and unanswered.headers["Location"].endswith("/desk/")
    second, _page = _next(web)
    assert second != first
    assert _post(web, f"{second}/answer", {}, page=second).status_code == 303
    sold = _post(
        web, f"{second}/disposition", {"code": "sold", "note": "Took the fibre plan"}, page=second
    )
    assert sold.status_code == 303

    records = _records(app, tenant, campaign)
    # The two records come in either order (both opened together).
    retry = records[_attempt_of(app, tenant, first).customer_name]
    done = records[_attempt_of(app, tenant, second).customer_name]
    assert (retry.state, retry.attempts, retry.last_disposition) == ("pending", 1, "no_answer")
    assert retry.retry_after is not None and retry.current_contact_id is None
    assert (done.state, done.last_disposition) == ("done", "sold")
    assert done.succeeded_at is not None
    assert _attempt_of(app, tenant, first).status == "closed"
    ended = _attempt_of(app, tenant, second)
    assert (ended.status, ended.disposition) == ("resolved", "sold")


def test_a_call_back_outside_the_window_is_refused_beside_its_field_and_one_inside_is_kept(
    app, client, factory
):
    tenant, campaign, web = _agent_on_desk(app, client, factory, records=1)
    path, page = _next(web)
    zone = ZoneInfo(_records(app, tenant, campaign)["Customer 1"].time_zone)
    assert f"In the customer's local time, zone {zone.key}" in page
    tomorrow = (utcnow().astimezone(zone) + timedelta(days=1)).date()
    late = f"{tomorrow.isoformat()}T22:30"  # the window closes at 20:00 their time

    refused = _post(
        web,
        f"{path}/disposition",
        {"code": "call_back", "note": "Asked to ring later", "callback_at": late},
        page=path,
    )

    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    error = re.search(r'id="disposition-callback_at-error">([^<]+)<', text).group(1)
    assert "Outside the customer&#39;s calling window. The next opening is" in error
    assert "08:00" in error  # the next morning, on their clock
    # Nothing the agent typed is lost.
    assert 'value="call_back" checked' in text and "Asked to ring later</textarea>" in text
    assert f'value="{late}"' in text
    assert _records(app, tenant, campaign)["Customer 1"].state == "in_progress"

    inside = f"{tomorrow.isoformat()}T10:15"
    kept = _post(
        web,
        f"{path}/disposition",
        {"code": "call_back", "callback_at": inside, "callback_for": "anyone"},
        page=path,
    )
    assert kept.status_code == 303
    record = _records(app, tenant, campaign)["Customer 1"]
    assert record.state == "pending" and record.callback_agent_id is None
    expected = datetime.fromisoformat(inside).replace(tzinfo=zone)
    assert record.callback_at == expected and record.next_attempt_at == expected


def test_the_attempt_in_spanish(app, client, factory):
    tenant, _campaign, web = _agent_on_desk(app, client, factory, records=1, locale="es-ES")
    path, page = _next(web)
    assert "Llamada de campaña:" in page and "Ventas" in page and "Guion que seguir" in page
    assert "1 de un máximo de 3" in page and "¿Cómo terminó el intento?" in page
    assert "Registrar el resultado" in page

    missing = _post(web, f"{path}/disposition", {"note": "sin elegir"}, page=path)
    text = missing.get_data(as_text=True)
    assert missing.status_code == 422
    assert 'id="disposition-code-error">Elija cómo terminó el intento.<' in text
    assert "sin elegir</textarea>" in text
    assert _attempt_of(app, tenant, path).status == "assigned"
