"""The end customer's rights (issue 17): a firm exports everything it holds about one end
customer, or erases their personal data, and no SLA report or invoice figure of the month
moves; a firm's retention period wipes old contacts the same way, from the CLI.

The firm's month is March 2025 (Madrid): Ana calls twice about the same complaint within the
first contact resolution window (so her second call makes her first a repeat) and once more as
the firm's customer CUST-9; Bob calls once. Another firm also has an Ana.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.contacts import messages as contacts_messages
from app.contacts import service as contacts_service
from app.contacts.models import Contact, ContactEvent, ContactMessage
from app.db import db, utcnow
from app.events.models import DomainEvent
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookDelivery
from billing import service as billing_service
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_entries
from tests.test_billing_rating import kpi, price_firm
from tests.test_contacts_intake import contact_in
from tests.test_reports_sla import clock, policy, queue_of
from tests.test_reports_sla import contact as unsaved_contact

ANA = "ana@example.com"
SYSTEM = tenants_service.SYSTEM


def march(day: int, hour: int = 10) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=UTC)


@dataclass
class Firm:
    tenant: Tenant
    queue_id: uuid.UUID
    ana: list[uuid.UUID]
    bob: uuid.UUID


def handled(app, tenant, queue_id, at, *, wait=10, messages=(), note=None, timed=False, **fields):
    """A voice contact received at `at`, answered after `wait` seconds, resolved 10 minutes
    later and billed; its thread gets `messages` ((kind, body) pairs), its history `note` and,
    if `timed`, a resolution clock met."""
    with app.app_context(), tenant_scope(tenant.id):
        resolved = at + timedelta(minutes=10)
        contact = unsaved_contact(
            queue_id,
            at,
            status="resolved",
            status_since=resolved,
            answered_at=at + timedelta(seconds=wait),
            resolved_at=resolved,
            talk_seconds=540,
            disposition="solved",
            **fields,
        )
        db.session.add(contact)
        db.session.flush()
        billing_service.record_usage(contact=contact, at=resolved)
        if timed:
            db.session.add(clock(contact, "resolution", state="met", stopped_at=resolved))
        tenant_row = db.session.get(Tenant, tenant.id)
        for n, (kind, body) in enumerate(messages):
            contacts_messages.add(
                contact=contact,
                kind=kind,
                body=body,
                actor=SYSTEM,
                tenant=tenant_row,
                author_name="Ana" if kind == "inbound" else None,
                now=at + timedelta(minutes=n + 1),
            )
        if note:
            contacts_service.add_event(
                contact,
                action="resolve",
                from_status="active",
                at=resolved,
                actor=SYSTEM,
                note=note,
            )
        db.session.commit()
        return contact.id


def ana_fields(**more) -> dict:
    return {
        "customer_name": "Ana García",
        "customer_email": ANA,
        "customer_phone": "+34 600 11 22 33",
        "customer_key": f"email:{ANA}",
        **more,
    }


@pytest.fixture
def firm(app, factory) -> Firm:
    tenant = factory.tenant()
    price_firm(
        app,
        tenant,
        sla_credits={"total_cap_bps": 3000, "kpis": [kpi("service_level", 9000, 100, 2000)]},
    )
    policy(app, tenant, fcr_target_bps=8000)
    queue_id = queue_of(app, tenant)
    ana = [
        handled(
            app,
            tenant,
            queue_id,
            march(3),
            category="complaint",
            subject="Broken kettle",
            body="Order 77: my kettle broke",
            resolution_note="New kettle sent to Calle Mayor 1",
            csat=5,
            messages=[
                ("inbound", "I am Ana, Calle Mayor 1"),
                ("reply", "Dear Ana, a new kettle is on its way"),
                ("note", "Ana is a VIP"),
            ],
            note="Ana was refunded",
            timed=True,
            **ana_fields(),
        ),
        # Within the window: her first call was not resolved first time.
        handled(
            app,
            tenant,
            queue_id,
            march(6),
            wait=45,
            category="complaint",
            subject="Still broken",
            csat=2,
            **ana_fields(),
        ),
        handled(
            app,
            tenant,
            queue_id,
            march(12),
            category="claim",
            subject="Refund please",
            remedy_requested="Refund 30 EUR to ES12 3456",
            outcome="upheld",
            compensation_amount=3000,
            **ana_fields(customer_ref="CUST-9", customer_key="ref:CUST-9"),
        ),
    ]
    bob = handled(
        app,
        tenant,
        queue_id,
        march(4),
        category="complaint",
        subject="Bob's toaster",
        customer_name="Bob",
        customer_email="bob@example.com",
        customer_key="email:bob@example.com",
        csat=4,
        messages=[("inbound", "Bob here")],
    )
    return Firm(tenant, queue_id, ana, bob)


def url(tenant, suffix: str) -> str:
    return f"/v1/tenants/{tenant.id}{suffix}"


def export(client, caller, tenant, **identifier):
    return client.post(
        url(tenant, "/data-subjects/export"), json=identifier, headers=caller.headers
    )


def erase(client, caller, tenant, **identifier):
    return client.post(url(tenant, "/data-subjects/erase"), json=identifier, headers=caller.headers)


def figures(client, caller, tenant) -> dict:
    """Everything the firm's month is reported and billed by, as the API answers it."""
    answers = {
        "report": url(tenant, "/reports/sla?from=2025-03-01&to=2025-04-01&granularity=month"),
        "by_queue": url(tenant, "/reports/sla?from=2025-03-01&to=2025-04-01&group_by=category"),
        "register": url(tenant, "/reports/complaints-register?year=2025"),
        "invoice": url(tenant, "/invoices/preview?period=2025-03"),
        "usage": url(tenant, "/usage?period=2025-03"),
    }
    got = {}
    for name, path in answers.items():
        response = client.get(path, headers=caller.headers)
        assert response.status_code == 200, (path, response.get_json())
        got[name] = response.get_json()
    for name in ("report", "by_queue"):
        got[name].pop("generated_at")
    # The register lists what was asked for in words (personal data); its figures are the rest.
    for row in got["register"]["complaints"]:
        assert row.pop("summary") is not None and "remedy_requested" in row
        row.pop("remedy_requested")
    return got


