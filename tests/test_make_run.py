"""`make run`: one command runs the whole product (the API, the worker, the SLA scan and the
demo's webhook receiver, from Procfile.dev under honcho) on a fresh SQLite database, and Ctrl-C
stops all of it.

The test runs the Makefile's own `run` target (its install step skipped: the venv is there)
on a free port against a temporary instance folder, where a call has just come in that is due
2 s later: no request will touch it again, so only the SLA scan can mark the breach, and only
the worker can deliver its webhook. A ping to a demo firm's endpoint must reach the demo
receiver, signed. Once all that has happened, SIGINT goes to the whole
foreground process group, as a terminal's Ctrl-C does, and every process must be gone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app import demo_receiver
from app.contacts import intake as contacts_intake
from app.db import db
from app.demo import DOCS_CLIENT_ID
from app.queues.models import Queue
from app.sla.models import BusinessCalendar, SlaPolicy
from app.webhooks import service as webhooks_service
from app.webhooks import signing
from tenants import service as tenants_service
from tenants.models import ApiClient
from tenants.scoping import tenant_scope, unscoped
from tenants.service import SYSTEM
from tests.conftest import _free_port
from tests.factories import Factory
from tests.test_sla_engine import ALWAYS
from tests.test_webhook_delivery import Receiver, make_endpoint, serve_receiver

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 120  # ~10 s on a quiet machine (migrate, seed, start); a ceiling under load
BREACH_SECONDS = 30  # the scan runs every 5 s and the worker polls every 5 s: ~10 s
STOP_SECONDS = 10  # honcho sends SIGTERM at once and SIGKILL only after 5 s


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


def always_open_firm(app, receiver: Receiver):
    """A firm open around the clock (no holidays), whose voice calls must be answered within
    2 s, with a webhook endpoint at the test's receiver; return (tenant, voice queue)."""
    app.config["WEBHOOK_ALLOW_INSECURE_URLS"] = True
    app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = True
    tenant = Factory(app).tenant(time_zone="UTC")
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add(
            BusinessCalendar(
                effective_from=datetime(2020, 1, 1, tzinfo=UTC),
                time_zone="UTC",
                weekly_hours=ALWAYS,
                holiday_country=None,
                closures=[],
            )
        )
        db.session.add(
            SlaPolicy(
                name="Instant",
                is_default=True,
                targets=[
                    {
                        "priority": "normal",
                        "channel": "voice",
                        "category": None,
                        "first_response_seconds": None,
                        "answer_threshold_seconds": 2,
                        "resolution_seconds": 3600,
                    }
                ],
            )
        )
        queue = Queue(name="Calls", channels=["voice"])
        db.session.add(queue)
        db.session.commit()
    make_endpoint(app, tenant, receiver.url, event_types=["sla.breached"])
    return tenant, queue


def call_arrives(app, tenant, queue) -> uuid.UUID:
    """A voice call comes in now, through the service (as the API would take it)."""
    with app.app_context(), tenant_scope(tenant.id):
        contact, created = contacts_intake.create(
            contact_in={
                "channel": "voice",
                "direction": "inbound",
                "category": "information_request",
                "queue_id": queue.id,
            },
            tenant=tenant,
            actor=SYSTEM,
        )
        assert created and contact.sla_state == "ok"
        db.session.commit()
        return contact.id


def ping_the_demo_receiver(app, slug: str) -> None:
    """Queue a `webhook.ping` to the demo firm's endpoint, as its client admin could."""
    with app.app_context():
        tenant = tenants_service.get_by_slug(slug=slug)
        with tenant_scope(tenant.id):
            [endpoint] = db.session.scalars(webhooks_service.list_()).all()
            webhooks_service.ping(endpoint=endpoint)
            db.session.commit()


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has finished


def stop_everything(make: subprocess.Popen) -> None:
    """After a failure: honcho's children run in sessions of their own, so killing make's
    process group alone would leave them running."""
    if make.poll() is not None:
        return
    left = descendants(make.pid)
    os.killpg(make.pid, signal.SIGKILL)
    make.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(condition, seconds: float, what: str, output: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"no {what} within {seconds} s; make run said:\n{output.read_text()}")


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def breach_delivered(receiver: Receiver, contact_id: uuid.UUID) -> bool:
    """The receiver got an `sla.breached` event naming the contact."""
    with receiver.lock:
        received = list(receiver.requests)
    return any(
        r.headers.get("Switchboard-Event-Type") == "sla.breached"
        and str(contact_id) in r.body.decode()
        for r in received
    )


