"""The ingest benchmark's reference: a bare Flask + SQLAlchemy endpoint that inserts the row
intake would insert into an equivalent table, and nothing else: no authentication, validation,
tenant scoping, routing rules, idempotency or events. Served by gunicorn with the same settings
as Switchboard (`gunicorn bench.bare_app:app`), configured by environment variables set by
bench/ingest.py. Imports nothing of Switchboard, so its workers carry none of its weight.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import MetaData, Table, create_engine, insert

# The same engine options as app/db.py.
engine = create_engine(os.environ["BENCH_REF_DATABASE_URL"], pool_pre_ping=True)
contacts = Table(os.environ["BENCH_REF_TABLE"], MetaData(), autoload_with=engine)
TENANT_ID = uuid.UUID(os.environ["BENCH_REF_TENANT_ID"])
QUEUE_ID = uuid.UUID(os.environ["BENCH_REF_QUEUE_ID"])
PRIORITY_RANK = {"low": 1, "normal": 2, "high": 3, "urgent": 4}

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/contacts")
def create_contact():
    body = request.get_json()
    customer = body.get("customer") or {}
    now = datetime.now(UTC)
    received = body.get("received_at")
    row = {
        "id": uuid.uuid4(),
        "tenant_id": TENANT_ID,
        "queue_id": QUEUE_ID,
        "external_id": body.get("external_id"),
        "channel": body["channel"],
        "direction": body.get("direction", "inbound"),
        "category": body["category"],
        "priority": body.get("priority", "normal"),
        "priority_rank": PRIORITY_RANK[body.get("priority", "normal")],
        "language": body.get("language"),
        "subject": body.get("subject", ""),
        "body": body.get("body", ""),
        "customer_name": customer.get("name"),
        "customer_email": customer.get("email"),
        "customer_phone": customer.get("phone"),
        "customer_ref": customer.get("ref"),
        "customer_key": customer.get("ref") or customer.get("email") or customer.get("phone"),
        "customer_contact_number": 1,
        "remedy_requested": body.get("remedy_requested"),
        "status": "queued",
        "status_since": now,
        "received_at": datetime.fromisoformat(received) if received else now,
        "queued_at": now,
        "reopen_count": 0,
        "queued_seconds": 0,
        "talk_seconds": 0,
        "hold_seconds": 0,
        "acw_seconds": 0,
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as connection:
        connection.execute(insert(contacts).values(**row))
    return jsonify(id=str(row["id"]), status="queued"), 201
