"""Every domain event as a webhook, signed the Standard Webhooks way: a firm subscribes to its
contacts' events and receives them for work done through the API, without the end customer's
personal data; deliveries verify with the specification's Python library and by hand; a
rotation keeps the old secret signing for its window; one firm's events never reach another's
endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import secrets
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from marshmallow import fields

from app import migrate
from app.db import db, utcnow
from app.events import catalogue
from app.webhooks import service as webhooks_service
from app.webhooks import signing
from app.webhooks.models import EVENT_TYPES, WebhookEndpoint
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests import test_contacts_lifecycle_api as lifecycle
from tests.factories import dispatch_events
from tests.http_helpers import assert_problem, audit_actions
from tests.test_contacts_lifecycle_api import act, assigned, new_contact, ok
from tests.test_migrations import fresh_app as fresh_app  # a fixture
from tests.test_webhook_delivery import (
    allow_local_receivers,
    deliver,
    enqueue,
    make_endpoint,
    receiver_verifies,
    serve_receiver,
)
from tests.test_webhooks_api import _url
from tests.test_webhooks_api import firm as firm  # a fixture

floor = lifecycle.floor
CUSTOMER = {"name": "Ana Ruiz", "email": "ana@example.com", "phone": "+34 600 123 456"}
PERSONAL_FIELDS = {"customer", "customer_name", "customer_email", "customer_phone"}
PERSONAL_FIELDS |= {"name", "email", "phone", "subject", "author_name"}


@pytest.fixture
def receiver():
    yield from serve_receiver()


@pytest.fixture
def other_receiver():
    yield from serve_receiver()


@pytest.fixture
def webhook_config(app, monkeypatch):
    allow_local_receivers(app, monkeypatch)


def subscribe(client, caller, tenant, url: str, event_types: list[str]) -> dict:
    """An endpoint registered through the API by the firm's client admin; its answer."""
    response = client.post(
        _url(tenant), json={"url": url, "event_types": event_types}, headers=caller.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def by_type(receiver) -> dict[str, list[dict]]:
    """The bodies the receiver got, grouped by event type."""
    grouped: dict[str, list[dict]] = {}
    for request in receiver.requests:
        body = json.loads(request.body)
        grouped.setdefault(body["type"], []).append(body)
    return grouped


# --- any event of the catalogue --------------------------------------------------------------


def test_every_event_of_the_catalogue_may_be_subscribed_and_the_docs_list_them_as_an_enum(
    client, firm, webhook_config
):
    tenant, admin = firm
    every = [event.name for event in catalogue.EVENT_TYPES]

    created = subscribe(client, admin, tenant, "https://hooks.acme.example/all", every)

    assert created["event_types"] == every
    assert set(EVENT_TYPES) == set(catalogue.CATALOGUE)
    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name in ("WebhookEndpointCreate", "WebhookEndpointUpdate", "WebhookEndpoint"):
        items = schemas[name]["properties"]["event_types"]["items"]
        assert items["enum"] == every, name
    tag = next(t for t in spec["tags"] if t["name"] == "webhooks")
    assert "*Events* section" in tag["description"]


def test_a_firm_receives_its_contacts_events_for_work_done_through_the_api(
    app, client, factory, floor, receiver, webhook_config
):
    admin = factory.caller("client_admin", floor.tenant)
    wanted = ["contact.created", "contact.assigned", "contact.message.created"]
    endpoint = subscribe(client, admin, floor.tenant, receiver.url, wanted)

    contact = assigned(client, floor, channel="email", customer=CUSTOMER)
    reply = {"body": "Your parcel leaves today.", "body_format": "text"}
    ok(act(client, floor, contact["id"], "respond", message=reply))
    dispatch_events(app)
    counts = deliver(app, now=None)

    assert counts["delivered"] == 3 == len(receiver.requests)
    received = by_type(receiver)
    assert sorted(received) == sorted(wanted)  # not contact.responded: not subscribed
    [made] = received["contact.created"]
    assert made["data"]["contact_id"] == contact["id"]
    assert made["data"]["status"] == "queued"
    [handed] = received["contact.assigned"]
    assert handed["data"]["agent_id"] == floor.agent["id"]
    [message] = received["contact.message.created"]
    # The firm's systems deliver the reply: its text travels, and only a reply's does.
    assert message["data"]["message"]["kind"] == "reply"
    assert message["data"]["message"]["body"] == "Your parcel leaves today."
    for request in receiver.requests:
        receiver_verifies(endpoint["secret"], request)
        # The end customer's details stay with Switchboard.
        for value in (*CUSTOMER.values(), "Parcel never arrived", "nothing came"):
            assert value not in request.body.decode(), (value, request.body)


def test_no_contact_event_payload_carries_the_customers_personal_data():
    def names(schema) -> set[str]:
        found = set()
        for name, field in schema.fields.items():
            found.add(name)
            if isinstance(field, fields.Nested):
                found |= names(field.schema)
        return found

    contact_events = [e for e in catalogue.EVENT_TYPES if e.name.startswith("contact.")]

    assert len(contact_events) >= 10
    for event in contact_events:
        assert names(event.payload()) & PERSONAL_FIELDS == set(), event.name
    # The one text a contact event carries is a reply's, for the firm to deliver.
    message = catalogue.CATALOGUE["contact.message.created"].payload()
    assert "body" in message.fields["message"].schema.fields


# --- signatures ------------------------------------------------------------------------------


def test_the_signature_matches_the_specifications_published_example():
    # Standard Webhooks' own example: key, id, timestamp and body, and the signature expected.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, timestamp, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    by_hand = hmac.new(
        base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}',
        hashlib.sha256,
    ).digest()

    signature = signing.sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature == "v1," + base64.b64encode(by_hand).decode()
    headers = signing.headers(secrets=[secret], msg_id=msg_id, timestamp=timestamp, body=body)
    assert signing.verify(secret=secret, headers=headers, body=body, now=timestamp + 10)


