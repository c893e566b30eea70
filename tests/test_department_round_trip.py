"""A department's round trip (issue 17): an agent escalates a contact, the department gets a mail
with the contact's summary, the agent's note and a single-use link, answers through the page
without an account, and the contact comes back to the agent with the answer in its thread and
its SLA clock running again; reminders when the department is slow."""

# ruff: noqa: F811 (the mail server fixtures are imported, then asked for by name)
from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app import worker
from app.contacts.models import Contact, Department, Escalation
from app.db import db, utcnow
from app.events.models import DomainEvent
from app.sla.models import SlaClock
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.factories import Caller
from tests.mail_server import inbox, link_in, text_of  # noqa: F401
from tests.test_agents_api import put_assignments
from tests.test_contacts_intake import contacts_url, create_contact, staffed_agent
from tests.test_reports_sla import body, contact, firm, sla, span, store, t
from tests.test_sla_engine import ALWAYS, sla_firm
from tests.web_helpers import csrf_of, sign_in, web_client

ANSWER_PATH = "/department-answers/"
DEPARTMENT_MAIL = "finance@firm.test"


@dataclass
class Desk:
    tenant: Tenant
    queue_id: uuid.UUID
    department_id: uuid.UUID
    agent: dict
    agent_caller: Caller
    supervisor: Caller
    integration: Caller


def _desk(app, client, factory, *, mail: str | None = DEPARTMENT_MAIL, reminder=None) -> Desk:
    """A firm whose clocks run round the clock and pause while a contact is escalated."""
    tenant, queue_id = sla_firm(app, factory, calendar=ALWAYS, pause_on_escalated=True)
    agent, agent_caller = staffed_agent(
        app, client, factory, factory.caller("bpo_admin"), [queue_id]
    )
    with app.app_context(), tenant_scope(tenant.id):
        department = Department(name="Finance", kind="finance", email=mail)
        db.session.add(department)
        db.session.get(Tenant, tenant.id).department_reminder_minutes = reminder
        db.session.commit()
        department_id = department.id
    return Desk(
        tenant,
        queue_id,
        department_id,
        agent,
        agent_caller,
        factory.caller("supervisor", tenant),
        factory.caller("integration", tenant),
    )


@pytest.fixture
def desk(app, client, factory) -> Desk:
    return _desk(app, client, factory)


