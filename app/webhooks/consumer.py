"""Webhook deliveries made from the domain events: the event log's first consumer (listed in
app/worker.py's CONSUMERS). Every event of the catalogue may be subscribed to (the endpoints'
`event_types`). May import: app.events.models, app.webhooks.service.
"""

from __future__ import annotations

from app.events.models import DomainEvent
from app.webhooks import service as webhooks_service


def handle(event: DomainEvent) -> None:
    """Queue one delivery of the event per active endpoint of its tenant subscribed to its
    type (called in the event's tenant scope). A delivery is unique per endpoint and event,
    so handing the same event over again queues nothing more."""
    webhooks_service.enqueue(
        event_type=event.type,
        event_id=event.id,
        payload=event.payload,
        created_at=event.occurred_at,
    )
