"""Intake: POST /v1/tenants/{tenant_id}/contacts, routing, idempotency, reading and listing.

The helpers at the top are shared with tests/test_contacts_lifecycle_api.py and
tests/test_contacts_import.py.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from app.contacts import intake as contacts_intake
from app.contacts.models import Contact, ContactEvent
from app.db import db, utcnow
from app.queues.models import Queue
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_agents_api import agent_caller, assign, create_agent, set_status

_seq = itertools.count(1)

# --- helpers ---------------------------------------------------------------------------------


def contacts_url(tenant, *parts) -> str:
    return "/".join([f"/v1/tenants/{tenant.id}/contacts", *(str(p) for p in parts)])


def contact_in(**fields) -> dict:
    """A valid body for POST .../contacts: an inbound email complaint in Spanish."""
    return {
        "channel": "email",
        "direction": "inbound",
        "category": "complaint",
        "priority": "normal",
        "language": "es",
        "subject": "Parcel never arrived",
        "body": "I ordered on Monday and nothing came.",
        "customer": {"name": "Ana Ruiz", "email": "ana@example.com", "phone": "+34 600 123 456"},
        **fields,
    }


def queue_of(app, tenant, name: str | None = None, **fields) -> uuid.UUID:
    """A queue of the tenant (every channel unless told), committed; return its id."""
    fields.setdefault("channels", ["voice", "email", "chat", "web", "social"])
    with app.app_context(), tenant_scope(tenant.id):
        queue = Queue(name=name or f"Queue {next(_seq)}", **fields)
        db.session.add(queue)
        db.session.commit()
        return queue.id


def create_contact(client, caller, tenant, **fields) -> dict:
    """A contact taken in through the API; return the response body."""
    response = client.post(contacts_url(tenant), json=contact_in(**fields), headers=caller.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored_events(app, tenant, contact_id) -> list[ContactEvent]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(
                select(ContactEvent)
                .where(ContactEvent.contact_id == uuid.UUID(str(contact_id)))
                .order_by(ContactEvent.occurred_at, ContactEvent.id)
            )
        )


def contact_count(app, tenant) -> int:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.scalar(select(func.count()).select_from(Contact))


def backdate(app, tenant, contact_id, seconds: int, *columns: str) -> None:
    """Move a contact's clock back: `status_since` (and any other columns) `seconds` earlier."""
    with app.app_context(), tenant_scope(tenant.id):
        contact = db.session.get(Contact, uuid.UUID(str(contact_id)))
        for name in ("status_since", *columns):
            setattr(contact, name, getattr(contact, name) - timedelta(seconds=seconds))
        db.session.commit()


def staffed_agent(app, client, factory, admin, queue_ids) -> tuple[dict, object]:
    """An agent assigned to these queues; return (agent body, its caller)."""
    agent = create_agent(client, admin)
    assign(client, admin, agent["id"], list(queue_ids))
    return agent, agent_caller(factory, agent)


@pytest.fixture
def firm(app, factory):
    """A tenant with one general queue and an integration."""
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant, "General")
    return tenant, queue_id, factory.caller("integration", tenant)


# --- who may take contacts in ----------------------------------------------------------------


def test_an_integration_takes_in_a_contact_which_waits_in_its_queue(app, client, firm):
    tenant, queue_id, integration = firm
    before = utcnow()
    body_in = contact_in(external_id="ZD-1")

    response = client.post(contacts_url(tenant), json=body_in, headers=integration.headers)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(contacts_url(tenant, body["id"]))
    assert "Idempotent-Replayed" not in response.headers
    for key in ("channel", "direction", "category", "priority", "language", "subject", "body"):
        assert body[key] == body_in[key]
    assert body["customer"] == {**body_in["customer"], "ref": None}
    assert body["external_id"] == "ZD-1"
    assert (body["queue_id"], body["status"], body["agent_id"]) == (str(queue_id), "queued", None)
    assert body["allowed_actions"] == ["assign", "transfer"]
    assert body["customer_contact_number"] == 1
    received = datetime.fromisoformat(body["received_at"])
    assert before <= received <= utcnow()
    assert body["queued_at"] == body["received_at"] == body["status_since"]
    assert body["queued_seconds"] == body["handle_seconds"] == 0
    assert body["queue_wait_seconds"] is None
    [event] = stored_events(app, tenant, body["id"])
    assert (event.action, event.from_status, event.to_status) == ("create", None, "queued")
    assert (event.actor_client_id, event.actor_user_id) == (integration.client_id, None)
    assert event.details == {"queue_id": str(queue_id), "routed": True}
    # What was answered is what a later read answers.
    read = client.get(contacts_url(tenant, body["id"]), headers=integration.headers)
    assert read.status_code == 200
    assert read.get_json() == body
    assert read.headers["ETag"]