def _post(client, desk: Desk, contact_id, action: str, caller: Caller | None = None, **body):
    answer = client.post(
        contacts_url(desk.tenant, contact_id, action),
        json=body,
        headers=(caller or desk.agent_caller).headers,
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def escalated(
    client, desk: Desk, note: str = "Refund of the March invoice: please confirm."
) -> dict:
    """A new e-mail contact, assigned to the desk's agent, answered, then escalated."""
    contact = create_contact(
        client,
        desk.integration,
        desk.tenant,
        queue_id=str(desk.queue_id),
        subject="Charged twice in March",
        customer={
            "name": "Lucía Pérez",
            "email": "lucia@example.com",
            "phone": "+34 600 111 222",
            "ref": "C-4471",
        },
    )
    _post(client, desk, contact["id"], "assign", desk.supervisor, agent_id=desk.agent["id"])
    _post(client, desk, contact["id"], "respond")
    return _post(
        client, desk, contact["id"], "escalate", department_id=str(desk.department_id), note=note
    )


def mail_departments(app, now=None) -> dict[str, int]:
    with app.app_context():
        return worker.mail_departments(stop=threading.Event(), now=now)


def path_of(link: str) -> str:
    return urlsplit(link).path


def resolution_clock(app, desk: Desk, contact_id) -> SlaClock:
    with app.app_context(), tenant_scope(desk.tenant.id):
        return db.session.scalars(
            select(SlaClock).where(
                SlaClock.contact_id == uuid.UUID(contact_id), SlaClock.kind == "resolution"
            )
        ).one()


def escalation_of(app, desk: Desk, contact_id) -> Escalation:
    with app.app_context(), tenant_scope(desk.tenant.id):
        return db.session.scalars(
            select(Escalation).where(Escalation.contact_id == uuid.UUID(contact_id))
        ).one()


def answer_through(app, link: str, *, outcome: str = "done", body: str = "Refunded today."):
    browser = web_client(app)
    page = browser.get(path_of(link))
    assert page.status_code == 200, page.get_data(as_text=True)
    return (
        browser,
        page,
        browser.post(
            path_of(link), data={"csrf_token": csrf_of(page), "body": body, "outcome": outcome}
        ),
    )


# --- the round trip --------------------------------------------------------------------------


def test_the_department_answers_through_the_mail_and_the_agent_gets_the_contact_back(
    app, client, factory, desk, inbox, caplog
):
    caplog.set_level(logging.DEBUG)
    contact = escalated(client, desk)
    assert contact["status"] == "escalated"
    assert resolution_clock(app, desk, contact["id"]).paused_since is not None

    assert mail_departments(app) == {"sent": 1, "reminded": 0, "retrying": 0}
    message = inbox.last_to(DEPARTMENT_MAIL)
    text = text_of(message)
    assert "Firm" in message["Subject"] and "Finance" in message["Subject"]
    for shown in ("Charged twice in March", "Refund of the March invoice", "Lucía Pérez", "C-4471"):
        assert shown in text, shown
    # The department answers the BPO: it gets no way to reach the customer itself.
    for hidden in ("lucia@example.com", "600 111 222", "nothing came"):
        assert hidden not in text, hidden
    link = link_in(message, ANSWER_PATH)

    browser, page, done = answer_through(app, link, body="Refunded today: 42,00 EUR.")
    assert "Charged twice in March" in page.get_data(as_text=True)
    assert "lucia@example.com" not in page.get_data(as_text=True)
    assert "Vuestra respuesta" in page.get_data(as_text=True)  # the firm's language (es-ES)
    assert done.status_code == 200, done.get_data(as_text=True)

    thread = client.get(
        contacts_url(desk.tenant, contact["id"], "messages"), headers=desk.agent_caller.headers
    ).get_json()
    assert [(m["kind"], m["author_name"], m["body"]) for m in thread] == [
        ("department", "Finance", "Refunded today: 42,00 EUR.")
    ]
    # The firm's own department's words: its integration reads them, notes shared or not.
    read_by_the_firm = client.get(
        contacts_url(desk.tenant, contact["id"], "messages"), headers=desk.integration.headers
    ).get_json()
    assert [m["kind"] for m in read_by_the_firm] == ["department"]
    workspace = sign_in(app, desk.agent["email"]).get(
        f"/desk/firms/{desk.tenant.id}/contacts/{contact['id']}"
    )
    assert "Respuesta de Finance" in workspace.get_data(as_text=True)
    assert 'class="message department"' in workspace.get_data(as_text=True)
    # The firm's people read it on the contact's page, apart from the agents' notes.
    portal = sign_in(app, factory.user("client_viewer", desk.tenant).email).get(
        f"/firms/{desk.tenant.id}/contacts/{contact['id']}"
    )
    assert portal.status_code == 200
    assert 'class="message department"' in portal.get_data(as_text=True)
    assert "Respuesta de Finance" in portal.get_data(as_text=True)
    back = client.get(
        contacts_url(desk.tenant, contact["id"]), headers=desk.agent_caller.headers
    ).get_json()
    assert (back["status"], back["agent_id"]) == ("active", desk.agent["id"])
    assert resolution_clock(app, desk, contact["id"]).paused_since is None
    with app.app_context(), tenant_scope(desk.tenant.id):
        answered = db.session.scalars(
            select(DomainEvent).where(DomainEvent.type == "contact.department_answered")
        ).one()
    assert answered.payload["outcome"] == "done"
    assert answered.payload["department_id"] == str(desk.department_id)
    assert answered.payload["message_id"] == thread[0]["id"]
    assert "Refunded" not in str(answered.payload)
    kept = escalation_of(app, desk, contact["id"])
    assert (kept.outcome, kept.status, kept.used_at is not None) == ("done", "closed", True)

    # Single use: the same link, again, is refused plainly.
    again = browser.post(
        path_of(link), data={"csrf_token": csrf_of(page), "body": "Again", "outcome": "done"}
    )
    assert again.status_code == 410
    assert "already answered" in again.get_data(as_text=True)
    assert web_client(app).get(path_of(link)).status_code == 410
    # The link is a credential: no log line carries it (but the test's own SMTP server's).
    secret = link.rsplit("/", 1)[1]
    for record in (r for r in caplog.records if not r.name.startswith("mail.log")):
        assert secret not in record.getMessage() and secret not in str(vars(record))


def test_needs_more_brings_the_contact_back_and_a_second_escalation_sends_a_new_link(
    app, client, desk, inbox
):
    contact = escalated(client, desk)
    mail_departments(app)
    first = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    _, _, answered = answer_through(app, first, outcome="needs_more", body="Which invoice?")
    assert answered.status_code == 200

    back = client.get(
        contacts_url(desk.tenant, contact["id"]), headers=desk.agent_caller.headers
    ).get_json()
    assert back["status"] == "active"
    _post(
        client,
        desk,
        contact["id"],
        "escalate",
        department_id=str(desk.department_id),
        note="The invoice of 3 March.",
    )
    mail_departments(app)
    second = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    assert second != first
    assert web_client(app).get(path_of(second)).status_code == 200
    assert web_client(app).get(path_of(first)).status_code == 410


def test_a_form_without_its_csrf_token_or_an_outcome_is_refused_and_nothing_is_kept(
    app, client, desk, inbox
):
    contact = escalated(client, desk)
    mail_departments(app)
    link = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    browser = web_client(app)
    page = browser.get(path_of(link))

    forged = browser.post(path_of(link), data={"body": "Done", "outcome": "done"})
    assert forged.status_code == 400
    no_outcome = browser.post(path_of(link), data={"csrf_token": csrf_of(page), "body": "Done"})
    assert no_outcome.status_code == 422
    assert 'id="e-outcome"' in no_outcome.get_data(as_text=True)
    # In the firm's words (es-ES), not marshmallow's English naming the values.
    said = re.search(r'id="e-outcome">([^<]*)<', no_outcome.get_data(as_text=True)).group(1)
    assert said == "Elegid si está hecho o si hace falta algo más."
    empty = browser.post(
        path_of(link), data={"csrf_token": csrf_of(page), "body": "", "outcome": "done"}
    )
    assert empty.status_code == 422
    assert 'id="e-body"' in empty.get_data(as_text=True)
    assert "Escribid vuestra respuesta." in empty.get_data(as_text=True)
    assert "Length must be" not in empty.get_data(as_text=True)
    assert escalation_of(app, desk, contact["id"]).used_at is None


def test_an_expired_or_unknown_link_is_refused_plainly_never_a_server_error(
    app, client, desk, inbox
):
    contact = escalated(client, desk)
    mail_departments(app)
    link = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    with app.app_context(), tenant_scope(desk.tenant.id):
        row = db.session.scalars(select(Escalation)).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    browser = web_client(app)
    expired = browser.get(path_of(link))
    assert expired.status_code == 410
    assert "expired" in expired.get_data(as_text=True)
    assert browser.get(ANSWER_PATH + "not-a-real-link").status_code == 404
    assert browser.get(ANSWER_PATH + "x" * 5000).status_code in (404, 414)
    still = client.get(contacts_url(desk.tenant, contact["id"]), headers=desk.agent_caller.headers)
    assert still.get_json()["status"] == "escalated"


def test_the_agent_taking_the_contact_back_ends_the_link(app, client, desk, inbox):
    contact = escalated(client, desk)
    mail_departments(app)
    link = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    _post(client, desk, contact["id"], "resume")

    refused = web_client(app).get(path_of(link))
    assert refused.status_code == 410
    assert escalation_of(app, desk, contact["id"]).outcome == "withdrawn"


def test_the_answer_puts_the_contact_back_in_its_queue_when_its_agent_has_gone(
    app, client, factory, desk, inbox
):
    contact = escalated(client, desk)
    mail_departments(app)
    link = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)
    # Meanwhile the agent moved to other work: no longer on the contact's queue.
    unassigned = put_assignments(client, factory.caller("bpo_admin"), desk.agent["id"], [])
    assert unassigned.status_code == 200, unassigned.get_json()

    _, _, answered = answer_through(app, link)
    assert answered.status_code == 200
    with app.app_context(), tenant_scope(desk.tenant.id):
        back = db.session.get(Contact, uuid.UUID(contact["id"]))
        assert (back.status, back.agent_id, back.queue_id) == ("queued", None, desk.queue_id)


