"""Counts that once escaped the tenant filter: page totals and the end customer's contact number.

A total is data too: an empty page that says `"total": 7` tells the caller how many contacts
another firm (or a queue the caller cannot see) holds. These run on PostgreSQL and on SQLite,
where the ORM filter is the only wall.
"""

from __future__ import annotations

import json

import pytest

from tests.test_agents_api import agent_caller, assign, create_agent
from tests.test_contacts_intake import contacts_url, create_contact, queue_of
from tests.test_reports_registers import a_year_of_complaints, agents, register
from tests.test_reports_sla import a_day_of_calls, body, sla, span
from tests.test_reports_sla import firm as report_firm


def _total(response) -> int:
    assert response.status_code == 200, response.get_json()
    return json.loads(response.headers["X-Pagination"])["total"]


def test_a_client_viewer_filtering_by_another_firms_queue_counts_nothing(
    db_app, db_client, db_factory
):
    a, b = db_factory.tenant(), db_factory.tenant()
    queue_of(db_app, a)
    b_queue = queue_of(db_app, b)
    b_integration = db_factory.caller("integration", b)
    for _ in range(3):
        create_contact(db_client, b_integration, b, queue_id=str(b_queue))
    viewer = db_factory.caller("client_viewer", a)

    page = db_client.get(
        contacts_url(a), query_string={"queue_id": str(b_queue)}, headers=viewer.headers
    )

    assert page.get_json() == []
    assert _total(page) == 0


def test_an_agent_filtering_by_a_queue_it_does_not_serve_counts_nothing(
    db_app, db_client, db_factory
):
    firm = db_factory.tenant()
    served, other = queue_of(db_app, firm), queue_of(db_app, firm)
    integration = db_factory.caller("integration", firm)
    create_contact(db_client, integration, firm, queue_id=str(served))
    for _ in range(2):
        create_contact(db_client, integration, firm, queue_id=str(other))
    admin = db_factory.caller("bpo_admin")
    agent = create_agent(db_client, admin)
    assign(db_client, admin, agent["id"], [served])
    caller = agent_caller(db_factory, agent)

    mine = db_client.get(contacts_url(firm), headers=caller.headers)
    theirs = db_client.get(
        contacts_url(firm), query_string={"queue_id": str(other)}, headers=caller.headers
    )

    assert _total(mine) == 1
    assert theirs.get_json() == []
    assert _total(theirs) == 0


@pytest.mark.parametrize("external_ids", [False, True], ids=["plain", "with-external-ids"])
def test_the_end_customers_contact_number_counts_only_this_firms_contacts(
    db_app, db_client, db_factory, external_ids
):
    a, b = db_factory.tenant(), db_factory.tenant()
    queue_of(db_app, a)
    queue_of(db_app, b)
    a_integration = db_factory.caller("integration", a)
    b_integration = db_factory.caller("integration", b)
    ana = {"name": "Ana Ruiz", "email": "ana@example.com"}
    ids = iter(f"ticket-{n}" for n in range(10))

    def extra() -> dict:
        return {"external_id": next(ids)} if external_ids else {}

    for _ in range(2):
        create_contact(db_client, b_integration, b, customer=ana, **extra())

    first = create_contact(db_client, a_integration, a, customer=ana, **extra())
    second = create_contact(db_client, a_integration, a, customer=ana, **extra())

    assert (first["customer_contact_number"], second["customer_contact_number"]) == (1, 2)


def test_a_firms_reports_count_none_of_another_firms_contacts(db_app, db_client, db_factory):
    a, _a_queue = report_firm(db_app, db_factory)
    b, b_queue = report_firm(db_app, db_factory)
    a_day_of_calls(db_app, b, b_queue)
    a_year_of_complaints(db_app, b, b_queue)
    viewer = db_factory.caller("client_viewer", a)
    query = span("2025-03-10", "2025-03-11")

    report = body(sla(db_client, viewer, a, **query))
    complaints = body(register(db_client, viewer, a, year=2025))
    team = body(agents(db_client, viewer, a, **query))

    assert report["totals"]["backlog"] == 0
    assert report["totals"]["service_level"] is None
    assert complaints["count"] == 0
    assert team["agents"] == []