def test_a_supervisor_takes_in_a_contact_and_a_summary_stands_for_the_body(client, factory, firm):
    tenant, _queue_id, _integration = firm
    supervisor = factory.caller("supervisor", tenant)
    body_in = contact_in(channel="voice", category="information_request")
    del body_in["body"]
    body_in["summary"] = "Asked for opening hours."

    response = client.post(contacts_url(tenant), json=body_in, headers=supervisor.headers)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["body"] == "Asked for opening hours."
    both = contact_in(summary="and a summary")
    response = client.post(contacts_url(tenant), json=both, headers=supervisor.headers)
    assert "summary" in assert_problem(response, 422)["errors"]["json"]


def test_an_agent_records_outbound_contacts_in_its_own_queues_only(app, client, factory, firm):
    tenant, queue_id, _integration = firm
    other_queue = queue_of(app, tenant, "Elsewhere")
    admin = factory.caller("bpo_admin")
    _agent, agent_caller_ = staffed_agent(app, client, factory, admin, [queue_id])

    outbound = client.post(
        contacts_url(tenant),
        json=contact_in(direction="outbound", channel="voice", category="order_request"),
        headers=agent_caller_.headers,
    )
    inbound = client.post(contacts_url(tenant), json=contact_in(), headers=agent_caller_.headers)
    elsewhere = client.post(
        contacts_url(tenant),
        json=contact_in(direction="outbound", queue_id=str(other_queue)),
        headers=agent_caller_.headers,
    )

    assert outbound.status_code == 201, outbound.get_json()
    assert outbound.get_json()["queue_id"] == str(queue_id)
    [event] = stored_events(app, tenant, outbound.get_json()["id"])
    assert event.actor_user_id == agent_caller_.user_id
    assert "direction" in assert_problem(inbound, 422)["errors"]["json"]
    assert "queue_id" in assert_problem(elsewhere, 422)["errors"]["json"]
    assert contact_count(app, tenant) == 1


@pytest.mark.parametrize("role", ["client_viewer", "client_admin"])
def test_client_users_cannot_take_contacts_in(app, client, factory, firm, role):
    tenant, _queue_id, _integration = firm
    caller = factory.caller(role, tenant)

    response = client.post(contacts_url(tenant), json=contact_in(), headers=caller.headers)

    assert_problem(response, 403)
    assert contact_count(app, tenant) == 0
    # Reading is theirs.
    assert client.get(contacts_url(tenant), headers=caller.headers).status_code == 200


def test_a_token_without_contacts_write_cannot_take_contacts_in(client, factory, firm):
    tenant, _queue_id, _integration = firm
    reader = factory.caller("integration", tenant, scope="contacts:read")

    response = client.post(contacts_url(tenant), json=contact_in(), headers=reader.headers)

    assert_problem(response, 403)


def test_a_suspended_firm_takes_no_new_contacts(app, client, firm):
    tenant, _queue_id, integration = firm
    set_status(app, tenant, "suspended")

    response = client.post(contacts_url(tenant), json=contact_in(), headers=integration.headers)

    assert "suspended" in assert_problem(response, 409)["detail"]
    assert contact_count(app, tenant) == 0


# --- validation ------------------------------------------------------------------------------