# --- isolation -------------------------------------------------------------------------------


def test_another_firm_sees_none_of_the_escalations(app, client, factory, desk, inbox):
    escalated(client, desk)
    other = factory.tenant()
    with app.app_context():
        with tenant_scope(other.id):
            assert db.session.scalars(select(Escalation)).all() == []
        with unscoped():
            assert len(db.session.scalars(select(Escalation)).all()) == 1
    # Nor can it escalate to this firm's department.
    intruder = _desk(app, client, factory)
    contact = create_contact(
        client, intruder.integration, intruder.tenant, queue_id=str(intruder.queue_id)
    )
    _post(
        client,
        intruder,
        contact["id"],
        "assign",
        intruder.supervisor,
        agent_id=intruder.agent["id"],
    )
    _post(client, intruder, contact["id"], "respond")
    refused = client.post(
        contacts_url(intruder.tenant, contact["id"], "escalate"),
        json={"department_id": str(desk.department_id), "note": "Over to you"},
        headers=intruder.agent_caller.headers,
    )
    assert refused.status_code == 422


# --- mails that wait, and reminders ----------------------------------------------------------


def test_a_mail_server_that_is_down_delays_the_mail_not_the_escalation(
    app, client, desk, monkeypatch
):
    monkeypatch.setitem(app.config, "SMTP_URL", "smtp://127.0.0.1:9")  # nobody listens
    contact = escalated(client, desk)
    assert contact["status"] == "escalated"

    assert mail_departments(app)["retrying"] == 1
    row = escalation_of(app, desk, contact["id"])
    assert (row.status, row.mailed_at, row.last_error is not None) == ("pending", None, True)