# --- export ----------------------------------------------------------------------------------


def test_the_client_admin_exports_everything_held_about_one_customer_and_no_one_else(
    app, client, factory, firm
):
    other = factory.tenant()
    handled(app, other, queue_of(app, other), march(5), subject="Other firm's Ana", **ana_fields())
    admin = factory.caller("client_admin", firm.tenant)

    response = export(client, admin, firm.tenant, email="ANA@example.com")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    contacts = body["contacts"]
    # Her two calls by e-mail and the one by the firm's id, which also carries her e-mail.
    assert [c["id"] for c in contacts] == [str(i) for i in firm.ana]
    assert {c["subject"] for c in contacts} == {"Broken kettle", "Still broken", "Refund please"}
    first = contacts[0]
    assert first["customer_phone"] == "+34 600 11 22 33" and first["csat"] == 5
    assert [m["body"] for m in first["messages"]] == [
        "I am Ana, Calle Mayor 1",
        "Dear Ana, a new kettle is on its way",
        "Ana is a VIP",
    ]
    assert [e["note"] for e in first["events"]] == ["Ana was refunded"]
    assert [(k["kind"], k["state"]) for k in first["sla_clocks"]] == [("resolution", "met")]
    assert "Bob" not in response.get_data(as_text=True)
    assert "Other firm's Ana" not in response.get_data(as_text=True)
    assert body["counts"] == {
        "contacts": 3,
        "messages": 3,
        "contact_events": 1,
        "sla_clocks": 1,
        "escalations": 0,
        "evaluations": 0,
        "csat_scores": 2,
        "campaign_records": 0,
    }
    [entry] = audit_entries(app, "data_subject.exported")
    assert entry.tenant_id == firm.tenant.id and entry.actor_user_id == admin.user_id
    assert entry.details["identifier"] == "email" and ANA not in str(entry.details)