def test_a_claim_must_carry_the_remedy_requested_and_be_written(app, client, firm):
    tenant, _queue_id, integration = firm

    no_remedy = client.post(
        contacts_url(tenant), json=contact_in(category="claim"), headers=integration.headers
    )
    on_voice = client.post(
        contacts_url(tenant),
        json=contact_in(category="claim", channel="voice", remedy_requested="Refund"),
        headers=integration.headers,
    )
    good = client.post(
        contacts_url(tenant),
        json=contact_in(category="claim", remedy_requested="Refund of 49.90 EUR"),
        headers=integration.headers,
    )

    assert "remedy_requested" in assert_problem(no_remedy, 422)["errors"]["json"]
    assert "channel" in assert_problem(on_voice, 422)["errors"]["json"]
    assert good.status_code == 201, good.get_json()
    assert good.get_json()["remedy_requested"] == "Refund of 49.90 EUR"
    assert contact_count(app, tenant) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"direction": "sideways"}, "direction"),
        ({"category": "rant"}, "category"),
        ({"priority": "asap"}, "priority"),
        ({"language": "es-ES"}, "language"),
        ({"received_at": "2026-01-01T10:00:00"}, "received_at"),
        # A day ahead, not minutes: this is computed when the module is collected, which on a
        # long, busy run can be many minutes before the test itself runs.
        ({"received_at": (utcnow() + timedelta(days=1)).isoformat()}, "received_at"),
        ({"customer": {"email": "not an email"}}, "customer"),
        ({"customer": {"phone": "call me"}}, "customer"),
        ({"queue_id": "not-a-uuid"}, "queue_id"),
        ({"external_id": ""}, "external_id"),
        ({"agent_id": str(uuid.uuid4())}, "agent_id"),
    ],
)
def test_an_invalid_contact_is_refused_naming_the_field(app, client, firm, change, field):
    tenant, _queue_id, integration = firm

    response = client.post(
        contacts_url(tenant), json=contact_in(**change), headers=integration.headers
    )

    assert field in assert_problem(response, 422)["errors"]["json"]
    assert contact_count(app, tenant) == 0


def test_a_contact_stamped_a_little_ahead_waits_from_now(client, firm):
    tenant, _queue_id, integration = firm
    ahead = utcnow() + timedelta(seconds=30)

    body = create_contact(client, integration, tenant, received_at=ahead.isoformat())

    assert datetime.fromisoformat(body["received_at"]) == ahead.replace(
        microsecond=ahead.microsecond
    )
    assert datetime.fromisoformat(body["queued_at"]) < ahead


def test_an_earlier_arrival_keeps_its_place_in_line(client, firm):
    tenant, _queue_id, integration = firm
    received = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)

    body = create_contact(client, integration, tenant, received_at="2026-01-05T10:30:00+01:00")

    assert datetime.fromisoformat(body["received_at"]) == received
    assert datetime.fromisoformat(body["queued_at"]) == received


# --- routing ---------------------------------------------------------------------------------


@pytest.fixture
def routed_firm(app, factory):
    """A firm whose queues split by channel, category and language (oldest first)."""
    tenant = factory.tenant()
    queues = {
        "general": queue_of(app, tenant, "General", channels=["email", "chat", "web"]),
        "general_too": queue_of(app, tenant, "General too", channels=["email", "chat", "web"]),
        "spanish": queue_of(app, tenant, "Spanish", channels=["email"], languages=["es"]),
        "claims": queue_of(app, tenant, "Claims", channels=["email"], categories=["claim"]),
        "claims_es": queue_of(
            app, tenant, "Claims es", channels=["email"], categories=["claim"], languages=["es"]
        ),
        "voice": queue_of(app, tenant, "Phones", channels=["voice"], categories=["incident"]),
        "closed": queue_of(app, tenant, "Closed", channels=["social"], is_active=False),
    }
    return tenant, queues, factory.caller("integration", tenant)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"category": "claim", "language": "es", "remedy_requested": "Refund"}, "claims_es"),
        ({"category": "claim", "language": "en", "remedy_requested": "Refund"}, "claims"),
        ({"category": "claim", "language": None, "remedy_requested": "Refund"}, "claims"),
        ({"category": "complaint", "language": "es"}, "spanish"),
        ({"category": "complaint", "language": "en"}, "general"),
        ({"category": "complaint", "language": "es", "channel": "chat"}, "general"),
        ({"category": "incident", "channel": "voice"}, "voice"),
    ],
)
def test_a_contact_lands_in_the_most_specific_queue_then_the_oldest(
    client, routed_firm, fields, expected
):
    tenant, queues, integration = routed_firm

    body = create_contact(client, integration, tenant, **fields)

    assert body["queue_id"] == str(queues[expected])


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"channel": "social"}, "No active queue takes social contacts."),
        (
            {"channel": "voice", "category": "complaint"},
            "No active queue takes voice contacts of category complaint.",
        ),
    ],
)
def test_a_contact_no_queue_takes_is_refused_saying_why(app, client, routed_firm, fields, reason):
    tenant, _queues, integration = routed_firm

    response = client.post(
        contacts_url(tenant), json=contact_in(**fields), headers=integration.headers
    )

    body = assert_problem(response, 422)
    assert reason in body["detail"]
    assert reason in body["errors"]["json"]["queue_id"][0]
    assert contact_count(app, tenant) == 0


