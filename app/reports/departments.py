"""Time with the departments: how many escalations each department of a firm took back from,
and the seconds each spent there (from escalation to the department's answer, or to the agent
taking the contact back), for the SLA report and the complaints register.

Only escalations that came back count: the time of one still with its department is not
known yet. Read in the firm's tenant scope. May import: app.db, the contact models and
app.reports.measures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from app.contacts.models import Contact, Department, Escalation
from app.db import db
from app.reports.measures import as_int, seconds_between, sql_instant


def _seconds() -> ColumnElement:
    return seconds_between(Escalation.started_at, Escalation.ended_at)


def by_department(*, from_: datetime, to: datetime, narrowing: list | None = None) -> list[dict]:
    """Per department, the escalations of the contacts received in [from_, to) (narrowed as
    the report is) that came back: how many, and their seconds in all and on average."""
    rows = db.session.execute(
        select(
            Escalation.department_id,
            Department.name,
            func.count().label("escalations"),
            func.sum(_seconds()).label("seconds"),
        )
        .join(Contact, Contact.id == Escalation.contact_id)
        .join(Department, Department.id == Escalation.department_id)
        .where(
            Escalation.ended_at.is_not(None),
            Contact.received_at >= sql_instant(from_),
            Contact.received_at < sql_instant(to),
            *(narrowing or []),
        )
        .group_by(Escalation.department_id, Department.name)
        .order_by(Department.name, Escalation.department_id)
    ).all()
    return [
        {
            "department_id": row.department_id,
            "name": row.name,
            "escalations": row.escalations,
            "seconds": as_int(row.seconds),
            "average_seconds": round(as_int(row.seconds) / row.escalations, 1),
        }
        for row in rows
    ]


def seconds_of_contact(contact_id: ColumnElement) -> ColumnElement:
    """A contact's seconds with departments in all (0 with none), as a correlated column."""
    return (
        select(func.coalesce(func.sum(_seconds()), 0))
        .where(Escalation.contact_id == contact_id, Escalation.ended_at.is_not(None))
        .scalar_subquery()
    )