def test_a_department_without_an_address_is_not_mailed_and_the_escalation_stands(
    app, client, factory, inbox
):
    desk = _desk(app, client, factory, mail=None)
    contact = escalated(client, desk)

    assert mail_departments(app) == {"sent": 0, "reminded": 0, "retrying": 0, "dead": 1}
    assert inbox.messages == []
    assert escalation_of(app, desk, contact["id"]).status == "dead"


def test_a_slow_department_is_reminded_once_per_interval_the_firm_sets(app, client, factory, inbox):
    desk = _desk(app, client, factory, reminder=60)
    contact = escalated(client, desk)
    start = utcnow()
    assert mail_departments(app, now=start)["sent"] == 1
    first = link_in(inbox.last_to(DEPARTMENT_MAIL), ANSWER_PATH)

    # Within the hour: nothing more. After it: one reminder, with the same link.
    assert mail_departments(app, now=start + timedelta(minutes=59))["reminded"] == 0
    assert mail_departments(app, now=start + timedelta(minutes=61))["reminded"] == 1
    assert mail_departments(app, now=start + timedelta(minutes=62))["reminded"] == 0
    reminder = inbox.last_to(DEPARTMENT_MAIL)
    assert len(inbox.to(DEPARTMENT_MAIL)) == 2
    assert "Recordatorio" in reminder["Subject"]  # the firm writes in Spanish (es-ES)
    assert link_in(reminder, ANSWER_PATH) == first
    row = escalation_of(app, desk, contact["id"])
    assert (row.reminders_sent, row.reminded_at is not None) == (1, True)

    # Answered: no reminder ever again.
    _, _, answered = answer_through(app, first)
    assert answered.status_code == 200
    assert mail_departments(app, now=start + timedelta(hours=5))["reminded"] == 0
    assert len(inbox.to(DEPARTMENT_MAIL)) == 2