def test_new_secrets_are_whsec_and_the_base64_of_32_random_bytes():
    secret = signing.new_secret()

    assert secret.startswith("whsec_") and signing.is_standard(secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != signing.new_secret()
    # The URL-safe secrets issued before the standard are told apart.
    assert not signing.is_standard("whsec_" + secrets.token_urlsafe(32))


def test_our_deliveries_verify_with_the_standard_webhooks_python_library(
    app, factory, receiver, webhook_config
):
    standardwebhooks = pytest.importorskip("standardwebhooks.webhooks")
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    event_id = enqueue(app, tenant)

    assert deliver(app, now=None)["delivered"] == 1  # signed now: the library checks the time

    [request] = receiver.requests
    verified = standardwebhooks.Webhook(endpoint.secret).verify(request.body, request.headers)
    assert verified["id"] == str(event_id) and verified["type"] == "sla.breached"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signing.new_secret()).verify(request.body, request.headers)
    tampered = request.body.replace(b"sla.breached", b"sla.at_risk")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(endpoint.secret).verify(tampered, request.headers)


# --- rotation --------------------------------------------------------------------------------


def test_during_a_rotation_window_both_secrets_verify_and_after_it_only_the_new_one(
    app, client, firm, receiver, webhook_config
):
    tenant, admin = firm
    endpoint = subscribe(client, admin, tenant, receiver.url, ["sla.breached"])
    old = endpoint["secret"]

    response = client.post(
        _url(tenant, endpoint["id"], "rotate-secret"),
        json={"expire_previous_in_seconds": 3600},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.get_json()
    rotated = response.get_json()
    new = rotated["secret"]
    assert new != old and signing.is_standard(new)
    until = rotated["previous_secret_expires_at"]
    assert abs((_at(until) - utcnow()).total_seconds() - 3600) < 60
    assert audit_actions(app, target_id=endpoint["id"])[-1] == "webhook_endpoint.secret_rotated"

    enqueue(app, tenant)
    assert deliver(app, now=None)["delivered"] == 1
    [during] = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.headers["webhook-signature"].startswith(
        signing.sign(
            secret=new,
            msg_id=during.headers["webhook-id"],
            timestamp=int(during.headers["webhook-timestamp"]),
            body=during.body,
        )
    )
    receiver_verifies(new, during)
    receiver_verifies(old, during)

    enqueue(app, tenant)
    assert deliver(app, now=_at(until) + timedelta(seconds=1))["delivered"] == 1
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    receiver_verifies(new, after)
    with pytest.raises(AssertionError):
        receiver_verifies(old, after)


def test_a_second_rotation_ends_the_first_ones_window(app, factory, webhook_config):
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, "https://hooks.acme.example/h")
    first = endpoint.secret
    now = utcnow()

    with app.app_context(), tenant_scope(tenant.id):
        found = webhooks_service.get(endpoint_id=endpoint.id)
        webhooks_service.rotate_secret(endpoint=found, actor=tenants_service.SYSTEM, now=now)
        second = found.secret
        assert webhooks_service.signing_secrets(found, now=now) == (second, first)
        assert found.previous_secret_expires_at == now + timedelta(hours=24)  # the setting
        webhooks_service.rotate_secret(endpoint=found, actor=tenants_service.SYSTEM, now=now)
        assert webhooks_service.signing_secrets(found, now=now) == (found.secret, second)
        webhooks_service.rotate_secret(
            endpoint=found, actor=tenants_service.SYSTEM, expire_previous_in_seconds=0, now=now
        )
        assert webhooks_service.signing_secrets(found, now=now) == (found.secret,)
        assert found.previous_secret is None
        db.session.rollback()