def test_a_customer_is_found_by_phone_digits_or_by_the_firms_id(client, factory, firm):
    admin = factory.caller("bpo_admin")

    by_phone = export(client, admin, firm.tenant, phone="+34 600-112-233")
    by_ref = export(client, admin, firm.tenant, ref="CUST-9")

    assert len(by_phone.get_json()["contacts"]) == 3
    # The firm's id names one contact: her calls by e-mail are keyed by the e-mail.
    assert [c["id"] for c in by_ref.get_json()["contacts"]] == [str(firm.ana[2])]


def test_a_subject_must_be_named_by_exactly_one_identifier(client, factory, firm):
    admin = factory.caller("client_admin", firm.tenant)

    none = assert_problem(export(client, admin, firm.tenant), 422)
    two = assert_problem(erase(client, admin, firm.tenant, email=ANA, ref="CUST-9"), 422)
    no_digits = assert_problem(erase(client, admin, firm.tenant, phone="call me"), 422)

    assert "email" in none["errors"]["json"]
    assert "ref" in two["errors"]["json"]
    assert "phone" in no_digits["errors"]["json"]


# --- erasure ---------------------------------------------------------------------------------


def test_erasure_wipes_the_customer_and_leaves_every_report_and_invoice_figure_identical(
    app, client, factory, firm
):
    admin = factory.caller("client_admin", firm.tenant)
    bpo = factory.caller("bpo_admin")
    before = figures(client, bpo, firm.tenant)
    # The month's first contact resolution rests on Ana's repeat: 3 first contacts (her
    # kettle, her claim, Bob's toaster), 2 resolved first time.
    [month] = before["report"]["rows"]
    fcr = month["fcr"]
    assert (fcr["first_contacts"], fcr["resolved_first_time"]) == (3, 2), fcr
    with app.app_context(), tenant_scope(firm.tenant.id):
        endpoint = webhooks_service.create(
            endpoint_in={"url": "https://firm.example/hooks"}, actor=SYSTEM
        )
        # As the worker delivers the thread's events once the firm subscribes to them.
        for event in db.session.scalars(
            select(DomainEvent).where(DomainEvent.type == "contact.message.created")
        ):
            db.session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event.id,
                    event_type=event.type,
                    payload=event.payload,
                    next_attempt_at=utcnow(),
                )
            )
        db.session.commit()

    response = erase(client, admin, firm.tenant, email=ANA)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["counts"] == {
        "contacts": 3,
        "messages": 3,
        "contact_events": 1,
        "escalations": 0,
        "domain_events": 1,
        "webhook_deliveries": 1,
        "evaluations": 0,
        "campaign_records": 0,
        "idempotency_records": 0,
    }
    assert figures(client, bpo, firm.tenant) == before
    # And the month, closed now, is invoiced as it was previewed before the erasure.
    closed = client.post("/v1/billing/periods/2025-03/close", headers=bpo.headers)
    assert closed.status_code == 200, closed.get_json()
    [row] = [r for r in closed.get_json()["tenants"] if r["tenant_id"] == str(firm.tenant.id)]
    invoice = client.get(url(firm.tenant, f"/invoices/{row['invoice_id']}"), headers=bpo.headers)
    preview = before["invoice"]
    for key in ("usage_count", "subtotal", "minimum_topup", "credit_amount", "total", "lines"):
        assert invoice.get_json()[key] == preview[key], key
    assert preview["credit_amount"] > 0  # the service level credit rests on the contacts too
    with app.app_context(), tenant_scope(firm.tenant.id):
        contacts = [db.session.get(Contact, i) for i in firm.ana]
        for c in contacts:
            assert (c.customer_name, c.customer_email, c.customer_phone, c.customer_ref) == (
                None,
                None,
                None,
                None,
            )
            assert (c.subject, c.body, c.remedy_requested, c.resolution_note) == (
                "",
                "",
                None,
                None,
            )
            assert c.personal_data_erased_at is not None
        # Figures kept; one pseudonym for her two e-mail calls, another for her claim.
        assert [c.csat for c in contacts] == [5, 2, None]
        assert contacts[2].compensation_amount == 3000 and contacts[2].outcome == "upheld"
        keys = [c.customer_key for c in contacts]
        assert keys[0] == keys[1] != keys[2] and all(k.startswith("erased:") for k in keys)
        assert "ana" not in "".join(keys).lower()
        bodies = db.session.scalars(
            select(ContactMessage.body).where(ContactMessage.contact_id.in_(firm.ana))
        ).all()
        assert bodies == ["", "", ""]
        notes = db.session.scalars(
            select(ContactEvent.note).where(ContactEvent.contact_id.in_(firm.ana))
        ).all()
        assert set(notes) == {None}
        payloads = [e.payload for e in db.session.scalars(select(DomainEvent))]
        payloads += [d.payload for d in db.session.scalars(select(WebhookDelivery))]
        assert "Dear Ana" not in str(payloads) and "Ana" not in str(payloads)
        bob = db.session.get(Contact, firm.bob)
        assert (bob.customer_name, bob.subject) == ("Bob", "Bob's toaster")
    [entry] = audit_entries(app, "data_subject.erased")
    assert entry.tenant_id == firm.tenant.id and entry.actor_user_id == admin.user_id
    assert entry.details["counts"]["contacts"] == 3
    assert sorted(entry.details["contact_ids"]) == sorted(str(i) for i in firm.ana)
    assert ANA not in str(entry.details)


