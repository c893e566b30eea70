"""/metrics: a Prometheus scrape that parses, request and contact counters that count only what
happened (and committed), figures read from the database, and the optional scrape token.

The counters live in the process-global registry and other tests move them too, so every test
reads them before and after what it does and compares.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app import create_app
from app.db import db, utcnow
from app.metrics import count_on_commit
from app.sla.models import SlaClock
from app.webhooks.models import WebhookAttempt
from billing.models import OutboxMessage
from tenants.scoping import tenant_scope
from tests.factories import one_row_of_everything
from tests.http_helpers import assert_problem
from tests.test_contacts_intake import contact_in, contacts_url, create_contact, queue_of

CONTACT_ROUTE = "/v1/tenants/<uuid:tenant_id>/contacts/<uuid:contact_id>"


def scrape(client, **headers) -> dict:
    """Scrape /metrics; return {sample name: {frozenset(labels): value}}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    samples: dict = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(frozenset(labels.items()), 0.0)


def test_a_scrape_parses_as_prometheus_text_with_every_family(client):
    response = client.get("/metrics")

    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert families["switchboard_http_requests"].type == "counter"
    assert families["switchboard_http_request_duration_seconds"].type == "histogram"
    assert families["switchboard_contacts_created"].type == "counter"
    assert families["switchboard_contacts_handled"].type == "counter"
    for name in (
        "switchboard_metrics_db_up",
        "switchboard_billing_outbox_pending",
        "switchboard_billing_outbox_oldest_pending_age_seconds",
        "switchboard_webhook_deliveries",
        "switchboard_webhook_delivery_failures",
        "switchboard_sla_breaches",
    ):
        assert name in families, name
    # No label anywhere names a tenant: their number has no bound.
    assert not any("tenant" in k for f in families.values() for s in f.samples for k in s.labels)


def test_a_contact_taken_in_counts_once_for_its_channel_and_direction(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    before = scrape(client)

    create_contact(client, integration, tenant, channel="web")

    after = scrape(client)
    name = "switchboard_contacts_created_total"
    web = {"channel": "web", "direction": "inbound"}
    assert value(after, name, **web) == value(before, name, **web) + 1
    others = {k: v for k, v in after[name].items() if k != frozenset(web.items())}
    assert others == {k: v for k, v in before[name].items() if k != frozenset(web.items())}


def test_a_contact_refused_by_validation_is_not_counted(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant, channels=["email"])
    integration = factory.caller("integration", tenant)
    before = scrape(client)

    invalid = client.post(
        contacts_url(tenant), json=contact_in(channel="pigeon"), headers=integration.headers
    )
    unroutable = client.post(
        contacts_url(tenant), json=contact_in(channel="chat"), headers=integration.headers
    )

    assert_problem(invalid, 422)
    assert_problem(unroutable, 422)
    after = scrape(client)
    assert (
        after["switchboard_contacts_created_total"] == before["switchboard_contacts_created_total"]
    )


def test_a_count_is_kept_only_when_its_transaction_commits(app):
    # A registry of its own, so this test shares no counter with anything else.
    counter = Counter("probe", "A test counter.", ["case"], registry=CollectorRegistry())
    with app.app_context():
        session = db.new_session()
        count_on_commit(session, counter, case="rolled_back")
        session.execute(text("SELECT 1"))
        session.rollback()

        count_on_commit(session, counter, case="closed_uncommitted")
        session.close()

        session = db.new_session()
        count_on_commit(session, counter, case="committed")
        savepoint = session.begin_nested()
        count_on_commit(session, counter, case="savepoint_rolled_back")
        savepoint.rollback()
        with session.begin_nested():
            count_on_commit(session, counter, case="savepoint_released")
            assert counter.labels(case="savepoint_released")._value.get() == 0  # not yet
        session.commit()
        session.close()

    counts = {
        case: counter.labels(case=case)._value.get()
        for case in (
            "rolled_back",
            "closed_uncommitted",
            "committed",
            "savepoint_rolled_back",
            "savepoint_released",
        )
    }
    assert counts == {
        "rolled_back": 0,
        "closed_uncommitted": 0,
        "committed": 1,
        "savepoint_rolled_back": 0,
        "savepoint_released": 1,
    }


def test_a_handled_contact_counts_once_for_its_channel_even_resolved_again(app, client, factory):
    from tests.test_contacts_intake import staffed_agent

    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    admin = factory.caller("bpo_admin")
    agent, agent_caller = staffed_agent(app, client, factory, admin, [queue_id])
    supervisor = factory.caller("supervisor", tenant)
    integration = factory.caller("integration", tenant)
    contact = create_contact(client, integration, tenant, channel="voice")

    def act(action, caller, **body):
        response = client.post(
            contacts_url(tenant, contact["id"], action), json=body, headers=caller.headers
        )
        assert response.status_code == 200, response.get_json()

    done = {"disposition": "done", "resolution_note": "Done."}
    act("assign", supervisor, agent_id=agent["id"])
    act("answer", agent_caller)
    before = scrape(client)
    act("resolve", agent_caller, **done)
    once = scrape(client)
    act("reopen", integration)
    act("assign", supervisor, agent_id=agent["id"])
    act("answer", agent_caller)
    act("resolve", agent_caller, **done)
    again = scrape(client)

    name = "switchboard_contacts_handled_total"
    assert value(once, name, channel="voice") == value(before, name, channel="voice") + 1
    assert value(again, name, channel="voice") == value(once, name, channel="voice")


def test_requests_are_counted_by_route_template_never_by_raw_path(app, client, factory):
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    contact = create_contact(client, integration, tenant)
    before = scrape(client)

    read = client.get(contacts_url(tenant, contact["id"]), headers=integration.headers)
    missing = client.get(f"/no/such/page/{uuid.uuid4()}")
    scrape(client)  # scrapes themselves are not counted

    after = scrape(client)
    assert read.status_code == 200 and missing.status_code == 404
    get = {"method": "GET", "route": CONTACT_ROUTE}
    name = "switchboard_http_requests_total"
    assert value(after, name, status="200", **get) == value(before, name, status="200", **get) + 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **unmatched) == value(before, name, **unmatched) + 1
    histogram = "switchboard_http_request_duration_seconds_count"
    assert value(after, histogram, **get) == value(before, histogram, **get) + 1
    labels = [dict(k) for n in after if n.startswith("switchboard_http") for k in after[n]]
    assert not [lbl for lbl in labels if lbl.get("route") == "/metrics"]
    assert not [lbl for lbl in labels if str(contact["id"]) in lbl.get("route", "")]
    assert not [lbl for lbl in labels if str(tenant.id) in lbl.get("route", "")]