@pytest.mark.parametrize("seconds", [-1, 7 * 24 * 3600 + 1, "soon"])
def test_a_rotation_window_out_of_bounds_is_refused_beside_its_field(
    client, firm, webhook_config, seconds
):
    tenant, admin = firm
    endpoint = subscribe(client, admin, tenant, "https://hooks.acme.example/h", ["sla.breached"])

    response = client.post(
        _url(tenant, endpoint["id"], "rotate-secret"),
        json={"expire_previous_in_seconds": seconds},
        headers=admin.headers,
    )

    body = assert_problem(response, 422)
    assert list(body["errors"]["json"]) == ["expire_previous_in_seconds"]


def test_an_old_secret_kept_by_the_migration_signs_the_old_header_until_its_window_ends(
    app, factory, receiver, webhook_config
):
    migration = _migration_0022()
    legacy = "whsec_" + secrets.token_urlsafe(32)  # as secrets were issued before
    respelled = migration.standard_spelling(legacy)
    # The same key, spelled so the standard libraries read it.
    assert signing.key_of(respelled) == base64.urlsafe_b64decode(legacy[6:] + "=")
    tenant = factory.tenant()
    endpoint = make_endpoint(app, tenant, receiver.url)
    until = utcnow() + timedelta(days=30)
    with app.app_context(), tenant_scope(tenant.id):
        found = db.session.get(WebhookEndpoint, endpoint.id)
        found.secret, found.previous_secret = respelled, legacy
        found.previous_secret_expires_at = until
        db.session.commit()

    enqueue(app, tenant)
    deliver(app, now=None)
    enqueue(app, tenant)
    deliver(app, now=until + timedelta(seconds=1))

    during, after = receiver.requests
    receiver_verifies(respelled, during)
    assert len(during.headers["webhook-signature"].split(" ")) == 1  # the same key once
    stamp = int(during.headers["webhook-timestamp"])
    legacy_header = signing.legacy_sign(secret=legacy, timestamp=stamp, body=during.body)
    assert during.headers["Switchboard-Signature"] == legacy_header
    expected = hmac.new(legacy.encode(), f"{stamp}.".encode() + during.body, hashlib.sha256)
    assert legacy_header == f"t={stamp},v1={expected.hexdigest()}"
    receiver_verifies(respelled, after)
    assert "Switchboard-Signature" not in after.headers


def test_a_secret_the_product_never_issued_is_replaced_by_the_migration():
    migration = _migration_0022()

    fresh = migration.standard_spelling("whsec_test")

    assert signing.is_standard(fresh) and len(signing.key_of(fresh)) == 32


