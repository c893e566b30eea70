"""Contacts for the browser stories' pages to show: a month of weekdays, varied by a fixed rule
(no randomness), through tests/test_reports_sla.py's helpers."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.db import utcnow
from app.reports.periods import zone_of
from tests.test_reports_sla import after, clock, contact, store


def last_month(tenant) -> tuple[datetime, datetime]:
    """The firm's previous local month: its first instant and this month's."""
    this_first = (
        utcnow()
        .astimezone(zone_of(tenant))
        .replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    return (this_first - timedelta(days=1)).replace(day=1), this_first


def a_month_of_contacts(app, tenant, queue, first: datetime, end: datetime, shift: int = 0):
    """Calls, chats and e-mails on each weekday of a month, varied by a fixed rule: waits around
    the queue's 20 s, some abandoned, e-mails answered in time or breaching their clock."""
    contacts, clocks = [], []
    day = first
    n = 0
    while day < end:
        if day.weekday() < 5:
            for hour in range(9, 18):
                n += 1
                at = day.replace(hour=hour, minute=(n * 7) % 60)
                wait = 3 + (n * 37 + shift) % 26
                channel = ("voice", "voice", "chat")[n % 3]
                if n % 9 == 0:
                    contacts.append(
                        contact(
                            queue,
                            at,
                            channel=channel,
                            status="abandoned",
                            abandoned_at=after(at, wait),
                        )
                    )
                    continue
                contacts.append(
                    contact(
                        queue,
                        at,
                        channel=channel,
                        status="resolved",
                        answered_at=after(at, wait),
                        resolved_at=after(at, wait + 240),
                        talk_seconds=200 + n % 90,
                        acw_seconds=40,
                        csat=(5, 4, 3, 5)[n % 4],
                    )
                )
            mail_at = day.replace(hour=10)
            late = n % 4 == 0
            mail = contact(
                queue,
                mail_at,
                channel="email",
                subject=f"Order {n}",
                status="resolved",
                first_response_at=after(mail_at, 9000 if late else 1200),
                resolved_at=after(mail_at, 20000),
            )
            contacts.append(mail)
            if late:
                clocks.append(
                    clock(
                        mail,
                        "first_response",
                        state="breached",
                        stopped_at=after(mail_at, 9000),
                        elapsed_seconds=9000,
                        breached_at=after(mail_at, 3600),
                    )
                )
            else:
                clocks.append(
                    clock(
                        mail,
                        "first_response",
                        state="met",
                        stopped_at=after(mail_at, 1200),
                        elapsed_seconds=1200,
                    )
                )
        day += timedelta(days=1)
    store(app, tenant, contacts, clocks)


def this_month_so_far(tenant) -> tuple[datetime, datetime]:
    """The firm's current local month up to today (its whole days so far)."""
    today = utcnow().astimezone(zone_of(tenant)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.replace(day=1), today
