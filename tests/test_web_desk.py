"""The agent's desk in the browser's shoes (Flask's client): queues of every firm served,
presence in one click, Next with the reason when nothing comes, and the contact workspace with
the firm's briefings and only the actions the contact's state allows."""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.contacts.models import Contact
from app.db import db, utcnow
from app.queues.models import Briefing
from tenants.scoping import tenant_scope
from tests.test_agents_api import make_queue
from tests.test_claim_next import add_contact, working_agent
from tests.web_helpers import csrf_of, sign_in


def _desk(app, client, factory, *, presence="available", firms=1, **agent_fields):
    """An agent serving a queue in each of `firms` firms, signed in: (agent, firms, queues, web)."""
    tenants = [
        factory.tenant(name=f"Firm {chr(65 + i)} {uuid.uuid4().hex[:4]}", locale="en-GB")
        for i in range(firms)
    ]
    queues = [make_queue(app, t, channels=["email", "chat"]) for t in tenants]
    agent, _caller = working_agent(client, factory, queues, presence=presence, **agent_fields)
    return agent, tenants, queues, sign_in(app, agent["email"])


def _post(web, path, data, page="/desk/"):
    token = csrf_of(web.get(page))
    return web.post(path, data={"csrf_token": token, **data})


def test_agent_lands_on_the_desk_and_sees_every_firms_queue_with_its_waiting_count(
    app, client, factory
):
    _agent, (acme, globex), (q1, q2), web = _desk(app, client, factory, firms=2)
    add_contact(app, acme, q1, waited=timedelta(minutes=7))
    add_contact(app, acme, q1)
    add_contact(app, globex, q2)

    home = web.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/desk/")
    page = web.get("/desk/").get_data(as_text=True)
    assert acme.name in page and globex.name in page
    assert 'class="num waiting">2<' in page and 'class="num waiting">1<' in page
    assert 'data-elapsed="4' in page  # the oldest of Acme's has waited about 7 minutes (420 s)


def test_next_claims_the_contact_and_opens_it_with_the_queues_briefing(app, client, factory):
    _agent, (acme,), (queue,), web = _desk(app, client, factory)
    contact_id = add_contact(app, acme, queue, subject="Parcel never arrived", channel="email")
    with app.app_context(), tenant_scope(acme.id):
        db.session.add(
            Briefing(
                title="Outage in Valencia",
                body="Deliveries to 46xxx are late until Friday.",
                effective_from=utcnow() - timedelta(hours=1),
                queue_ids=[str(queue)],
            )
        )
        db.session.commit()

    claimed = _post(web, "/desk/next", {})
    assert claimed.status_code == 303
    workspace = web.get(claimed.headers["Location"])
    text = workspace.get_data(as_text=True)
    assert workspace.status_code == 200
    assert str(contact_id) in claimed.headers["Location"]
    assert "Parcel never arrived" in text and "Outage in Valencia" in text
    # An assigned e-mail may be replied to, escalated only once active: no escalate yet.
    assert 'id="reply-body"' in text and 'id="form-transfer"' in text
    assert 'id="form-escalate"' not in text


def test_next_says_why_nothing_came(app, client, factory):
    _agent, (_acme,), (_queue,), web = _desk(app, client, factory)
    answer = _post(web, "/desk/next", {})
    assert answer.status_code == 409
    assert "Nothing is waiting in your active queues." in answer.get_data(as_text=True)

    on_break = _post(web, "/desk/presence", {"presence": "break"})
    assert on_break.status_code == 200
    answer = _post(web, "/desk/next", {})
    assert "Set yourself available to take contacts." in answer.get_data(as_text=True)


def test_presence_in_one_click_and_a_queue_switched_off(app, client, factory):
    _agent, (_acme,), (queue,), web = _desk(app, client, factory)
    page = _post(web, "/desk/presence", {"presence": "break"}).get_data(as_text=True)
    assert 'data-presence="break"' in page
    refused = _post(web, "/desk/presence", {"presence": "on_the_moon"})
    assert refused.status_code == 422
    assert "Choose available, break or offline." in refused.get_data(as_text=True)

    switched = _post(web, f"/desk/queues/{queue}/active", {"active": "false"})
    assert switched.status_code == 200
    assert 'aria-checked="false"' in switched.get_data(as_text=True)


