"""Which campaign records Next offers, and when: inside each customer's calling window in the
customer's own zone (across a daylight-saving change), never on a public holiday of the
customer's country, after the retry delay, mixed with inbound work by the campaign's blend, and
never the same record to two agents at once (real PostgreSQL, threads)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.agents.models import Agent
from app.campaigns import dialer
from app.campaigns import service as campaigns_service
from app.campaigns.models import Campaign, CampaignRecord
from app.contacts.models import Contact
from app.db import db
from tenants import service as tenants_service
from tenants.scoping import tenant_scope, unscoped
from tests.campaign_helpers import create_campaign, load_csv, start
from tests.test_agents_api import make_queue
from tests.test_claim_next import add_contact, working_agent

WEEKDAYS_9_TO_8 = {
    "weekdays": [1, 2, 3, 4, 5],
    "window_start": "09:00",
    "window_end": "20:00",
    "skip_holidays": True,
}
CUSTOMERS = (
    "name,phone,time_zone,country\n"
    "Marta,+34 600 000 001,Europe/Madrid,ES\n"
    "Lucho,+51 1 555 0001,America/Lima,PE\n"
    "Paco,+52 55 5555 0001,America/Mexico_City,MX\n"
)


def _campaign(client, factory, tenant, csv_text=CUSTOMERS, **fields):
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    campaign = create_campaign(client, admin, tenant, queue_id, **{**WEEKDAYS_9_TO_8, **fields})
    loaded = load_csv(client, admin, tenant, campaign["id"], csv_text)
    assert loaded.status_code == 201, loaded.get_json()
    start(client, admin, tenant, campaign["id"])
    agent, _caller = working_agent(client, factory, [queue_id], languages=[], skills=[])
    return campaign, queue_id, uuid.UUID(agent["id"])


def _offered_at(app, tenant, campaign_id, agent_id, at: datetime) -> str | None:
    """Plan the campaign's records as of `at`, claim for the agent at `at`; the name of the
    customer offered (None: nothing), the claim undone so the next look starts afresh."""
    with app.app_context():
        with tenant_scope(tenant.id):
            campaign = db.session.get(Campaign, uuid.UUID(str(campaign_id)))
            campaigns_service.replan(campaign=campaign, now=at)
        agent = db.session.get(Agent, agent_id)
        contact = dialer.claim_next(agent=agent, actor=tenants_service.SYSTEM, now=at)
        name = contact.customer_name if contact is not None else None
        db.session.rollback()
        return name


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_each_customer_is_called_inside_their_own_window_not_the_agents(client, factory):
    tenant = factory.tenant()
    campaign, _queue, agent_id = _campaign(client, factory, tenant)
    app = factory.app

    # Monday 26 Oct 2026, 08:30 UTC: 09:30 in Madrid (CET), 03:30 in Lima, 02:30 in Mexico City.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 8, 30)) == "Marta"
    # 14:30 UTC: 15:30 in Madrid, 09:30 in Lima (both open), 08:30 in Mexico City (closed).
    at_half_past_two = _offered_at(
        app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 14, 30)
    )
    assert at_half_past_two in ("Marta", "Lucho")
    # 19:30 UTC: 20:30 in Madrid (closed), 14:30 in Lima, 13:30 in Mexico City.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 19, 30)) in (
        "Lucho",
        "Paco",
    )
    # 02:00 UTC: night everywhere.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 27, 2, 0)) is None


def test_the_window_follows_the_customers_clock_across_daylight_saving(client, factory):
    tenant = factory.tenant()
    madrid_only = "name,phone,time_zone\nMarta,+34 600 000 001,Europe/Madrid\n"
    campaign, _queue, agent_id = _campaign(client, factory, tenant, madrid_only)
    app = factory.app

    # Friday 23 Oct 2026 (summer time, UTC+2): 09:00 in Madrid is 07:00 UTC.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 23, 7, 5)) == "Marta"
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 23, 6, 55)) is None
    # Monday 26 Oct 2026 (winter time, UTC+1): 07:05 UTC is 08:05 in Madrid, still closed.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 7, 5)) is None
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 8, 5)) == "Marta"
    # Closing follows too: 18:55 UTC is 20:55 in summer (closed), 19:55 in winter (open).
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 23, 18, 55)) is None
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 26, 18, 55)) == "Marta"


def test_a_public_holiday_of_the_customers_country_is_skipped_for_them_alone(client, factory):
    tenant = factory.tenant()
    spain_and_mexico = (
        "name,phone,time_zone,country\n"
        "Marta,+34 600 000 001,Europe/Madrid,ES\n"
        "Paco,+52 55 5555 0001,America/Mexico_City,MX\n"
    )
    campaign, _queue, agent_id = _campaign(client, factory, tenant, spain_and_mexico)
    app = factory.app

    # Monday 12 Oct 2026, Fiesta Nacional de España; 16:00 UTC is 18:00 in Madrid and 10:00
    # in Mexico City, both inside the hours.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 10, 12, 16, 0)) == "Paco"
    # Wednesday 16 Sep 2026, Mexico's Independence Day: only Marta.
    assert _offered_at(app, tenant, campaign["id"], agent_id, _utc(2026, 9, 16, 16, 0)) == "Marta"


def test_a_campaign_that_skips_no_holidays_calls_on_them(client, factory):
    tenant = factory.tenant()
    madrid_only = "name,phone,time_zone,country\nMarta,+34 600 000 001,Europe/Madrid,ES\n"
    campaign, _queue, agent_id = _campaign(
        client, factory, tenant, madrid_only, skip_holidays=False
    )

    offered = _offered_at(factory.app, tenant, campaign["id"], agent_id, _utc(2026, 10, 12, 16))

    assert offered == "Marta"


def test_a_retry_waits_its_delay_and_the_next_opening(client, factory):
    tenant = factory.tenant()
    madrid_only = "name,phone,time_zone\nMarta,+34 600 000 001,Europe/Madrid\n"
    campaign, _queue, agent_id = _campaign(
        client, factory, tenant, madrid_only, retry_delay_minutes=120
    )
    app = factory.app
    at = _utc(2026, 10, 23, 16, 30)  # Friday, 18:30 in Madrid
    with app.app_context():
        with tenant_scope(tenant.id):
            campaigns_service.replan(
                campaign=db.session.get(Campaign, uuid.UUID(campaign["id"])), now=at
            )
        contact = dialer.claim_next(
            agent=db.session.get(Agent, agent_id), actor=tenants_service.SYSTEM, now=at
        )
        from app.campaigns import dispositions

        with tenant_scope(tenant.id):
            record = dispositions.dispose(
                contact=contact,
                disposition_in={"code": "no_answer"},
                tenant=_tenant(tenant.id),
                actor=tenants_service.SYSTEM,
                agent_id=agent_id,
                now=at + timedelta(minutes=2),
            )
            # 18:32 + 2 h is past Friday's 20:00: the next opening is Monday 09:00 (08:00 UTC).
            assert (record.state, record.next_attempt_at) == ("pending", _utc(2026, 10, 26, 8, 0))
        db.session.commit()


def test_inbound_comes_first_and_a_time_share_campaign_behind_its_share_goes_before(
    client, factory
):
    tenant = factory.tenant()
    one = "name,phone,time_zone\nMarta,+34 600 000 001,Etc/GMT\nOlga,+34 600 000 002,Etc/GMT\n"
    campaign, queue_id, agent_id = _campaign(
        client,
        factory,
        tenant,
        one,
        weekdays=[1, 2, 3, 4, 5, 6, 7],
        window_start="00:00",
        window_end="23:59",
        skip_holidays=False,
    )
    add_contact(factory.app, tenant, queue_id, channel="voice")
    app = factory.app
    at = _utc(2026, 10, 26, 12, 0)

    with app.app_context():
        with tenant_scope(tenant.id):
            campaigns_service.replan(
                campaign=db.session.get(Campaign, uuid.UUID(campaign["id"])), now=at
            )
            db.session.commit()
        agent = db.session.get(Agent, agent_id)
        first = dialer.claim_next(agent=agent, actor=tenants_service.SYSTEM, now=at)
        assert first.direction == "inbound"  # inbound first
        db.session.rollback()
        with tenant_scope(tenant.id):
            db.session.get(Campaign, uuid.UUID(campaign["id"])).blend = "time_share"
            db.session.get(Campaign, uuid.UUID(campaign["id"])).share_bps = 3000
            db.session.commit()
        agent = db.session.get(Agent, agent_id)
        first = dialer.claim_next(agent=agent, actor=tenants_service.SYSTEM, now=at)
        # No time spent on the campaign yet: it is behind its 30 % and goes first.
        assert first.direction == "outbound"
        db.session.rollback()
        # The agent's last hour: 30 minutes on the campaign, 10 on inbound work: 75 %, ahead
        # of its share, so inbound work comes first again.
        _spent(tenant, agent_id, queue_id, at, campaign_id=uuid.UUID(campaign["id"]), talk=1800)
        _spent(tenant, agent_id, queue_id, at, campaign_id=None, talk=600)
        agent = db.session.get(Agent, agent_id)
        first = dialer.claim_next(agent=agent, actor=tenants_service.SYSTEM, now=at)
        assert first.direction == "inbound"
        db.session.rollback()


def _spent(tenant, agent_id, queue_id, at, *, campaign_id, talk: int) -> None:
    """A contact the agent handled in the last hour, `talk` seconds long."""
    with tenant_scope(tenant.id):
        db.session.add(
            Contact(
                queue_id=queue_id,
                channel="voice",
                direction="outbound" if campaign_id else "inbound",
                category="order_request",
                priority="normal",
                priority_rank=2,
                status="closed",
                status_since=at - timedelta(minutes=5),
                received_at=at - timedelta(minutes=50),
                queued_at=at - timedelta(minutes=50),
                assigned_at=at - timedelta(minutes=45),
                agent_id=agent_id,
                campaign_id=campaign_id,
                talk_seconds=talk,
            )
        )
        db.session.commit()


def test_two_agents_are_never_offered_the_same_record(client, factory):
    tenant = factory.tenant()
    rows = "\n".join(f"C{n},+34 600 {n:06d},Etc/GMT" for n in range(40))
    campaign, queue_id, first_agent = _campaign(
        client,
        factory,
        tenant,
        "name,phone,time_zone\n" + rows + "\n",
        weekdays=[1, 2, 3, 4, 5, 6, 7],
        window_start="00:00",
        window_end="23:59",
        skip_holidays=False,
    )
    agents = [first_agent] + [
        uuid.UUID(working_agent(client, factory, [queue_id], languages=[], skills=[])[0]["id"])
        for _ in range(5)
    ]
    app = factory.app
    at = _utc(2026, 10, 26, 12, 0)
    with app.app_context(), tenant_scope(tenant.id):
        campaigns_service.replan(
            campaign=db.session.get(Campaign, uuid.UUID(campaign["id"])), now=at
        )
        db.session.commit()
    taken: list[uuid.UUID] = []
    lock = threading.Lock()

    def work(agent_id):
        with app.app_context():
            for _ in range(10):
                agent = db.session.get(Agent, agent_id)
                contact = dialer.claim_next(agent=agent, actor=tenants_service.SYSTEM, now=at)
                if contact is None:
                    db.session.rollback()
                    return
                record_id = contact.campaign_record_id
                # Free the agent again (concurrency 1) without ending the record's attempt.
                with tenant_scope(tenant.id):
                    contact.agent_id = None
                    contact.status = "closed"
                    db.session.commit()
                with lock:
                    taken.append(record_id)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counts = Counter(taken)
    assert len(counts) == 40 and set(counts.values()) == {1}
    with app.app_context(), unscoped():
        attempts = db.session.scalar(
            select(func.sum(CampaignRecord.attempts)).where(
                CampaignRecord.campaign_id == uuid.UUID(campaign["id"])
            )
        )
        made = db.session.scalar(
            select(func.count()).where(Contact.campaign_id == uuid.UUID(campaign["id"]))
        )
    assert attempts == made == 40


def _tenant(tenant_id):
    from tenants.models import Tenant

    return db.session.get(Tenant, tenant_id)