def test_make_run_serves_the_api_breaches_and_announces_overdue_calls_and_ctrl_c_stops_it_all(
    sqlite_app, receiver, tmp_path
):
    tenant, queue = always_open_firm(sqlite_app, receiver)
    # Due 2 s from now: long before the demo is up, but only the scan can notice it.
    call = call_arrives(sqlite_app, tenant, queue)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env |= {
        "SWITCHBOARD_INSTANCE_PATH": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": sqlite_app.config["DATABASE_URL"],
        "SWITCHBOARD_SECRET_KEY": "test-secret",
    }
    output = tmp_path / "make-run.log"
    settings = [f"PORT={port}", "HOST=127.0.0.1", f"RECEIVER_PORT={_free_port()}"]
    with output.open("wb") as log:
        # `-o install`: the venv is installed already; everything else is `make run` as is.
        # A session of its own, so SIGINT to its process group is exactly a terminal's Ctrl-C.
        make = subprocess.Popen(
            ["make", "-o", "install", "run", *settings],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: healthy(port), STARTUP_SECONDS, "/healthz", output)
        wait_for(lambda: breach_delivered(receiver, call), BREACH_SECONDS, "breach webhook", output)
        processes = descendants(make.pid)
        said = output.read_text()
        for name in ("web.1", "worker.1", "sla.1", "webhooks.1"):
            assert f"{name} started" in said, said
        # The demo was seeded by the same command, and tokens name the address it serves at.
        assert "BPO admin: admin@bpo.example" in said, said
        metadata = requests.get(
            f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=5
        ).json()
        assert metadata["issuer"] == f"http://127.0.0.1:{port}"
        # The web app at / signs the demo's BPO admin in and shows the portfolio.
        browser = requests.Session()
        page = browser.get(f"http://127.0.0.1:{port}/", timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        landed = browser.post(
            page.url,
            data={"email": "admin@bpo.example", "password": "switchboard-demo", "csrf_token": csrf},
            timeout=10,
        )
        assert landed.status_code == 200 and landed.url.endswith("/console/"), landed.url
        # The demo firms' endpoints point at the demo receiver, which checks what it gets.
        ping_the_demo_receiver(sqlite_app, "acme-retail")
        printed = re.compile(r"acme-retail: webhook\.ping \S+ .*\(signature ok\)")
        wait_for(lambda: printed.search(output.read_text()), BREACH_SECONDS, "ping", output)

        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=STOP_SECONDS)
        wait_for(
            lambda: not any(alive(pid) for pid in processes),
            STOP_SECONDS,
            "clean stop of every process",
            output,
        )
        assert not healthy(port)
    finally:
        stop_everything(make)


def test_the_docs_page_still_signs_in_after_the_demo_moves_to_another_port(sqlite_app):
    runner = sqlite_app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    sqlite_app.config["OAUTH_ISSUER"] = "http://127.0.0.1:8080"  # make run PORT=8080
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    with sqlite_app.app_context(), unscoped():
        docs = db.session.scalar(select(ApiClient).where(ApiClient.client_id == DOCS_CLIENT_ID))
        assert docs.redirect_uris == ["http://127.0.0.1:8080/docs/assets/oauth2-redirect.html"]


def test_the_demo_firms_get_one_endpoint_each_at_the_demo_receiver_whose_secret_is_kept(
    sqlite_app,
):
    sqlite_app.config |= {
        "DEMO_WEBHOOK_URL": "http://127.0.0.1:8001/webhooks",
        "WEBHOOK_ALLOW_INSECURE_URLS": True,
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True,
    }
    credentials = Path(sqlite_app.instance_path) / "demo-credentials.json"
    runner = sqlite_app.test_cli_runner()
    for _ in range(2):  # a second seed changes nothing
        assert runner.invoke(args=["demo", "seed"]).exit_code == 0
        assert demo_endpoints(sqlite_app) == {
            slug: ("http://127.0.0.1:8001/webhooks/" + slug, secret_kept(credentials, slug))
            for slug in ("acme-retail", "globex-telecom")
        }
    credentials.unlink()  # lost: the next seed gives new secrets and keeps them
    before = demo_endpoints(sqlite_app)
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    after = demo_endpoints(sqlite_app)
    assert after["acme-retail"][1] != before["acme-retail"][1]
    assert after["acme-retail"][1] == secret_kept(credentials, "acme-retail")


def demo_endpoints(app) -> dict[str, tuple[str, str]]:
    """Each demo firm's one endpoint: (url, secret)."""
    endpoints = {}
    with app.app_context():
        for slug in ("acme-retail", "globex-telecom"):
            tenant = tenants_service.get_by_slug(slug=slug)
            with tenant_scope(tenant.id):
                [endpoint] = db.session.scalars(webhooks_service.list_()).all()
                endpoints[slug] = (endpoint.url, endpoint.secret)
    return endpoints


def secret_kept(credentials: Path, slug: str) -> str:
    return json.loads(credentials.read_text())[slug]["webhook_secret"]


def test_the_demo_receiver_prints_signed_events_and_refuses_forged_ones(tmp_path):
    credentials = tmp_path / "demo-credentials.json"
    demo, forged = signing.new_secret(), signing.new_secret()
    credentials.write_text(json.dumps({"acme-retail": {"webhook_secret": demo}}))
    printed: list[str] = []
    server = demo_receiver.make_server(
        host="127.0.0.1", port=0, credentials_file=credentials, echo=printed.append
    )
    stop = threading.Event()
    serving = threading.Thread(target=demo_receiver.serve, args=(server,), kwargs={"stop": stop})
    serving.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/webhooks/"
    body = json.dumps({"data": {"external_id": "ACME-1001", "clock": "first_response"}}).encode()

    def post(slug: str, secret: str) -> int:
        headers = signing.headers(
            secrets=[secret], msg_id="msg_1", timestamp=int(time.time()), body=body
        )
        headers["Switchboard-Event-Type"] = "sla.breached"
        return requests.post(base + slug, data=body, headers=headers, timeout=5).status_code

    try:
        assert post("acme-retail", demo) == 200
        assert post("acme-retail", forged) == 400
        assert post("globex-telecom", demo) == 400  # no secret kept for it
    finally:
        stop.set()
        serving.join(timeout=10)
    assert printed[0].startswith("acme-retail: sla.breached ? ACME-1001 first_response")
    assert printed[0].endswith("(signature ok)")
    assert "REFUSED" in printed[1] and "REFUSED" in printed[2]
