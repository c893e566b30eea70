"""What billing tells the domain event log (app/events): an invoice closed, paid, or failed
to be paid, with the payload the event catalogue describes (figures and times, no people).
May import: app.events.service, billing.models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.events import service as events_service
from billing.models import Invoice


def record(invoice: Invoice, *, type: str, at: datetime) -> None:
    """Record `invoice.closed`, `invoice.paid` or `invoice.payment_failed` for an invoice of
    the tenant in scope, as it now is."""
    payload = {
        "invoice_id": str(invoice.id),
        "period": invoice.period,
        "status": invoice.status,
        "currency": invoice.currency,
        "total": invoice.total,
        "closed_at": _iso(invoice.closed_at),
    }
    if type == "invoice.paid":
        payload["paid_at"] = _iso(invoice.paid_at)
    elif type == "invoice.payment_failed":
        payload["payment_failed_at"] = _iso(invoice.payment_failed_at)
    events_service.record(type=type, payload=payload, occurred_at=at)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