def test_the_workspace_offers_only_what_the_state_allows_and_resolving_a_claim_needs_outcome(
    app, client, factory
):
    _agent, (acme,), (queue,), web = _desk(app, client, factory)
    contact_id = add_contact(app, acme, queue, channel="chat", category="claim")
    workspace = web.get(_post(web, "/desk/next", {}).headers["Location"])
    base = f"/desk/firms/{acme.id}/contacts/{contact_id}"
    text = workspace.get_data(as_text=True)
    assert f'action="{base}/answer"' in text and f'action="{base}/hold"' not in text

    assert _post(web, f"{base}/answer", {}, page=base).status_code == 303
    text = web.get(base).get_data(as_text=True)
    assert f'action="{base}/hold"' in text and f'action="{base}/answer"' not in text
    assert 'id="form-resolve"' in text and 'id="resolve-outcome"' in text

    missing = _post(
        web,
        f"{base}/resolve",
        {"disposition": "refunded", "resolution_note": "Paid back", "compensation": "12,505"},
        page=base,
    )
    assert missing.status_code == 422
    text = missing.get_data(as_text=True)
    assert 'id="resolve-compensation-error"' in text and "At most 2 decimals" in text

    done = _post(
        web,
        f"{base}/resolve",
        {
            "disposition": "refunded",
            "resolution_note": "Paid back",
            "outcome": "granted",
            "compensation": "12,50",
        },
        page=base,
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/desk/")
    with app.app_context(), tenant_scope(acme.id):
        row = db.session.get(Contact, contact_id)
        assert (row.status, row.outcome, row.compensation_amount) == ("resolved", "granted", 1250)


def test_an_agent_cannot_open_another_firms_contact_or_one_outside_its_queues(app, client, factory):
    _agent, (acme,), (_queue,), web = _desk(app, client, factory)
    other_queue = make_queue(app, acme, channels=["email"])
    hidden = add_contact(app, acme, other_queue)
    elsewhere = factory.tenant()
    foreign = add_contact(app, elsewhere, make_queue(app, elsewhere, channels=["email"]))

    assert web.get(f"/desk/firms/{acme.id}/contacts/{hidden}").status_code == 404
    assert web.get(f"/desk/firms/{elsewhere.id}/contacts/{foreign}").status_code == 404
    assert web.get(f"/desk/firms/{acme.id}/contacts/{foreign}").status_code == 404


def test_the_desk_is_for_agents_only(app, factory):
    firm = factory.tenant()
    viewer = factory.user("client_viewer", firm)
    assert sign_in(app, viewer.email).get("/desk/").status_code == 403


def test_a_reply_answers_a_written_contact_and_a_note_stays_internal(app, client, factory):
    _agent, (acme,), (queue,), web = _desk(app, client, factory)
    contact_id = add_contact(app, acme, queue, channel="email", subject="Wrong invoice")
    base = web.get(_post(web, "/desk/next", {}).headers["Location"]).request.path

    empty = _post(web, f"{base}/messages", {"kind": "reply", "body": "   "}, page=base)
    assert empty.status_code == 422
    assert 'id="reply-error"' in empty.get_data(as_text=True)

    replied = _post(web, f"{base}/messages", {"kind": "reply", "body": "Credit note sent."}, base)
    assert replied.status_code == 303
    _post(web, f"{base}/messages", {"kind": "note", "body": "Customer is a VIP <b>x</b>"}, base)
    text = web.get(base).get_data(as_text=True)
    assert "Credit note sent." in text and 'class="message note"' in text
    assert "Customer is a VIP &lt;b&gt;x&lt;/b&gt;" in text  # plain text stays text
    with app.app_context(), tenant_scope(acme.id):
        row = db.session.get(Contact, contact_id)
        assert row.status == "active" and row.first_response_at is not None