def test_a_language_no_queue_speaks_is_refused_saying_so(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant, "Spanish", languages=["es"])
    integration = factory.caller("integration", tenant)

    response = client.post(
        contacts_url(tenant), json=contact_in(language="fr"), headers=integration.headers
    )

    assert "in language 'fr'" in assert_problem(response, 422)["detail"]


def test_a_named_queue_must_be_the_firms_active_and_take_the_channel(
    app, client, factory, routed_firm
):
    tenant, queues, integration = routed_firm
    stranger_queue = queue_of(app, factory.tenant(), "Not yours")
    cases = [
        (queues["closed"], "deactivated"),
        (queues["voice"], "does not take email"),
        (stranger_queue, "Not a queue of this client firm"),
        (uuid.uuid4(), "Not a queue of this client firm"),
    ]
    for queue_id, reason in cases:
        response = client.post(
            contacts_url(tenant),
            json=contact_in(queue_id=str(queue_id)),
            headers=integration.headers,
        )
        assert reason in assert_problem(response, 422)["errors"]["json"]["queue_id"][0]

    # A named queue need not match the category: the sender knows best.
    body = create_contact(
        client, integration, tenant, queue_id=str(queues["claims"]), category="complaint"
    )
    assert body["queue_id"] == str(queues["claims"])
    [event] = stored_events(app, tenant, body["id"])
    assert event.details["routed"] is False


# --- the end customer ------------------------------------------------------------------------


# With an external id, the id's lookup and the customer's count share one statement.
@pytest.mark.parametrize("external_ids", [False, True], ids=["plain", "with-external-ids"])
def test_the_end_customers_contacts_are_numbered_by_ref_else_email_else_phone(
    client, firm, external_ids
):
    tenant, _queue_id, integration = firm
    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def number(minutes: int, **customer) -> int:
        received = (t0 + timedelta(minutes=minutes)).isoformat()
        extra = {"external_id": f"ticket-{next(_seq)}"} if external_ids else {}
        body = create_contact(
            client, integration, tenant, customer=customer, received_at=received, **extra
        )
        return body["customer_contact_number"]

    assert number(0, email="Ana@Example.com") == 1
    assert number(1, email="ana@example.COM", phone="+34 600 000 000") == 2
    assert number(2, ref="C-1", email="ana@example.com") == 1  # the firm's id wins
    assert number(3, ref="C-1") == 2
    assert number(4, phone="+34 (600) 000-000") == 1
    assert number(5, phone="34600000000") == 2
    assert number(6) == 1  # nobody known: always a first contact
    assert number(7) == 1
    # A late-arriving record of an earlier contact counts only what came before it.
    assert number(-10, email="ana@example.com") == 1


# --- idempotency -----------------------------------------------------------------------------


