"""Webhooks: a tenant's endpoints, queuing events for them, and signed delivery with retries."""

from __future__ import annotations

import uuid


def enqueue(*, event_type: str, event_id: uuid.UUID, payload: dict) -> int:
    """Queue an event of the tenant in scope for each of its active endpoints subscribed to
    `event_type`; return how many deliveries were queued. Enqueuing the same `event_id`
    again queues nothing more (unique per endpoint and event). Never commits."""
    raise NotImplementedError  # built by the webhooks work of issue 5