def test_the_database_function_that_blanks_reply_texts_reaches_no_other_firm(app, factory, firm):
    other = factory.tenant()
    blank = text("SELECT redact_message_bodies(CAST(:ids AS uuid[]))")
    with app.app_context():
        with tenant_scope(other.id):
            # Firm A's contact ids, from firm B's scope: the events are A's.
            redacted = db.session.execute(blank, {"ids": firm.ana}).scalar_one()
            db.session.commit()
        with tenant_scope(firm.tenant.id):
            events = db.session.scalars(
                select(DomainEvent).where(DomainEvent.type == "contact.message.created")
            )
            bodies = [e.payload["message"]["body"] for e in events]

    assert redacted == 0
    assert "Dear Ana, a new kettle is on its way" in bodies


def test_a_second_erasure_finds_nothing_and_answers_zeros(app, client, factory, firm):
    admin = factory.caller("bpo_admin")
    assert erase(client, admin, firm.tenant, email=ANA).status_code == 200

    again = erase(client, admin, firm.tenant, email=ANA)

    assert again.status_code == 200
    assert set(again.get_json()["counts"].values()) == {0}
    assert export(client, admin, firm.tenant, email=ANA).get_json()["contacts"] == []
    assert len(audit_entries(app, "data_subject.erased")) == 2


def test_erasure_in_one_firm_leaves_the_same_customer_of_another_firm(app, client, factory, firm):
    other = factory.tenant()
    theirs = handled(app, other, queue_of(app, other), march(5), subject="Kept", **ana_fields())

    erase(client, factory.caller("client_admin", firm.tenant), firm.tenant, email=ANA)

    with app.app_context(), tenant_scope(other.id):
        contact = db.session.get(Contact, theirs)
        assert (contact.customer_email, contact.subject) == (ANA, "Kept")


def test_another_firms_client_admin_gets_404_and_changes_nothing(app, client, factory, firm):
    intruder = factory.caller("client_admin", factory.tenant())

    for call in (export, erase):
        assert_problem(call(client, intruder, firm.tenant, email=ANA), 404)

    with app.app_context(), tenant_scope(firm.tenant.id):
        assert db.session.get(Contact, firm.ana[0]).customer_email == ANA
    assert audit_entries(app, "data_subject.erased") == []


@pytest.mark.parametrize("role", ["supervisor", "agent", "client_viewer"])
def test_staff_and_viewers_may_neither_export_nor_erase(client, factory, firm, role):
    caller = factory.caller(role, None if role in ("supervisor", "agent") else firm.tenant)

    for call in (export, erase):
        assert call(client, caller, firm.tenant, email=ANA).status_code in (403, 404)


# --- retention -------------------------------------------------------------------------------


