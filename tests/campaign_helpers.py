"""Helpers for the campaign tests: a campaign set up through the API, a list loaded, an agent
working its queue, and a customer zone where it is midday now (so an open window is open)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

from app.db import utcnow
from tests.test_agents_api import make_queue
from tests.test_claim_next import working_agent

_seq = itertools.count(1)

DISPOSITIONS = [
    {"code": "sold", "label": "Sold", "reached": True, "success": True},
    {"code": "not_interested", "label": "Not interested", "reached": True},
    {"code": "no_answer", "label": "No answer", "retry": True},
    {"code": "busy", "label": "Busy", "retry": True, "retry_after_minutes": 15},
    {"code": "call_back", "label": "Call back", "reached": True, "retry": True},
    {"code": "do_not_call", "label": "Do not call", "reached": True, "do_not_contact": True},
]


def midday_zone(at: datetime | None = None) -> str:
    """A fixed-offset zone (no country, no holidays, no daylight saving) where it is about
    midday at `at`: a window of 08:00-20:00 there is open for hours either side."""
    hour = (at or utcnow()).astimezone(UTC).hour
    offset = max(-12, min(14, 12 - hour))
    # Etc/GMT's sign is inverted: Etc/GMT-3 is three hours ahead of UTC.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def campaign_in(queue_id, **fields) -> dict:
    return {
        "name": f"Campaign {next(_seq)}",
        "purpose": "sales",
        "channel": "voice",
        "category": "order_request",
        "queue_id": str(queue_id),
        "script": "Hello {name}, about your {plan} plan...",
        "dispositions": DISPOSITIONS,
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "window_start": "08:00",
        "window_end": "20:00",
        "skip_holidays": False,
        "max_attempts": 3,
        "retry_delay_minutes": 60,
        "starts_on": "2026-01-01",
        **fields,
    }


def url(tenant, path: str = "") -> str:
    return f"/v1/tenants/{tenant.id}/campaigns{path}"


def create_campaign(client, caller, tenant, queue_id, **fields) -> dict:
    response = client.post(
        url(tenant), json=campaign_in(queue_id, **fields), headers=caller.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def load_csv(client, caller, tenant, campaign_id, text: str, name="list.csv"):
    return client.post(
        url(tenant, f"/{campaign_id}/lists?name={name}"),
        data=text.encode(),
        headers={**caller.headers, "Content-Type": "text/csv"},
    )


def customers_csv(count: int, *, zone: str, start: int = 1) -> str:
    lines = ["name,phone,time_zone,plan"]
    lines += [f"Customer {n},+34 600 000 {n:03d},{zone},fibre" for n in range(start, start + count)]
    return "\n".join(lines) + "\n"


def start(client, caller, tenant, campaign_id) -> dict:
    response = client.post(url(tenant, f"/{campaign_id}/start"), headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def running_campaign(client, factory, tenant, *, records=1, zone=None, **fields):
    """A queue, a running voice campaign in it with `records` customers loaded, and an agent
    working the queue: (campaign, queue_id, agent, agent caller, admin caller)."""
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice", "email", "chat"])
    campaign = create_campaign(client, admin, tenant, queue_id, **fields)
    if records:
        loaded = load_csv(
            client,
            admin,
            tenant,
            campaign["id"],
            customers_csv(records, zone=zone or midday_zone()),
        )
        assert loaded.status_code == 201, loaded.get_json()
    start(client, admin, tenant, campaign["id"])
    agent, caller = working_agent(client, factory, [queue_id])
    return campaign, queue_id, agent, caller, admin


def claim(client, caller):
    return client.post("/v1/me/next", headers=caller.headers)


def dispose(client, caller, tenant, contact_id, code: str, **fields):
    return client.post(
        f"/v1/tenants/{tenant.id}/contacts/{contact_id}/disposition",
        json={"code": code, **fields},
        headers=caller.headers,
    )


def uid(value) -> uuid.UUID:
    return uuid.UUID(str(value))