def test_no_reminder_setting_means_one_mail_only(app, client, desk, inbox):
    escalated(client, desk)
    start = utcnow()
    mail_departments(app, now=start)
    assert mail_departments(app, now=start + timedelta(days=3))["reminded"] == 0
    assert len(inbox.to(DEPARTMENT_MAIL)) == 1


# --- time with each department (reports) -----------------------------------------------------


def _escalation(contact_row, department, started: str, seconds: int | None) -> Escalation:
    start = t(started)
    return Escalation(
        contact_id=contact_row.id,
        department_id=department.id,
        token_hash=uuid.uuid4().hex * 2,
        started_at=start,
        expires_at=start + timedelta(days=7),
        ended_at=start + timedelta(seconds=seconds) if seconds is not None else None,
        outcome="done" if seconds is not None else None,
        next_attempt_at=start,
    )


def test_the_sla_report_and_the_register_show_the_time_with_each_department(app, client, factory):
    tenant, queue = firm(app, factory)
    claim = contact(queue, t("2025-03-10T09:00:00+01:00"), channel="email", category="claim")
    question = contact(queue, t("2025-03-11T10:00:00+01:00"), channel="email")
    earlier = contact(queue, t("2025-02-27T10:00:00+01:00"), channel="email", category="claim")
    finance = Department(name="Finance", kind="finance")
    legal = Department(name="Legal", kind="legal")
    store(app, tenant, [claim, question, earlier], others=[finance, legal])
    store(
        app,
        tenant,
        others=[
            # The claim: Finance twice (1 h, then 30 min), Legal once (10 min).
            _escalation(claim, finance, "2025-03-10T10:00:00+01:00", 3600),
            _escalation(claim, finance, "2025-03-10T12:00:00+01:00", 1800),
            _escalation(claim, legal, "2025-03-10T13:00:00+01:00", 600),
            # The question: Finance, still there (its time is not known yet).
            _escalation(question, finance, "2025-03-11T11:00:00+01:00", None),
            # Received before the month: in February's report, not March's.
            _escalation(earlier, legal, "2025-02-27T11:00:00+01:00", 900),
        ],
    )
    viewer = factory.caller("client_viewer", tenant)

    march_ = span("2025-03-01", "2025-04-01", granularity="month")
    march = body(sla(client, viewer, tenant, **march_))
    assert [
        (d["name"], d["escalations"], d["seconds"], d["average_seconds"])
        for d in march["departments"]
    ] == [("Finance", 2, 5400, 2700.0), ("Legal", 1, 600, 600.0)]
    # Narrowed as the report is: no escalation of a question came back.
    questions = sla(client, viewer, tenant, category="information_request", **march_)
    assert body(questions)["departments"] == []

    register = client.get(
        f"/v1/tenants/{tenant.id}/reports/complaints-register",
        query_string={"year": 2025},
        headers=viewer.headers,
    )
    seconds = {
        c["received_at"]: c["seconds_with_departments"] for c in body(register)["complaints"]
    }
    assert seconds == {"2025-02-27T10:00:00+01:00": 900, "2025-03-10T09:00:00+01:00": 6000}


def test_a_bpo_admin_sets_the_firms_reminder_time_and_a_client_admin_cannot(app, client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    url = f"/v1/tenants/{tenant.id}"
    profile = client.get(url, headers=admin.headers)
    assert profile.get_json()["department_reminder_minutes"] is None

    def patch(caller, minutes):
        etag = client.get(url, headers=caller.headers).headers["ETag"]
        return client.patch(
            url,
            json={"department_reminder_minutes": minutes},
            headers={**caller.headers, "If-Match": etag},
        )

    too_often = patch(admin, 1)
    assert too_often.status_code == 422
    assert "department_reminder_minutes" in too_often.get_json()["errors"]["json"]
    assert patch(admin, 240).get_json()["department_reminder_minutes"] == 240
    assert patch(factory.caller("client_admin", tenant), 60).status_code == 403
    assert patch(admin, None).get_json()["department_reminder_minutes"] is None
