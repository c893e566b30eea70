"""A contact's thread through the API: the end customer's messages from the firm's integration,
the agent's replies (also recorded by `respond`), internal notes the integration does not read
unless the firm shares them, sanitised HTML, the size cap, who may post what, and the event."""

from __future__ import annotations

import uuid

import pytest

from app.contacts import messages as contacts_messages
from app.contacts import service as contacts_service
from app.db import db
from app.errors import Unprocessable
from app.events import catalogue
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.service import SYSTEM
from tests import test_contacts_lifecycle_api as lifecycle
from tests.http_helpers import assert_problem
from tests.test_contacts_intake import contacts_url, create_contact, queue_of
from tests.test_contacts_lifecycle_api import Floor, act, assigned, new_contact, ok
from tests.test_domain_events import events_of

# The lifecycle tests' firm at work (queues, a supervisor, two agents, an integration).
floor = lifecycle.floor


def messages_url(tenant, contact_id) -> str:
    return contacts_url(tenant, contact_id, "messages")


def post(client, floor: Floor, contact_id, caller, **body):
    return client.post(messages_url(floor.tenant, contact_id), json=body, headers=caller.headers)


def thread(client, floor: Floor, contact_id, caller) -> list[dict]:
    response = client.get(messages_url(floor.tenant, contact_id), headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def message_events(app, tenant) -> list[dict]:
    return [e.payload for e in events_of(app, tenant) if e.type == "contact.message.created"]


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- the end customer, the agent and the thread ----------------------------------------------


def test_the_firms_integration_posts_the_customers_message_and_reads_it_back(app, client, floor):
    contact = new_contact(client, floor)

    message = created(
        post(
            client,
            floor,
            contact["id"],
            floor.integration,
            kind="inbound",
            body="Where is my parcel?",
            author_name="Ana García",
            external_id="ZD-1-3",
        )
    )

    assert message["kind"] == "inbound"
    assert message["channel"] == "email"  # the contact's
    assert message["body_format"] == "text"
    assert message["author_name"] == "Ana García"
    assert message["author_client_id"] == floor.integration.client_id
    assert message["author_user_id"] is None
    assert [m["id"] for m in thread(client, floor, contact["id"], floor.integration)] == [
        message["id"]
    ]
    [event] = message_events(app, floor.tenant)
    assert event["contact_id"] == contact["id"]
    assert event["status"] == event["previous_status"] == "queued"
    assert event["message"]["id"] == message["id"]
    assert event["message"]["kind"] == "inbound"
    # The customer's words and name stay out of the event log.
    assert event["message"]["body"] is None
    assert "Where is my parcel" not in str(event) and "Ana" not in str(event)
    assert catalogue.payload_errors(type="contact.message.created", payload=event) == {}


def test_a_retried_inbound_message_is_answered_with_the_first_one(app, client, floor):
    contact = new_contact(client, floor)
    body = {"kind": "inbound", "body": "Hello?", "external_id": "ZD-1-4"}

    first = created(post(client, floor, contact["id"], floor.integration, **body))
    again = post(client, floor, contact["id"], floor.integration, **body)

    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first["id"]
    assert len(thread(client, floor, contact["id"], floor.integration)) == 1
    assert len(message_events(app, floor.tenant)) == 1


def test_the_agent_replies_through_respond_and_the_event_carries_the_reply(app, client, floor):
    contact = assigned(client, floor, channel="email")

    responded = ok(
        act(
            client,
            floor,
            contact["id"],
            "respond",
            message={"body": "Your parcel leaves today.", "body_format": "text"},
        )
    )

    assert responded["status"] == "active"
    assert responded["first_response_at"] is not None
    [reply] = thread(client, floor, contact["id"], floor.integration)
    assert reply["kind"] == "reply"
    assert reply["body"] == "Your parcel leaves today."
    assert reply["author_user_id"] == str(floor.agent_caller.user_id)
    [event] = message_events(app, floor.tenant)
    # The firm's systems deliver the reply: its event is the one that carries the text.
    assert event["message"]["body"] == "Your parcel leaves today."
    assert event["message"]["body_format"] == "text"
    assert event["status"] == "active"
    assert catalogue.payload_errors(type="contact.message.created", payload=event) == {}
    types = [e.type for e in events_of(app, floor.tenant)]
    assert types[-2:] == ["contact.responded", "contact.message.created"]


def test_respond_without_a_message_still_works_and_adds_nothing_to_the_thread(client, floor):
    contact = assigned(client, floor, channel="email")

    ok(act(client, floor, contact["id"], "respond", note="Called back"))

    assert thread(client, floor, contact["id"], floor.supervisor) == []


def test_nobody_posts_a_departments_answer_through_the_api(client, floor):
    # A department answers through its mail's link only (tests/test_department_round_trip.py).
    contact = new_contact(client, floor)

    for caller in (floor.integration, floor.supervisor):
        response = post(client, floor, contact["id"], caller, kind="department", body="Done")
        assert_problem(response, 422)
    assert thread(client, floor, contact["id"], floor.supervisor) == []


def test_a_respond_whose_reply_is_too_big_changes_nothing(app, client, floor):
    contact = assigned(client, floor, channel="email")
    huge = "x" * (contacts_messages.BODY_MAX_BYTES + 1)

    response = act(client, floor, contact["id"], "respond", message={"body": huge})

    problem = assert_problem(response, 422)
    assert "body" in str(problem["errors"])
    assert (
        ok(
            client.get(
                contacts_url(floor.tenant, contact["id"]), headers=floor.agent_caller.headers
            )
        )["status"]
        == "assigned"
    )
    assert message_events(app, floor.tenant) == []


def test_the_agent_holding_a_contact_posts_replies_and_notes_oldest_first(client, floor):
    contact = assigned(client, floor, channel="chat")
    agent = floor.agent_caller

    reply = created(post(client, floor, contact["id"], agent, kind="reply", body="Hi Ana"))
    note = created(post(client, floor, contact["id"], agent, kind="note", body="VIP customer"))
    inbound = created(
        post(client, floor, contact["id"], floor.integration, kind="inbound", body="Thanks")
    )

    listed = thread(client, floor, contact["id"], floor.supervisor)
    assert [m["id"] for m in listed] == [reply["id"], note["id"], inbound["id"]]
    assert [m["kind"] for m in listed] == ["reply", "note", "inbound"]


def test_a_note_is_recorded_as_an_event_without_its_text(app, client, floor):
    contact = new_contact(client, floor)

    created(post(client, floor, contact["id"], floor.supervisor, kind="note", body="Call at 5"))

    [event] = message_events(app, floor.tenant)
    assert event["message"]["kind"] == "note"
    assert event["message"]["body"] is None and event["message"]["body_format"] is None


# --- notes and the firm's integration --------------------------------------------------------


def test_notes_are_hidden_from_the_integration_until_the_firm_shares_them(
    app, client, factory, floor
):
    contact = new_contact(client, floor)
    created(post(client, floor, contact["id"], floor.integration, kind="inbound", body="Hello"))
    created(post(client, floor, contact["id"], floor.supervisor, kind="note", body="Angry"))

    hidden = thread(client, floor, contact["id"], floor.integration)
    viewer = factory.caller("client_viewer", floor.tenant)
    seen_by_the_firms_people = thread(client, floor, contact["id"], viewer)
    admin = factory.caller("bpo_admin")
    tenant_url = f"/v1/tenants/{floor.tenant.id}"
    profile = client.get(tenant_url, headers=admin.headers)
    assert profile.get_json()["share_notes_with_integration"] is False
    shared = client.patch(
        tenant_url,
        json={"share_notes_with_integration": True},
        headers={**admin.headers, "If-Match": profile.headers["ETag"]},
    )
    assert shared.status_code == 200, shared.get_json()
    shown = thread(client, floor, contact["id"], floor.integration)

    assert [m["kind"] for m in hidden] == ["inbound"]
    assert [m["kind"] for m in seen_by_the_firms_people] == ["inbound", "note"]
    assert [m["kind"] for m in shown] == ["inbound", "note"]
    assert shared.get_json()["share_notes_with_integration"] is True


def test_the_integration_cannot_post_notes_nor_replies(client, floor):
    contact = new_contact(client, floor)

    for kind in ("note", "reply"):
        response = post(client, floor, contact["id"], floor.integration, kind=kind, body="Hi")
        assert_problem(response, 403)
    assert thread(client, floor, contact["id"], floor.supervisor) == []


# --- bodies ----------------------------------------------------------------------------------


def test_html_is_sanitised_scripts_and_attributes_removed_links_kept_safe(client, floor):
    contact = new_contact(client, floor)
    html = (
        '<p style="color:red" onclick="steal()">Your <b>refund</b> '
        '<a href="https://shop.example/r" target="_blank" onmouseover="x()">is here</a>'
        "<script>alert(1)</script><style>p{}</style>"
        '<img src="x" onerror="steal()"><a href="javascript:steal()">bad</a></p>'
        "<ul><li>one</li></ul>"
    )

    message = created(
        post(
            client,
            floor,
            contact["id"],
            floor.supervisor,
            kind="note",
            body=html,
            body_format="html",
        )
    )

    body = message["body"]
    assert message["body_format"] == "html"
    for gone in (
        "script",
        "alert",
        "style",
        "onclick",
        "onmouseover",
        "onerror",
        "img",
        "javascript",
    ):
        assert gone not in body, (gone, body)
    assert '<a href="https://shop.example/r" rel="noopener noreferrer">is here</a>' in body
    assert "<b>refund</b>" in body and "<ul><li>one</li></ul>" in body
    assert thread(client, floor, contact["id"], floor.supervisor)[0]["body"] == body


def test_text_bodies_are_kept_as_written(client, floor):
    contact = new_contact(client, floor)
    text = "2 < 3 & <b>not bold</b>"

    message = created(
        post(client, floor, contact["id"], floor.integration, kind="inbound", body=text)
    )

    assert message["body"] == text


@pytest.mark.parametrize(
    ("body", "body_format"),
    [
        ("x" * (64 * 1024 + 1), "text"),
        ("<p>" + "é" * (32 * 1024 + 1) + "</p>", "html"),  # counted in UTF-8 bytes
        ("<script>only a script</script>", "html"),  # empty once cleaned
    ],
    ids=["text-over-64KiB", "html-over-64KiB", "html-empty-once-cleaned"],
)
def test_a_body_over_the_cap_or_empty_once_cleaned_is_a_422_on_body(
    app, client, floor, body, body_format
):
    contact = new_contact(client, floor)

    response = post(
        client,
        floor,
        contact["id"],
        floor.integration,
        kind="inbound",
        body=body,
        body_format=body_format,
    )

    problem = assert_problem(response, 422)
    assert list(problem["errors"]["json"]) == ["body"]
    assert thread(client, floor, contact["id"], floor.supervisor) == []
    assert message_events(app, floor.tenant) == []


def test_html_that_shrinks_under_the_cap_once_cleaned_is_kept(client, floor):
    contact = new_contact(client, floor)
    padded = '<p class="' + "x" * 70_000 + '">short</p>'

    message = created(
        post(
            client,
            floor,
            contact["id"],
            floor.integration,
            kind="inbound",
            body=padded,
            body_format="html",
        )
    )

    assert message["body"] == "<p>short</p>"


def test_the_service_the_web_app_calls_refuses_text_no_database_can_store(app, client, floor):
    contact = new_contact(client, floor)

    with app.app_context(), tenant_scope(floor.tenant.id):
        stored = contacts_service.get(contact_id=uuid.UUID(contact["id"]))
        tenant = db.session.get(Tenant, floor.tenant.id)
        with pytest.raises(Unprocessable) as refused:
            contacts_messages.add(
                contact=stored,
                kind="note",
                body="<p>half a character: \ud800</p>",
                body_format="html",
                actor=SYSTEM,
                tenant=tenant,
            )
        kept = db.session.scalars(contacts_messages.list_(contact=stored, include_notes=True))

        assert list(refused.value.extra["errors"]["json"]) == ["body"]
        assert list(kept) == []


def test_only_an_inbound_message_names_its_author(client, floor):
    contact = new_contact(client, floor)

    response = post(
        client, floor, contact["id"], floor.supervisor, kind="note", body="x", author_name="Ana"
    )

    problem = assert_problem(response, 422)
    assert "author_name" in problem["errors"]["json"]


# --- who reaches which thread ----------------------------------------------------------------


def test_another_firms_contact_is_404_for_reading_and_posting(app, client, factory, floor):
    other = factory.tenant()
    queue_of(app, other, "General")
    their_integration = factory.caller("integration", other)
    theirs = create_contact(client, their_integration, other)
    created(
        client.post(
            messages_url(other, theirs["id"]),
            json={"kind": "inbound", "body": "Secret"},
            headers=their_integration.headers,
        )
    )

    read = client.get(messages_url(floor.tenant, theirs["id"]), headers=floor.supervisor.headers)
    wrote = post(client, floor, theirs["id"], floor.supervisor, kind="note", body="Mine now")
    across = client.get(messages_url(other, theirs["id"]), headers=floor.supervisor.headers)

    assert_problem(read, 404)
    assert_problem(wrote, 404)
    assert_problem(across, 404)
    assert len(message_events(app, other)) == 1


def test_an_agent_not_serving_the_contacts_queue_gets_404(client, floor):
    elsewhere = new_contact(client, floor, queue_id=str(floor.other_queue_id))
    agent = floor.agent_caller

    read = client.get(messages_url(floor.tenant, elsewhere["id"]), headers=agent.headers)
    wrote = post(client, floor, elsewhere["id"], agent, kind="note", body="Peek")

    assert_problem(read, 404)
    assert_problem(wrote, 404)


def test_an_agent_replies_only_on_the_contacts_it_holds_but_may_note_any_of_its_queues(
    client, floor
):
    contact = assigned(client, floor, channel="chat")  # held by the floor's agent
    colleague = floor.colleague_caller

    reply = post(client, floor, contact["id"], colleague, kind="reply", body="Hi")
    note = post(client, floor, contact["id"], colleague, kind="note", body="I know them")

    assert_problem(reply, 403)
    assert created(note)["kind"] == "note"


@pytest.mark.parametrize("role", ["client_admin", "client_viewer"])
def test_the_firms_people_read_the_thread_but_do_not_post(client, factory, floor, role):
    contact = new_contact(client, floor)
    caller = factory.caller(role, floor.tenant)

    response = post(client, floor, contact["id"], caller, kind="note", body="Hello")

    assert_problem(response, 403)
    assert thread(client, floor, contact["id"], caller) == []


def test_staff_post_notes_but_not_replies_nor_the_customers_messages(client, factory, floor):
    contact = new_contact(client, floor)
    admin = factory.caller("bpo_admin")

    for caller in (admin, floor.supervisor):
        assert created(post(client, floor, contact["id"], caller, kind="note", body="n"))
        for kind in ("reply", "inbound"):
            assert_problem(post(client, floor, contact["id"], caller, kind=kind, body="x"), 403)


def test_the_thread_is_paginated_like_other_lists(client, floor):
    contact = new_contact(client, floor)
    for n in range(3):
        created(post(client, floor, contact["id"], floor.integration, kind="inbound", body=f"m{n}"))

    response = client.get(
        messages_url(floor.tenant, contact["id"]) + "?page=2&page_size=2",
        headers=floor.integration.headers,
    )

    assert response.status_code == 200
    assert [m["body"] for m in response.get_json()] == ["m2"]
    assert '"total": 3' in response.headers["X-Pagination"]
