"""Webhook endpoints: /v1/tenants/{tenant_id}/webhooks, their secrets, URL rules and the
delivery log as a client admin reads it."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import db
from app.webhooks.models import WebhookDelivery
from tenants import service as tenants_service
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem, audit_actions
from tests.test_webhook_delivery import (
    T0,
    allow_local_receivers,
    deliver,
    enqueue,
    receiver_verifies,
    serve_receiver,
)

ENDPOINT_IN = {
    "url": "https://hooks.acme.example/switchboard",
    "description": "Acme's incident bot",
    "event_types": ["sla.breached", "sla.at_risk"],
}


def _url(tenant, *parts) -> str:
    return "/".join([f"/v1/tenants/{tenant.id}/webhooks", *(str(p) for p in parts)])


def _create(client, caller, tenant, **fields) -> dict:
    response = client.post(_url(tenant), json={**ENDPOINT_IN, **fields}, headers=caller.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _etag(client, caller, url) -> str:
    response = client.get(url, headers=caller.headers)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


@pytest.fixture
def receiver():
    yield from serve_receiver()


@pytest.fixture
def webhook_config(app, monkeypatch):
    allow_local_receivers(app, monkeypatch)


@pytest.fixture
def firm(factory):
    tenant = factory.tenant()
    return tenant, factory.caller("client_admin", tenant)


# --- endpoints -------------------------------------------------------------------------------


def test_a_client_admin_registers_an_endpoint_and_sees_its_secret_only_once(
    app, client, firm, webhook_config
):
    tenant, admin = firm

    response = client.post(_url(tenant), json=ENDPOINT_IN, headers=admin.headers)

    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["url"] == ENDPOINT_IN["url"]
    assert created["event_types"] == ["sla.breached", "sla.at_risk"]
    assert created["is_active"] is True
    assert response.headers["Location"].endswith(_url(tenant, created["id"]))

    read = client.get(_url(tenant, created["id"]), headers=admin.headers)
    listed = client.get(_url(tenant), headers=admin.headers)
    assert read.status_code == 200 and listed.status_code == 200
    assert "secret" not in read.get_json()
    assert [e["id"] for e in listed.get_json()] == [created["id"]]
    assert "secret" not in listed.get_json()[0]
    assert created["secret"] not in read.get_data(as_text=True) + listed.get_data(as_text=True)
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    assert audit_actions(app, target_id=created["id"]) == ["webhook_endpoint.created"]


def test_an_endpoint_subscribes_to_breaches_by_default_and_a_bpo_admin_may_register_one(
    client, factory, firm, webhook_config
):
    tenant, _ = firm
    bpo_admin = factory.caller("bpo_admin")

    response = client.post(
        _url(tenant), json={"url": "https://hooks.acme.example/a"}, headers=bpo_admin.headers
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["event_types"] == ["sla.breached"]
    assert response.get_json()["description"] == ""


@pytest.mark.parametrize(
    ("event_types", "message"),
    [
        (["webhook.ping"], {"0": ["Not an event of the catalogue: webhook.ping."]}),
        (
            ["contact.created", "contact.creatd"],
            {"1": ["Not an event of the catalogue: contact.creatd."]},
        ),
        (["sla.breached", "sla.breached"], ["Event type listed more than once: sla.breached."]),
        ([], ["Subscribe to at least one event type."]),
        ("contact.created", ["Not a valid list."]),
    ],
)
def test_only_known_event_types_can_be_subscribed(
    client, firm, webhook_config, event_types, message
):
    tenant, admin = firm

    response = client.post(
        _url(tenant), json={**ENDPOINT_IN, "event_types": event_types}, headers=admin.headers
    )

    body = assert_problem(response, 422)
    assert body["errors"]["json"]["event_types"] == message


def test_rotating_the_secret_shows_the_new_one_once(app, client, firm, webhook_config):
    tenant, admin = firm
    created = _create(client, admin, tenant)

    response = client.post(_url(tenant, created["id"], "rotate-secret"), headers=admin.headers)

    assert response.status_code == 200, response.get_json()
    rotated = response.get_json()["secret"]
    assert rotated.startswith("whsec_") and rotated != created["secret"]
    assert "secret" not in client.get(_url(tenant, created["id"]), headers=admin.headers).json
    assert audit_actions(app, target_id=created["id"]) == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
    ]


def test_changing_an_endpoint_needs_the_etag_it_was_read_with(app, client, firm, webhook_config):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    url = _url(tenant, created["id"])
    change = {"description": "Pager", "event_types": ["sla.at_risk"], "is_active": False}

    assert_problem(client.patch(url, json=change, headers=admin.headers), 428)
    stale = {**admin.headers, "If-Match": '"not-the-etag"'}
    assert_problem(client.patch(url, json=change, headers=stale), 412)
    fresh = {**admin.headers, "If-Match": _etag(client, admin, url)}
    response = client.patch(url, json=change, headers=fresh)

    assert response.status_code == 200, response.get_json()
    assert {k: response.get_json()[k] for k in change} == change
    assert "secret" not in response.get_json()
    assert audit_actions(app, target_id=created["id"]) == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
    ]


def test_deleting_an_endpoint_removes_it_with_its_deliveries(app, client, firm, webhook_config):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    enqueue(app, tenant)

    response = client.delete(_url(tenant, created["id"]), headers=admin.headers)

    assert response.status_code == 204
    assert_problem(client.get(_url(tenant, created["id"]), headers=admin.headers), 404)
    assert_problem(client.delete(_url(tenant, created["id"]), headers=admin.headers), 404)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalars(select(WebhookDelivery)).all() == []
    assert audit_actions(app, target_id=created["id"])[-1] == "webhook_endpoint.deleted"


# --- URL rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.acme.example/h", "Use https://"),
        ("ftp://hooks.acme.example/h", "Use an https:// URL."),
        ("https:///h", "The URL has no host."),
        ("https://user:pw@hooks.acme.example/h", "Leave credentials out of the URL"),
        ("https://hooks.acme.example:99999/h", "Not a valid URL"),
        ("https://127.0.0.1/h", "127.0.0.1 is not a public address"),
        ("https://10.1.2.3/h", "10.1.2.3 is not a public address"),
        ("https://192.168.0.10:8443/h", "192.168.0.10 is not a public address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is not a public address"),
        ("https://[::1]/h", "::1 is not a public address"),
        ("https://[::ffff:10.0.0.1]/h", "::ffff:10.0.0.1 is not a public address"),
        ("https://[fd00:ec2::254]/h", "fd00:ec2::254 is not a public address"),
        ("https://2130706433/h", "2130706433 is not a public address"),
        ("https://0/h", "0 is not a public address"),
        ("https://localhost:8443/h", "localhost names a local or internal host"),
        ("https://metadata.google.internal/h", "names a local or internal host"),
    ],
)
def test_an_endpoint_url_must_be_https_on_a_public_host(client, firm, url, fragment):
    tenant, admin = firm

    response = client.post(_url(tenant), json={**ENDPOINT_IN, "url": url}, headers=admin.headers)

    body = assert_problem(response, 422)
    [message] = body["errors"]["json"]["url"]
    assert fragment in message, message


def test_a_url_change_follows_the_same_rules(client, firm, webhook_config, monkeypatch, app):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
    url = _url(tenant, created["id"])

    response = client.patch(
        url,
        json={"url": "https://10.0.0.8/h"},
        headers={**admin.headers, "If-Match": _etag(client, admin, url)},
    )

    body = assert_problem(response, 422)
    assert "10.0.0.8 is not a public address" in body["errors"]["json"]["url"][0]


def test_plain_http_and_private_hosts_are_accepted_where_configured(client, firm, webhook_config):
    tenant, admin = firm

    created = _create(client, admin, tenant, url="http://127.0.0.1:9000/h")

    assert created["url"] == "http://127.0.0.1:9000/h"


def test_production_defaults_refuse_plain_http_and_private_networks():
    from app.config import DEFAULTS

    assert DEFAULTS["WEBHOOK_ALLOW_INSECURE_URLS"] is False
    assert DEFAULTS["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] is False
    assert DEFAULTS["WEBHOOK_TIMEOUT_SECONDS"] == 10
    assert DEFAULTS["WEBHOOK_MAX_ATTEMPTS"] == 12


# --- ping and the delivery log ---------------------------------------------------------------


def test_a_ping_reaches_only_that_endpoint_and_shows_in_its_delivery_log(
    app, client, firm, receiver, webhook_config
):
    tenant, admin = firm
    pinged = _create(client, admin, tenant, url=receiver.url)
    _create(client, admin, tenant, url=receiver.url + "/other")

    response = client.post(_url(tenant, pinged["id"], "ping"), headers=admin.headers)

    assert response.status_code == 202, response.get_json()
    queued = response.get_json()
    assert (queued["event_type"], queued["status"], queued["attempts"]) == (
        "webhook.ping",
        "pending",
        0,
    )
    assert queued["endpoint_id"] == pinged["id"]
    assert deliver(app)["delivered"] == 1
    [request] = receiver.requests
    assert request.path == "/hooks/switchboard"
    receiver_verifies(pinged["secret"], request)
    assert json.loads(request.body)["type"] == "webhook.ping"

    log = client.get(_url(tenant, pinged["id"], "deliveries"), headers=admin.headers)
    assert log.status_code == 200
    [entry] = log.get_json()
    assert (entry["id"], entry["status"], entry["last_status_code"]) == (
        queued["id"],
        "delivered",
        200,
    )
    detail = client.get(
        _url(tenant, pinged["id"], "deliveries", queued["id"]), headers=admin.headers
    ).get_json()
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["error"] is None
    assert attempt["duration_ms"] >= 0 and attempt["attempted_at"].startswith("2100-03-01T09:00")


def test_an_inactive_endpoint_cannot_be_pinged(client, firm, webhook_config):
    tenant, admin = firm
    created = _create(client, admin, tenant, is_active=False)

    response = client.post(_url(tenant, created["id"], "ping"), headers=admin.headers)

    assert "inactive" in assert_problem(response, 409)["detail"]


def test_the_delivery_log_is_newest_first_paginated_and_filtered(
    app, client, firm, receiver, webhook_config
):
    tenant, admin = firm
    endpoint = _create(client, admin, tenant, url=receiver.url)
    first = enqueue(app, tenant, "sla.breached")
    second = enqueue(app, tenant, "sla.at_risk")
    third = enqueue(app, tenant, "sla.breached")
    receiver.answer(500)  # the first delivery sent (the oldest) fails
    deliver(app)
    url = _url(tenant, endpoint["id"], "deliveries")

    everything = client.get(url, headers=admin.headers)
    page = client.get(url + "?page=2&page_size=2", headers=admin.headers)
    breaches = client.get(url + "?event_type=sla.breached", headers=admin.headers)
    failing = client.get(url + "?status=pending", headers=admin.headers)
    bad = client.get(url + "?status=lost", headers=admin.headers)

    events = [d["event_id"] for d in everything.get_json()]
    assert events == [str(third), str(second), str(first)]
    assert [d["event_id"] for d in page.get_json()] == [str(first)]
    assert json.loads(page.headers["X-Pagination"])["total"] == 3
    assert [d["event_id"] for d in breaches.get_json()] == [str(third), str(first)]
    [pending] = failing.get_json()
    assert pending["event_id"] == str(first) and pending["last_error"].startswith("HTTP 500")
    assert_problem(bad, 422)


def test_a_dead_delivery_can_be_retried_by_hand_and_a_pending_one_cannot(
    app, client, firm, receiver, webhook_config, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 1)
    tenant, admin = firm
    endpoint = _create(client, admin, tenant, url=receiver.url)
    enqueue(app, tenant)
    receiver.answer(500)
    assert deliver(app)["dead"] == 1
    [dead] = client.get(_url(tenant, endpoint["id"], "deliveries"), headers=admin.headers).json
    retry_url = _url(tenant, endpoint["id"], "deliveries", dead["id"], "retry")

    response = client.post(retry_url, headers=admin.headers)

    assert response.status_code == 202, response.get_json()
    assert (response.json["status"], response.json["attempts"]) == ("pending", 0)
    assert_problem(client.post(retry_url, headers=admin.headers), 409)
    assert deliver(app, T0 + timedelta(minutes=1))["delivered"] == 1
    detail = client.get(
        _url(tenant, endpoint["id"], "deliveries", dead["id"]), headers=admin.headers
    ).json
    assert detail["status"] == "delivered"
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 200]
    assert "webhook_delivery.retried" in audit_actions(app, target_id=dead["id"])


def test_a_delivery_of_another_endpoint_is_not_found_under_this_one(
    app, client, firm, webhook_config
):
    tenant, admin = firm
    one = _create(client, admin, tenant)
    other = _create(client, admin, tenant, url="https://hooks.acme.example/other")
    enqueue(app, tenant)
    [delivery] = client.get(_url(tenant, one["id"], "deliveries"), headers=admin.headers).json

    response = client.get(
        _url(tenant, other["id"], "deliveries", delivery["id"]), headers=admin.headers
    )

    assert_problem(response, 404)


# --- who may -----------------------------------------------------------------------------------


def test_another_tenants_endpoint_is_not_found(client, factory, firm, webhook_config):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    other = factory.tenant()
    other_admin = factory.caller("client_admin", other)

    for method, path in [
        ("get", _url(other, created["id"])),
        ("delete", _url(other, created["id"])),
        ("post", _url(other, created["id"], "rotate-secret")),
        ("post", _url(other, created["id"], "ping")),
        ("get", _url(other, created["id"], "deliveries")),
    ]:
        assert_problem(getattr(client, method)(path, headers=other_admin.headers), 404)
    # And from outside the firm entirely, the firm itself is not found.
    assert_problem(client.get(_url(tenant), headers=other_admin.headers), 404)


@pytest.mark.parametrize("role", ["client_viewer", "supervisor", "integration"])
def test_only_admins_manage_webhooks(client, factory, firm, webhook_config, role):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    caller = factory.caller(role, tenant)

    assert_problem(client.get(_url(tenant), headers=caller.headers), 403)
    assert_problem(client.post(_url(tenant), json=ENDPOINT_IN, headers=caller.headers), 403)
    assert_problem(client.get(_url(tenant, created["id"]), headers=caller.headers), 403)
    assert_problem(
        client.post(_url(tenant, created["id"], "rotate-secret"), headers=caller.headers), 403
    )


def test_an_unknown_endpoint_is_not_found(client, firm):
    tenant, admin = firm

    assert_problem(client.get(_url(tenant, uuid.uuid4()), headers=admin.headers), 404)


def test_the_offboarding_export_carries_endpoints_and_deliveries_but_no_signing_secret(
    app, client, firm, webhook_config
):
    tenant, admin = firm
    created = _create(client, admin, tenant)
    enqueue(app, tenant)

    with app.app_context(), tenant_scope(tenant.id):
        export = tenants_service.create_export(
            tenant=db.session.get(Tenant, tenant.id), actor=tenants_service.SYSTEM
        )
        lines = [json.loads(line) for line in gzip.decompress(export.content).splitlines()]
        db.session.rollback()

    [endpoint] = [line["row"] for line in lines if line["table"] == "webhook_endpoints"]
    assert endpoint["url"] == ENDPOINT_IN["url"] and "secret" not in endpoint
    assert [line["table"] for line in lines].count("webhook_deliveries") == 1
    assert created["secret"] not in gzip.decompress(export.content).decode()