def test_the_migration_re_spells_each_existing_secret_and_keeps_the_old_one_for_30_days(
    fresh_app,
):
    migration = _migration_0022()
    migrate.upgrade(fresh_app, migration.down_revision)
    legacy = "whsec_" + secrets.token_urlsafe(32)
    engine = sa.create_engine(fresh_app.config["MIGRATION_DATABASE_URL"])
    endpoints = sa.table(
        "webhook_endpoints",
        *(sa.column(name) for name in ("id", "tenant_id", "url", "description", "secret")),
        sa.column("event_types", sa.JSON()),
        *(sa.column(name) for name in ("is_active", "created_at", "updated_at")),
    )
    # The firm as that revision had it: the model's table has columns added since.
    tenants = sa.table(
        "tenants",
        *(
            sa.column(name)
            for name in (
                "id",
                "slug",
                "name",
                "status",
                "time_zone",
                "locale",
                "currency",
                "reopen_window_days",
                "share_notes_with_integration",
                "created_at",
                "updated_at",
            )
        ),
    )
    endpoint_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT set_config('app.unscoped', 'on', true)"))
            conn.execute(
                tenants.insert().values(
                    id=tenant_id,
                    slug="legacy",
                    name="Legacy",
                    status="active",
                    time_zone="UTC",
                    locale="es",
                    currency="EUR",
                    reopen_window_days=30,
                    share_notes_with_integration=False,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            conn.execute(
                endpoints.insert().values(
                    id=endpoint_id,
                    tenant_id=tenant_id,
                    url="https://hooks.legacy.example/h",
                    description="",
                    secret=legacy,
                    event_types=["sla.breached"],
                    is_active=True,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )

        migrate.upgrade(fresh_app, migration.revision)
        after = _endpoint_row(engine, endpoint_id)
        migrate.downgrade(fresh_app, migration.down_revision)
        back = _endpoint_row(engine, endpoint_id)
    finally:
        engine.dispose()

    assert signing.is_standard(after.secret)
    assert signing.key_of(after.secret) == base64.urlsafe_b64decode(legacy[6:] + "=")
    assert after.previous_secret == legacy
    left = after.previous_secret_expires_at - utcnow()
    assert timedelta(days=29, hours=23) < left <= timedelta(days=30)
    assert back.secret == legacy  # downgraded, the old code signs with what receivers hold


# --- isolation -------------------------------------------------------------------------------


def test_one_firms_events_never_reach_another_firms_endpoint(
    app, client, factory, floor, receiver, other_receiver, webhook_config
):
    other = factory.tenant()
    other_admin = factory.caller("client_admin", other)
    admin = factory.caller("client_admin", floor.tenant)
    subscribe(client, other_admin, other, other_receiver.url, ["contact.created"])
    mine = subscribe(client, admin, floor.tenant, receiver.url, ["contact.created"])

    contact = new_contact(client, floor)
    dispatch_events(app)
    deliver(app, now=None)

    assert other_receiver.requests == []
    [request] = receiver.requests
    assert json.loads(request.body)["data"]["contact_id"] == contact["id"]
    # The other firm's admin cannot reach this firm's endpoint in any way.
    for method, path, body in [
        ("get", _url(floor.tenant, mine["id"]), None),
        ("post", _url(floor.tenant, mine["id"], "rotate-secret"), {}),
        ("get", _url(other, mine["id"]), None),
        ("post", _url(other, mine["id"], "rotate-secret"), {}),
    ]:
        response = getattr(client, method)(path, json=body, headers=other_admin.headers)
        assert_problem(response, 404)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _endpoint_row(engine, endpoint_id):
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('app.unscoped', 'on', true)"))
        return conn.execute(
            sa.text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": endpoint_id}
        ).one()


def _migration_0022():
    # By name, not number: the revision may be renumbered when branches merge.
    versions = migrate.MIGRATIONS_DIR / "versions"
    [path] = versions.glob("*_webhook_secrets_the_standard_way_with_a_rotation_window.py")
    spec = importlib.util.spec_from_file_location("migration_0022", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
