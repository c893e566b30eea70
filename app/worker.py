"""The background worker: delivers what waits in the database (webhook deliveries)."""

from __future__ import annotations


def run(*, once: bool, interval: float, echo) -> None:
    raise NotImplementedError  # built by the webhooks work of issue 5