def test_a_repeated_external_id_answers_the_first_contact(app, client, firm):
    tenant, _queue_id, integration = firm
    body_in = contact_in(external_id="ZD-77")
    first = client.post(contacts_url(tenant), json=body_in, headers=integration.headers)
    assert first.status_code == 201

    again = client.post(contacts_url(tenant), json=body_in, headers=integration.headers)
    changed = client.post(
        contacts_url(tenant),
        json=contact_in(external_id="ZD-77", subject="Something else"),
        headers=integration.headers,
    )

    for retry in (again, changed):
        assert retry.status_code == 200, retry.get_json()
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json() == first.get_json()
    assert contact_count(app, tenant) == 1
    assert len(stored_events(app, tenant, first.get_json()["id"])) == 1


def test_external_ids_are_per_firm(app, client, factory, firm):
    tenant, _queue_id, integration = firm
    other = factory.tenant()
    queue_of(app, other, "General")
    other_integration = factory.caller("integration", other)

    mine = create_contact(client, integration, tenant, external_id="SAME")
    theirs = create_contact(client, other_integration, other, external_id="SAME")

    assert mine["id"] != theirs["id"]


def test_a_retry_with_the_same_idempotency_key_replays_the_first_answer(app, client, firm):
    tenant, _queue_id, integration = firm
    headers = {**integration.headers, "Idempotency-Key": "intake-1"}

    first = client.post(contacts_url(tenant), json=contact_in(), headers=headers)
    retry = client.post(contacts_url(tenant), json=contact_in(), headers=headers)
    other_body = client.post(contacts_url(tenant), json=contact_in(subject="x"), headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert_problem(other_body, 422)
    assert contact_count(app, tenant) == 1


def _race(url: str, requests_: list[tuple[dict, dict]]) -> list[requests.Response]:
    """Send the requests at the same moment, one thread each; return the answers in order."""
    barrier = threading.Barrier(len(requests_))
    answers: list[requests.Response | None] = [None] * len(requests_)

    def send(index: int, headers: dict, body: dict) -> None:
        barrier.wait()
        answers[index] = requests.post(url, json=body, headers=headers, timeout=30)

    threads = [
        threading.Thread(target=send, args=(i, headers, body))
        for i, (headers, body) in enumerate(requests_)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(a is not None for a in answers), "a request did not finish"
    return answers


@pytest.fixture
def slow_routing(monkeypatch):
    """Hold each intake between its external_id lookup and its insert, so two requests that
    start together both miss the lookup and meet at the unique key."""
    choose = contacts_intake._queue_for

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return choose(*args, **kwargs)

    monkeypatch.setattr(contacts_intake, "_queue_for", slow)


def test_two_racing_requests_with_one_external_id_make_one_contact(
    app, firm, live_server, slow_routing
):
    tenant, _queue_id, integration = firm
    body = contact_in(external_id="RACE-1")

    answers = _race(f"{live_server}{contacts_url(tenant)}", [(integration.headers, body)] * 2)

    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    replayed = next(a for a in answers if a.status_code == 200)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert contact_count(app, tenant) == 1


def test_two_racing_requests_with_one_idempotency_key_make_one_contact(
    app, firm, live_server, slow_routing
):
    tenant, _queue_id, integration = firm
    headers = {**integration.headers, "Idempotency-Key": "race-key"}

    answers = _race(f"{live_server}{contacts_url(tenant)}", [(headers, contact_in())] * 2)

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert contact_count(app, tenant) == 1


# --- reading, listing, visibility ------------------------------------------------------------


def test_listing_filters_and_paginates_newest_first(app, client, factory, firm):
    tenant, queue_id, integration = firm
    other_queue = queue_of(app, tenant, "Voice", channels=["voice"])
    supervisor = factory.caller("supervisor", tenant)
    made = [
        create_contact(client, integration, tenant, channel="chat", priority="high"),
        create_contact(client, integration, tenant, category="claim", remedy_requested="Refund"),
        create_contact(client, integration, tenant, channel="voice", queue_id=str(other_queue)),
        create_contact(client, integration, tenant),
    ]
    ids = [c["id"] for c in made]

    def listed(query: str = "") -> list[str]:
        response = client.get(f"{contacts_url(tenant)}?{query}", headers=supervisor.headers)
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()]

    assert listed() == ids[::-1]
    assert listed("channel=chat") == [ids[0]]
    assert listed("priority=high") == [ids[0]]
    assert listed("category=claim") == [ids[1]]
    assert listed(f"queue_id={other_queue}") == [ids[2]]
    assert listed(f"queue_id={queue_id}&channel=email") == [ids[3], ids[1]]
    assert listed("status=queued") == ids[::-1]
    assert listed("status=active") == []
    assert listed(f"agent_id={uuid.uuid4()}") == []
    created = [datetime.fromisoformat(c["created_at"]) for c in made]
    window = f"created_from={_q(created[1])}&created_to={_q(created[3])}"
    assert listed(window) == [ids[2], ids[1]]
    page = client.get(f"{contacts_url(tenant)}?page=2&page_size=3", headers=supervisor.headers)
    assert [c["id"] for c in page.get_json()] == [ids[0]]
    assert '"total": 4' in page.headers["X-Pagination"]
    bad = client.get(f"{contacts_url(tenant)}?status=lost", headers=supervisor.headers)
    assert "status" in assert_problem(bad, 422)["errors"]["query"]


def _q(moment: datetime) -> str:
    return moment.isoformat().replace("+", "%2B")


def test_an_agent_sees_only_the_contacts_of_its_queues(app, client, factory, firm):
    tenant, queue_id, integration = firm
    other_queue = queue_of(app, tenant, "Not the agent's")
    admin = factory.caller("bpo_admin")
    _agent, agent = staffed_agent(app, client, factory, admin, [queue_id])
    mine = create_contact(client, integration, tenant)
    not_mine = create_contact(client, integration, tenant, queue_id=str(other_queue))

    listed = client.get(contacts_url(tenant), headers=agent.headers).get_json()
    own = client.get(contacts_url(tenant, mine["id"]), headers=agent.headers)

    assert [c["id"] for c in listed] == [mine["id"]]
    assert own.status_code == 200
    for path in ((not_mine["id"],), (not_mine["id"], "events")):
        assert_problem(client.get(contacts_url(tenant, *path), headers=agent.headers), 404)
    filtered = client.get(f"{contacts_url(tenant)}?queue_id={other_queue}", headers=agent.headers)
    assert filtered.get_json() == []


def test_another_firms_contact_is_not_found(app, client, factory, firm):
    tenant, _queue_id, integration = firm
    other = factory.tenant()
    queue_of(app, other, "General")
    theirs = create_contact(client, factory.caller("integration", other), other)
    supervisor = factory.caller("supervisor", tenant)

    for path in ((theirs["id"],), (theirs["id"], "events")):
        assert_problem(client.get(contacts_url(tenant, *path), headers=supervisor.headers), 404)
        assert_problem(client.get(contacts_url(tenant, *path), headers=integration.headers), 404)
    # Nor through the other firm's URL.
    assert_problem(client.get(contacts_url(other, theirs["id"]), headers=supervisor.headers), 404)
    assert client.get(contacts_url(tenant), headers=supervisor.headers).get_json() == []


def test_the_agents_queues_show_what_waits_there(app, client, factory, firm):
    tenant, queue_id, integration = firm
    admin = factory.caller("bpo_admin")
    _agent, agent = staffed_agent(app, client, factory, admin, [queue_id])
    create_contact(
        client, integration, tenant, received_at=(utcnow() - timedelta(minutes=5)).isoformat()
    )
    create_contact(client, integration, tenant)

    [queue] = client.get("/v1/me/queues", headers=agent.headers).get_json()

    assert queue["waiting_count"] == 2
    assert 300 <= queue["oldest_wait_seconds"] < 330


def test_the_api_documents_intake_and_every_action(client):
    spec = client.get("/openapi.json").get_json()
    base = "/v1/tenants/{tenant_id}/contacts"

    assert {"get", "post"} <= set(spec["paths"][base])
    assert "post" in spec["paths"][f"{base}:import"]
    for action in contacts_service_actions():
        operation = spec["paths"][f"{base}/{{contact_id}}/{action}"]["post"]
        assert operation["summary"]
        assert "409" in operation["responses"]


def contacts_service_actions() -> list[str]:
    from app.contacts.routes import ACTIONS

    return list(ACTIONS)
