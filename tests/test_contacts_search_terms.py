"""Contact search's own index on PostgreSQL, `contact_search_terms` (migration 0026): the
database's triggers keep it on every write, the application's role (under forced row-level
security) searches it through its b-tree, and erasing a customer leaves no word of theirs."""

from __future__ import annotations

from sqlalchemy import select, text, update

from app.contacts import search
from app.contacts.models import Contact, ContactMessage
from app.db import db
from tenants.scoping import send_scope, tenant_scope
from tests.test_contacts_search import Firm, found


def terms(app, tenant, contact_id) -> set[tuple[str, str]]:
    """(source, term) of a contact, read as the application reads (its role, its scope)."""
    with app.app_context(), tenant_scope(tenant.id):
        rows = send_scope(db.session).execute(
            text("SELECT source, term FROM contact_search_terms WHERE contact_id = :id"),
            {"id": contact_id},
        )
        return {tuple(row) for row in rows}


def plan(app, tenant, q: str) -> tuple[str, str]:
    """The app role (its connection, its scope) and its plan for the search of `q`."""
    with app.app_context(), tenant_scope(tenant.id):
        statement = search.narrow(select(Contact), q=q, include_notes=False)
        sql = statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        connection = send_scope(db.session)
        role = connection.execute(text("SELECT current_user")).scalar()
        # Not whether the planner prefers the index on a small table, but whether it may use
        # it at all: under row-level security it may not for a condition that is not leakproof.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        return role, "\n".join(connection.execute(text(f"EXPLAIN {sql}")).scalars())


def test_the_app_roles_word_search_reads_the_terms_through_their_index(app, factory):
    firm = Firm(app, factory)
    for n in range(30):
        firm.contact(f"Parcel {n}", messages=[("inbound", f"never came {n}")])

    role, words = plan(app, firm.tenant, "parcel never")
    assert role == "switchboard_test_app"
    assert "Seq Scan on contact_search_terms" not in words, words
    assert "ix_contact_search_terms_tenant_id_term" in words, words
    assert "term >= 'parcel'::text" in words, words


def test_the_app_roles_email_and_phone_lookups_read_the_terms_through_their_index(app, factory):
    firm = Firm(app, factory)
    firm.contact("Parcel", customer_email="ana@example.com", customer_phone="600 11 22 33")

    for q in ("Ana@Example.com", "600-11-22-33"):
        _, lookup = plan(app, firm.tenant, q)
        assert "Seq Scan on contact_search_terms" not in lookup, lookup
        assert "ix_contact_search_terms_tenant_id_term" in lookup, lookup


def test_terms_follow_every_write_even_one_past_the_orm(app, client, factory):
    firm = Firm(app, factory)
    contact_id = firm.contact(
        "Late parcel",
        customer_name="Lucía Pérez",
        customer_email="Ana@Example.com",
        customer_phone="+34 600 11 22 33",
        messages=[("inbound", "<p>My <b>box</b></p>", "html"), ("note", "Refund her")],
    )
    assert terms(app, firm.tenant, contact_id) == {
        ("contact", "late"),
        ("contact", "parcel"),
        ("contact", "lucía"),
        ("contact", "pérez"),
        ("identifier", "ana@example.com"),
        ("identifier", "34600112233"),
        ("message", "my"),
        ("message", "box"),
        ("note", "refund"),
        ("note", "her"),
    }
    with app.app_context(), tenant_scope(firm.tenant.id):
        # A bulk update, as an import or a script would make it.
        db.session.execute(
            update(Contact).where(Contact.id == contact_id).values(subject="Broken lamp")
        )
        db.session.execute(
            update(ContactMessage)
            .where(ContactMessage.contact_id == contact_id, ContactMessage.kind == "note")
            .values(kind="reply")
        )
        db.session.commit()
    now = terms(app, firm.tenant, contact_id)
    assert ("contact", "lamp") in now and ("contact", "parcel") not in now
    assert ("message", "refund") in now and ("note", "refund") not in now
    viewer = factory.caller("client_viewer", firm.tenant)
    assert found(client, viewer, firm.tenant, "bro LAM") == ["Broken lamp"]
    assert found(client, viewer, firm.tenant, "parcel") == []


def test_prefixes_of_every_word_must_match_and_the_contacts_own_words_rank_first(
    app, client, factory
):
    firm = Firm(app, factory)
    firm.contact("Damaged parcel")
    firm.contact("Question", messages=[("inbound", "the parcel arrived damaged")])
    firm.contact("Damaged", messages=[("inbound", "a parcel")])
    firm.contact("Parcel lost")
    viewer = factory.caller("client_viewer", firm.tenant)

    # Both words in its own subject first, then one, then none (the thread only).
    assert found(client, viewer, firm.tenant, "dam parc") == [
        "Damaged parcel",
        "Damaged",
        "Question",
    ]
    # "z" follows every letter typed here: the range's end is the next code point.
    assert found(client, viewer, firm.tenant, "parcelz") == []


def test_erasure_leaves_no_term_of_the_customers_data(app, client, factory):
    firm = Firm(app, factory)
    contact_id = firm.contact(
        "Pedido de Lucía",
        customer_name="Lucía Pérez",
        customer_email="lucia@example.com",
        customer_phone="600112233",
        body="Soy Lucía, calle Mayor 5",
        messages=[("inbound", "Mi DNI es 12345678Z"), ("note", "Lucía llamó")],
    )
    admin = factory.caller("client_admin", firm.tenant)
    response = client.post(
        f"/v1/tenants/{firm.tenant.id}/data-subjects/erase",
        json={"email": "lucia@example.com"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.get_json()

    assert terms(app, firm.tenant, contact_id) == set()
    viewer = factory.caller("client_viewer", firm.tenant)
    for q in ("lucía", "pérez", "mayor", "12345678z", "lucia@example.com", "600112233"):
        assert found(client, viewer, firm.tenant, q) == [], q


def test_a_deleted_contact_takes_its_terms_along(app, factory):
    firm = Firm(app, factory)
    contact_id = firm.contact("Parcel", messages=[("inbound", "where")])
    with app.app_context(), tenant_scope(firm.tenant.id):
        db.session.delete(db.session.get(Contact, contact_id))
        db.session.commit()
    assert terms(app, firm.tenant, contact_id) == set()
