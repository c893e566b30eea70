"""Many agents drain one queue at once on real PostgreSQL: every contact is claimed exactly
once (row locks with SKIP LOCKED), none twice, none left behind."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from app.agents.models import Agent, Assignment
from app.contacts import routing
from app.contacts.models import Contact, ContactEvent
from app.db import db, utcnow
from app.queues.models import Queue
from tenants import service as tenants_service
from tenants.scoping import tenant_scope, unscoped
from tenants.service import Actor

AGENTS = 8
CONTACTS = 200


def _staff(app, tenant) -> tuple[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]]:
    """A queue of the tenant with CONTACTS waiting and AGENTS available agents working it."""
    now = utcnow()
    with app.app_context():
        with tenant_scope(tenant.id):
            queue = Queue(name="Everything", channels=["chat"])
            db.session.add(queue)
            db.session.flush()
            db.session.add_all(
                Contact(
                    queue_id=queue.id,
                    channel="chat",
                    direction="inbound",
                    category="incident",
                    priority=("low", "normal", "high")[i % 3],
                    priority_rank=1 + i % 3,
                    status="queued",
                    status_since=now - timedelta(seconds=CONTACTS - i),
                    received_at=now - timedelta(seconds=CONTACTS - i),
                    queued_at=now - timedelta(seconds=CONTACTS - i),
                )
                for i in range(CONTACTS)
            )
        agents = []
        for n in range(AGENTS):
            # Agents are BPO staff: their users and profiles belong to no tenant.
            with unscoped():
                membership = tenants_service.create_user(
                    email=f"drain-{n}-{uuid.uuid4().hex[:6]}@bpo.test",
                    name=f"Drainer {n}",
                    role="agent",
                    password_hash=None,
                    tenant_id=None,
                    actor=tenants_service.SYSTEM,
                )
                agent = Agent(
                    user=membership.user,
                    channels=["chat"],
                    concurrency={"chat": CONTACTS},
                    languages=["es"],
                    presence="available",
                    active_queue_ids=[str(queue.id)],
                )
                db.session.add(agent)
                db.session.flush()
            with tenant_scope(tenant.id):
                db.session.add(Assignment(agent_id=agent.id, queue_id=queue.id))
            agents.append((agent.id, membership.user_id))
        db.session.commit()
        return queue.id, agents


def test_many_agents_drain_one_queue_and_claim_every_contact_exactly_once(app, factory):
    tenant = factory.tenant()
    _, agents = _staff(app, tenant)
    claimed: dict[uuid.UUID, list[uuid.UUID]] = {agent_id: [] for agent_id, _ in agents}
    errors: list[BaseException] = []
    start = threading.Barrier(AGENTS)

    def work(agent_id: uuid.UUID, user_id: uuid.UUID) -> None:
        actor = Actor(user_id=user_id, client_id="drain-test")
        try:
            start.wait()
            while True:
                # Each claim is its own unit of work, as each request is.
                with app.app_context():
                    agent = db.session.get(Agent, agent_id)
                    contact = routing.claim_next(agent=agent, actor=actor)
                    contact_id = contact.id if contact is not None else None
                    db.session.commit()
                if contact_id is None:
                    return
                claimed[agent_id].append(contact_id)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    began = time.monotonic()
    threads = [threading.Thread(target=work, args=agent) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - began

    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    every = [c for contacts in claimed.values() for c in contacts]
    counts = Counter(every)
    assert len(every) == CONTACTS
    assert [c for c, n in counts.items() if n > 1] == []
    # The work was shared, not taken by one agent while the others waited on locks.
    assert sum(1 for contacts in claimed.values() if contacts) > 1
    assert elapsed < 30

    with app.app_context(), tenant_scope(tenant.id):
        rows = db.session.scalars(select(Contact)).all()
        assert {r.id for r in rows} == set(counts)
        assert {r.status for r in rows} == {"assigned"}
        owner = {c: agent_id for agent_id, contacts in claimed.items() for c in contacts}
        assert all(r.agent_id == owner[r.id] for r in rows)
        events = dict(
            db.session.execute(
                select(ContactEvent.contact_id, func.count())
                .where(ContactEvent.action == "claim")
                .group_by(ContactEvent.contact_id)
            ).all()
        )
        assert events == dict.fromkeys(counts, 1)
        # Each agent took its contacts best first: priority, then age.
        by_id = {r.id: r for r in rows}
        for contacts in claimed.values():
            ranks = [(-by_id[c].priority_rank, by_id[c].queued_at) for c in contacts]
            assert ranks == sorted(ranks)