def test_the_bpo_admin_sets_a_firms_retention_and_the_client_admin_cannot(client, factory, firm):
    bpo = factory.caller("bpo_admin")
    path = url(firm.tenant, "")
    etag = client.get(path, headers=bpo.headers).headers["ETag"]

    changed = client.patch(
        path,
        json={"personal_data_retention_months": 24},
        headers={**bpo.headers, "If-Match": etag},
    )
    bad = client.patch(
        path, json={"personal_data_retention_months": 0}, headers={**bpo.headers, "If-Match": "*"}
    )
    refused = client.patch(
        path,
        json={"personal_data_retention_months": None},
        headers={**factory.caller("client_admin", firm.tenant).headers, "If-Match": "*"},
    )

    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["personal_data_retention_months"] == 24
    assert "personal_data_retention_months" in assert_problem(bad, 422)["errors"]["json"]
    assert refused.status_code == 403


def test_the_retention_purge_wipes_only_contacts_finished_before_the_period(
    app, client, factory, runner
):
    keeping = factory.tenant()
    forgetful = factory.tenant()
    now = datetime.now(UTC)
    ids = {}
    for tenant in (keeping, forgetful):
        q = queue_of(app, tenant)
        ids[tenant.id] = {
            "old": handled(app, tenant, q, now - timedelta(days=800), **ana_fields()),
            "recent": handled(
                app, tenant, q, now - timedelta(days=30), subject="Recent", customer_name="Eva"
            ),
            # Leo called twice, three days apart, both long ago.
            "chained": handled(
                app,
                tenant,
                q,
                now - timedelta(days=800),
                customer_email="leo@example.com",
                customer_key="email:leo@example.com",
            ),
            "chain_end": handled(
                app,
                tenant,
                q,
                now - timedelta(days=797),
                customer_email="leo@example.com",
                customer_key="email:leo@example.com",
            ),
        }
    with app.app_context():
        db.session.get(Tenant, forgetful.id).personal_data_retention_months = 24
        db.session.commit()

    result = runner.invoke(args=["contacts", "purge-personal-data", "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    assert f"{forgetful.slug}: " in result.output and keeping.slug not in result.output
    with app.app_context(), tenant_scope(forgetful.id):
        old = db.session.get(Contact, ids[forgetful.id]["old"])
        recent = db.session.get(Contact, ids[forgetful.id]["recent"])
        assert (old.customer_email, old.customer_name) == (None, None)
        assert old.personal_data_erased_at is not None
        assert recent.customer_name == "Eva" and recent.personal_data_erased_at is None
        # 800 and 797 days ago are both over 24 months: the chain goes whole.
        chained = [db.session.get(Contact, ids[forgetful.id][k]) for k in ("chained", "chain_end")]
        assert chained[0].customer_key == chained[1].customer_key != "email:leo@example.com"
    with app.app_context(), tenant_scope(keeping.id):
        assert db.session.get(Contact, ids[keeping.id]["old"]).customer_email == ANA
    [entry, *_more] = audit_entries(app, "contacts.personal_data_purged")
    assert entry.tenant_id == forgetful.id

    again = runner.invoke(args=["contacts", "purge-personal-data"])
    assert "0 contacts" in again.output


def test_a_due_contact_waits_while_its_customer_came_back_within_the_window(app, factory, runner):
    tenant = factory.tenant()
    q = queue_of(app, tenant)
    now = datetime.now(UTC)
    leo = {"customer_email": "leo@example.com", "customer_key": "email:leo@example.com"}
    # Leo's first call is over a year old; he called again five days after it.
    due = handled(app, tenant, q, now - timedelta(days=400), **leo)
    repeat = handled(app, tenant, q, now - timedelta(days=395), **leo)
    with app.app_context(), tenant_scope(tenant.id):
        # The repeat is still open: not due, so neither is the first call.
        contact = db.session.get(Contact, repeat)
        contact.status, contact.resolved_at = "active", None
        db.session.get(Tenant, tenant.id).personal_data_retention_months = 12
        db.session.commit()

    runner.invoke(args=["contacts", "purge-personal-data"])

    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.get(Contact, due).customer_email == "leo@example.com"


def test_erasure_drops_the_stored_answer_a_retried_intake_would_replay(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    headers = {**integration.headers, "Idempotency-Key": "intake-ana-1"}
    taken = client.post(url(tenant, "/contacts"), json=contact_in(), headers=headers)
    assert taken.status_code == 201, taken.get_json()

    erased = erase(client, factory.caller("client_admin", tenant), tenant, email=ANA)

    assert erased.get_json()["counts"]["idempotency_records"] == 1
    # The retry is taken in afresh (the firm's systems would not retry after asking to erase).
    again = client.post(url(tenant, "/contacts"), json=contact_in(), headers=headers)
    assert again.headers.get("Idempotent-Replayed") != "true"


def test_the_agents_note_to_a_department_is_exported_and_then_erased(app, client, factory, firm):
    from app.contacts.models import Department, Escalation

    with app.app_context(), tenant_scope(firm.tenant.id):
        department = Department(name="Finance", kind="finance", email="finance@firm.test")
        db.session.add(department)
        db.session.flush()
        started = march(3, 11)
        db.session.add(
            Escalation(
                contact_id=firm.ana[0],
                department_id=department.id,
                note="Ana asks for her refund to a new card",
                token_hash="0" * 64,
                started_at=started,
                expires_at=started + timedelta(days=7),
                next_attempt_at=started,
            )
        )
        db.session.commit()
    admin = factory.caller("client_admin", firm.tenant)

    exported = export(client, admin, firm.tenant, email=ANA).get_json()
    [escalation] = [x for c in exported["contacts"] for x in c["escalations"]]
    assert escalation["note"] == "Ana asks for her refund to a new card"
    assert "token_hash" not in escalation and exported["counts"]["escalations"] == 1

    erased = erase(client, admin, firm.tenant, email=ANA)

    assert erased.get_json()["counts"]["escalations"] == 1
    with app.app_context(), tenant_scope(firm.tenant.id):
        kept = db.session.scalars(select(Escalation)).one()
        assert kept.note is None and kept.started_at == started


def test_a_reviewers_comments_on_the_customers_contact_are_exported_then_blanked_scores_kept(
    app, client, factory, firm
):
    from app.quality.models import Evaluation, EvaluationAnswer, Scorecard, ScorecardVersion

    with app.app_context(), tenant_scope(firm.tenant.id):
        card = Scorecard(name="Calls")
        db.session.add(card)
        db.session.flush()
        version = ScorecardVersion(
            scorecard_id=card.id, number=1, sections=[], passing_score_bps=8000
        )
        db.session.add(version)
        db.session.flush()
        contact = db.session.get(Contact, firm.ana[0])
        review = Evaluation(
            contact_id=contact.id,
            queue_id=contact.queue_id,
            scorecard_version_id=version.id,
            purpose="review",
            reason="chosen",
            state="submitted",
            score_bps=9000,
            comment="Ana was angry about Calle Mayor 1",
        )
        db.session.add(review)
        db.session.flush()
        db.session.add(
            EvaluationAnswer(
                evaluation_id=review.id,
                section_key="s",
                question_key="verified",
                answer="yes",
                points=10,
                earned_bps=10000,
                comment="Asked Ana for her order 77",
            )
        )
        db.session.commit()
    admin = factory.caller("client_admin", firm.tenant)

    exported = export(client, admin, firm.tenant, email=ANA).get_json()
    [evaluation] = [e for c in exported["contacts"] for e in c["evaluations"]]
    assert evaluation["comment"] == "Ana was angry about Calle Mayor 1"
    assert [a["comment"] for a in evaluation["answers"]] == ["Asked Ana for her order 77"]

    erased = erase(client, admin, firm.tenant, email=ANA)

    assert erased.get_json()["counts"]["evaluations"] == 1
    with app.app_context(), tenant_scope(firm.tenant.id):
        kept = db.session.scalars(select(Evaluation)).one()
        answer = db.session.scalars(select(EvaluationAnswer)).one()
        assert (kept.comment, kept.score_bps) == ("", 9000)
        assert (answer.comment, answer.earned_bps) == ("", 10000)
