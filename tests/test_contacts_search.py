"""Finding a firm's contacts (`GET .../contacts?q=`): by the end customer's e-mail, phone and
customer id exactly, by `external_id`, by the words of the subject, the name and the thread,
best first, within the caller's reach (an agent: its queues; the integration: no notes unless
shared), on PostgreSQL (full-text search) and on SQLite (the demo's LIKE scan)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.agents.models import Agent, Assignment
from app.contacts.models import Contact, ContactMessage
from app.db import db, utcnow
from app.queues.models import Queue
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.http_helpers import assert_problem


def url(tenant) -> str:
    return f"/v1/tenants/{tenant.id}/contacts"


def found(client, caller, tenant, q, **args) -> list[str]:
    """The subjects `q` finds, in the order answered."""
    response = client.get(url(tenant), query_string={"q": q, **args}, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return [c["subject"] for c in response.get_json()]


class Firm:
    def __init__(self, app, factory) -> None:
        self.app, self.tenant = app, factory.tenant()
        with app.app_context(), tenant_scope(self.tenant.id):
            self.front = Queue(name="Front", channels=["email", "chat"])
            self.back = Queue(name="Back office", channels=["email", "chat"])
            db.session.add_all([self.front, self.back])
            db.session.commit()
            self.front_id, self.back_id = self.front.id, self.back.id
        self.minutes = 0

    def contact(self, subject: str, *, queue=None, messages=(), **fields) -> uuid.UUID:
        """A contact (each newer than the last) with its thread: (kind, body[, format])."""
        self.minutes += 1
        at = utcnow() - timedelta(hours=1) + timedelta(minutes=self.minutes)
        with self.app.app_context(), tenant_scope(self.tenant.id):
            contact = Contact(
                channel="email",
                direction="inbound",
                category="complaint",
                priority="normal",
                priority_rank=2,
                subject=subject,
                queue_id=queue or self.front_id,
                status="queued",
                status_since=at,
                received_at=at,
                queued_at=at,
                created_at=at,
                **fields,
            )
            db.session.add(contact)
            db.session.flush()
            for kind, body, *fmt in messages:
                db.session.add(
                    ContactMessage(
                        contact_id=contact.id,
                        kind=kind,
                        channel="email",
                        body=body,
                        body_format=fmt[0] if fmt else "text",
                    )
                )
            db.session.commit()
            return contact.id

    def agent_of_front(self, factory):
        caller = factory.caller("agent")
        with self.app.app_context():
            # The agent's profile is the BPO's, not the firm's.
            with unscoped():
                agent = Agent(user_id=caller.user_id, channels=["email"], concurrency={"email": 5})
                db.session.add(agent)
            with tenant_scope(self.tenant.id):
                db.session.add(Assignment(agent_id=agent.id, queue_id=self.front_id))
            db.session.commit()
        return caller


@pytest.fixture
def firm(db_app, db_factory):
    return Firm(db_app, db_factory)


def test_a_viewer_finds_the_customers_contacts_by_email_and_phone_exactly(
    db_client, db_factory, firm
):
    firm.contact("Late parcel", customer_email="Ana.Garcia@example.com")
    firm.contact("Wrong size", customer_phone="+34 600 11 22 33")
    firm.contact("Refund", customer_email="ana@example.com", customer_phone="600112234")
    viewer = db_factory.caller("client_viewer", firm.tenant)

    # Case does not matter in an address; only the same address matches, not a part of one.
    assert found(db_client, viewer, firm.tenant, "ana.garcia@EXAMPLE.com") == ["Late parcel"]
    assert found(db_client, viewer, firm.tenant, "garcia@example.com") == []
    # A phone is its digits, however it is typed.
    assert found(db_client, viewer, firm.tenant, "(+34) 600-11-22-33") == ["Wrong size"]
    assert found(db_client, viewer, firm.tenant, "600 11 22 34") == ["Refund"]


def test_words_find_subject_name_and_thread_with_exact_identifiers_first(
    db_app, db_client, db_factory, firm
):
    firm.contact("Pedido retrasado", customer_name="Lucía Pérez")
    firm.contact("Question", messages=[("inbound", "<p>My <b>parcel</b> never came</p>", "html")])
    firm.contact("Parcel damaged")
    firm.contact("Invoice copy", external_id="parcel")
    firm.contact("Invoice error", customer_ref="CUST-77")
    viewer = db_factory.caller("client_viewer", firm.tenant)

    # The contact whose external id is the very word comes first, then the rest, newest first
    # among equals (PostgreSQL also ranks the subject's words above the thread's).
    assert found(db_client, viewer, firm.tenant, "parcel") == [
        "Invoice copy",
        "Parcel damaged",
        "Question",
    ]
    assert found(db_client, viewer, firm.tenant, "pérez") == ["Pedido retrasado"]
    assert found(db_client, viewer, firm.tenant, "pedido RETRASADO") == ["Pedido retrasado"]
    # Words are found by their start; every word must be there.
    assert found(db_client, viewer, firm.tenant, "retras") == ["Pedido retrasado"]
    assert found(db_client, viewer, firm.tenant, "parcel never") == ["Question"]
    if db_app.config["DATABASE_URL"].startswith("postgresql"):
        # The tags of a message's HTML are not its words (the demo's SQLite scan reads the
        # stored text as it is).
        assert found(db_client, viewer, firm.tenant, "b") == []
    assert found(db_client, viewer, firm.tenant, "CUST-77") == ["Invoice error"]


def test_search_keeps_the_lists_filters_and_pages(db_client, db_factory, firm):
    for n in range(3):
        firm.contact(f"Parcel {n}", queue=firm.back_id if n == 1 else None)
    viewer = db_factory.caller("client_viewer", firm.tenant)

    assert found(db_client, viewer, firm.tenant, "parcel", queue_id=str(firm.back_id)) == [
        "Parcel 1"
    ]
    response = db_client.get(
        url(firm.tenant), query_string={"q": "parcel", "page_size": 2}, headers=viewer.headers
    )
    assert [c["subject"] for c in response.get_json()] == ["Parcel 2", "Parcel 1"]
    assert '"total": 3' in response.headers["X-Pagination"]


def test_an_agent_finds_only_the_contacts_of_its_queues(db_client, db_factory, firm):
    firm.contact("Parcel at the front", customer_email="ana@example.com")
    firm.contact("Parcel in the back", queue=firm.back_id, customer_email="ana@example.com")
    agent = firm.agent_of_front(db_factory)

    assert found(db_client, agent, firm.tenant, "parcel") == ["Parcel at the front"]
    assert found(db_client, agent, firm.tenant, "ana@example.com") == ["Parcel at the front"]


def test_the_integration_finds_no_contact_by_an_internal_note_unless_notes_are_shared(
    db_app, db_client, db_factory, firm
):
    firm.contact("Call back", messages=[("note", "Customer is a journalist")])
    integration = db_factory.caller("integration", firm.tenant)
    viewer = db_factory.caller("client_viewer", firm.tenant)

    assert found(db_client, viewer, firm.tenant, "journalist") == ["Call back"]
    assert found(db_client, integration, firm.tenant, "journalist") == []
    with db_app.app_context():
        db.session.get(Tenant, firm.tenant.id).share_notes_with_integration = True
        db.session.commit()
    assert found(db_client, integration, firm.tenant, "journalist") == ["Call back"]


def test_another_firms_contacts_are_never_found(db_app, db_client, db_factory, firm):
    other = Firm(db_app, db_factory)
    other.contact("Parcel elsewhere", customer_email="ana@example.com")
    viewer = db_factory.caller("client_viewer", firm.tenant)

    assert found(db_client, viewer, firm.tenant, "parcel") == []
    assert found(db_client, viewer, firm.tenant, "ana@example.com") == []
    response = db_client.get(url(other.tenant), query_string={"q": "x"}, headers=viewer.headers)
    assert response.status_code == 404


@pytest.mark.parametrize("q", ["", "   ", "x" * 201])
def test_an_empty_or_overlong_search_is_refused_beside_q(db_client, db_factory, firm, q):
    viewer = db_factory.caller("client_viewer", firm.tenant)
    response = db_client.get(url(firm.tenant), query_string={"q": q}, headers=viewer.headers)
    assert_problem(response, 422)
    assert "q" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize(
    "q", ["_", "a_b", "ü", "x:y & !z", "'; DROP TABLE contacts;--", "%", "\\", "(+)", "@", "a@b@c"]
)
def test_text_with_the_syntax_of_queries_or_patterns_is_searched_as_text(
    db_client, db_factory, firm, q
):
    firm.contact("Parcel 100% late")
    viewer = db_factory.caller("client_viewer", firm.tenant)
    assert found(db_client, viewer, firm.tenant, q) == []
