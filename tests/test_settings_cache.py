"""Intake keeps each firm's queues, default SLA policy and calendar per process, a claim its
running campaigns (tenants/settings_cache.py): a change to any of them, however it is made,
reaches the next contact or claim; a transaction reads its own change; a rolled-back change is
never kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from app.agents.models import Agent
from app.campaigns import dialer
from app.campaigns.models import Campaign
from app.contacts import intake
from app.db import db
from app.queues.models import Queue
from app.sla.models import BusinessCalendar, SlaPolicy
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.service import SYSTEM
from tests.campaign_helpers import running_campaign, uid
from tests.test_contacts_intake import contact_in, contacts_url, create_contact, queue_of
from tests.test_sla_api import ALWAYS, HOUR, read_sla, sla_firm


@pytest.fixture
def firm(app, factory):
    """A firm with one queue taking every channel and category, and an integration."""
    tenant = factory.tenant()
    return tenant, queue_of(app, tenant, "General"), factory.caller("integration", tenant)


def _version(app, tenant) -> int:
    with app.app_context():
        return db.session.scalar(select(Tenant.settings_version).where(Tenant.id == tenant.id))


def test_a_queue_added_after_contacts_came_in_takes_the_next_contact(app, client, firm):
    tenant, general, integration = firm
    assert create_contact(client, integration, tenant)["queue_id"] == str(general)

    complaints = queue_of(app, tenant, "Complaints", categories=["complaint"])

    assert create_contact(client, integration, tenant)["queue_id"] == str(complaints)


def test_a_queue_closed_behind_the_apps_back_takes_no_more_contacts(app, client, firm):
    tenant, general, integration = firm
    create_contact(client, integration, tenant)
    # A bulk UPDATE: no flush of the ORM sees it, the database's trigger does.
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(update(Queue).where(Queue.id == general).values(is_active=False))
        db.session.commit()

    response = client.post(contacts_url(tenant), json=contact_in(), headers=integration.headers)

    assert response.status_code == 422
    assert "No active queue" in response.get_json()["detail"]


def test_the_default_policys_new_target_times_the_next_contact(app, client, factory):
    tenant, _queue = sla_firm(app, factory)
    integration = factory.caller("integration", tenant)
    first = create_contact(client, integration, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        policy = db.session.scalar(select(SlaPolicy).where(SlaPolicy.is_default))
        policy.targets = [{**policy.targets[0], "resolution_seconds": 2 * HOUR}]
        db.session.commit()

    second = create_contact(client, integration, tenant)

    targets = [
        {
            c["kind"]: c["target_seconds"]
            for c in read_sla(client, integration, tenant, c["id"])["clocks"]
        }
        for c in (first, second)
    ]
    assert targets == [
        {"first_response": HOUR, "resolution": 8 * HOUR},
        {"first_response": HOUR, "resolution": 2 * HOUR},
    ]


def test_a_firm_that_loses_its_calendar_times_no_more_contacts(app, client, factory):
    tenant, _queue = sla_firm(app, factory)
    integration = factory.caller("integration", tenant)
    assert read_sla(client, integration, tenant, create_contact(client, integration, tenant)["id"])[
        "clocks"
    ]
    with app.app_context(), tenant_scope(tenant.id):
        db.session.execute(delete(BusinessCalendar))
        db.session.commit()

    contact = create_contact(client, integration, tenant)

    assert read_sla(client, integration, tenant, contact["id"])["clocks"] == []


def test_a_transaction_reads_its_own_new_queue_and_a_rollback_leaves_no_trace(app, firm):
    tenant, _general, _integration = firm

    def routed() -> str:
        return intake.route(channel="email", category="claim", language=None).name

    with app.app_context(), tenant_scope(tenant.id):
        assert routed() == "General"  # read, and kept for the process
        db.session.add(Queue(name="Claims", channels=["email"], categories=["claim"]))
        db.session.flush()
        assert routed() == "Claims"
        db.session.rollback()
        assert routed() == "General"


def test_every_change_to_a_firms_settings_moves_its_version_and_no_other(db_app, db_factory):
    tenant, other = db_factory.tenant(), db_factory.tenant()
    seen = [_version(db_app, tenant)]

    def change(*statements) -> None:
        with db_app.app_context(), tenant_scope(tenant.id):
            for statement in statements:
                if isinstance(statement, Queue | SlaPolicy | BusinessCalendar):
                    db.session.add(statement)
                else:
                    db.session.execute(statement)
            db.session.commit()
        seen.append(_version(db_app, tenant))

    change(Queue(name="General", channels=["email"]))
    change(update(Queue).values(answer_threshold_seconds=30))
    change(SlaPolicy(name="Standard", is_default=True, targets=[]))
    change(
        BusinessCalendar(
            effective_from=datetime(2020, 1, 1, tzinfo=UTC), time_zone="UTC", weekly_hours=ALWAYS
        )
    )
    change(update(BusinessCalendar).values(effective_from=datetime.now(UTC) - timedelta(days=1)))
    change(delete(Queue))

    assert seen == sorted(set(seen)) and len(seen) == 7
    assert _version(db_app, other) == 0


def test_a_campaign_paused_or_resumed_behind_the_apps_back_changes_the_next_offer(
    app, client, factory
):
    # Each claim keeps the agent's firms' running campaigns per process (app/campaigns/dialer.py).
    tenant = factory.tenant()
    campaign, _queue, agent, _caller, _admin = running_campaign(client, factory, tenant)

    def offered():
        with app.app_context():
            found = dialer.claim_next(agent=db.session.get(Agent, uid(agent["id"])), actor=SYSTEM)
            db.session.rollback()  # the attempt undone: the record waits for the next look
            return found and str(found.campaign_id)

    def set_state(state: str) -> None:
        with app.app_context(), tenant_scope(tenant.id):
            db.session.execute(update(Campaign).values(state=state))
            db.session.commit()

    assert offered() == campaign["id"]
    set_state("paused")
    assert offered() is None
    set_state("running")
    assert offered() == campaign["id"]