def test_database_figures_show_the_outbox_deliveries_failures_and_breaches(
    app, client, factory, monkeypatch
):
    monkeypatch.setitem(app.config, "METRICS_DB_CACHE_SECONDS", 0)
    tenant = factory.tenant()
    empty = scrape(client)
    rows = one_row_of_everything(app, tenant)
    with app.app_context(), tenant_scope(tenant.id):
        outbox = db.session.get(OutboxMessage, rows["outbox"])
        outbox.created_at = utcnow() - timedelta(hours=2)
        clock = db.session.get(SlaClock, rows["sla_clock"])
        clock.state, clock.breached_at = "breached", utcnow()
        attempt = db.session.get(WebhookAttempt, rows["webhook_attempt"])
        attempt.status_code, attempt.error = 500, "HTTP 500."
        db.session.commit()

    seeded = scrape(client)

    assert (
        value(empty, "switchboard_metrics_db_up") == value(seeded, "switchboard_metrics_db_up") == 1
    )
    assert value(empty, "switchboard_billing_outbox_pending") == 0
    assert value(seeded, "switchboard_billing_outbox_pending") == 1
    age = value(seeded, "switchboard_billing_outbox_oldest_pending_age_seconds")
    assert 2 * 3600 <= age < 2 * 3600 + 60
    assert value(seeded, "switchboard_webhook_deliveries", state="pending") == 1
    assert value(seeded, "switchboard_webhook_deliveries", state="dead") == 0
    assert value(empty, "switchboard_webhook_delivery_failures_total") == 0
    assert value(seeded, "switchboard_webhook_delivery_failures_total") == 1
    assert value(seeded, "switchboard_sla_breaches_total", clock="resolution") == 1
    assert value(seeded, "switchboard_sla_breaches_total", clock="first_response") == 0


def test_database_figures_are_read_at_most_once_per_cache_period(app, client, factory, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_DB_CACHE_SECONDS", 0)
    scrape(client)  # fills the cache with an empty outbox
    monkeypatch.setitem(app.config, "METRICS_DB_CACHE_SECONDS", 3600)
    one_row_of_everything(app, factory.tenant())

    cached = scrape(client)
    monkeypatch.setitem(app.config, "METRICS_DB_CACHE_SECONDS", 0)
    fresh = scrape(client)

    assert value(cached, "switchboard_billing_outbox_pending") == 0
    assert value(fresh, "switchboard_billing_outbox_pending") == 1


def test_a_database_that_does_not_answer_fails_no_scrape(tmp_path):
    unreachable = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "test-secret",
            # Nothing listens on port 9 (discard) of loopback: the connection is refused.
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )

    samples = scrape(unreachable.test_client())

    assert value(samples, "switchboard_metrics_db_up") == 0
    assert "switchboard_billing_outbox_pending" not in samples
    assert "switchboard_sla_breaches_total" not in samples
    assert "switchboard_http_requests_total" in samples


def test_with_a_token_set_a_scrape_must_bring_it(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-token-0123456789")

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    basic = client.get("/metrics", headers={"Authorization": "Basic scrape-token-0123456789"})

    for refused in (missing, wrong, basic):
        assert_problem(refused, 401)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "switchboard_" not in refused.get_data(as_text=True)
    samples = scrape(client, Authorization="Bearer scrape-token-0123456789")
    assert "switchboard_http_requests_total" in samples


def test_without_a_token_the_scrape_is_open(app, client):
    assert app.config["METRICS_TOKEN"] is None
    assert "switchboard_metrics_db_up" in scrape(client)
