"""Idempotency-Key: a retried POST gets the first answer, once, even when retries race."""

from __future__ import annotations

import json
import threading
import time

import requests
from sqlalchemy import delete, func, select

from app.db import db
from app.idempotency import IdempotencyRecord
from tenants import service as tenants_service
from tenants.models import Tenant, User
from tenants.scoping import unscoped
from tests.http_helpers import TENANT_IN, assert_problem, audit_entries
from tests.onboarding_helpers import FULL_ONBOARDING, database_counts, full_onboarding

KEY = "7c0f5a52-8a8e-4a4e-9c59-2f1d7a0c1e11"


def _onboard(client, caller, body, key: str | None = KEY):
    headers = dict(caller.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/tenants", json=body, headers=headers)


def _tenant_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tenant))


def _records(app) -> list[IdempotencyRecord]:
    with app.app_context():
        # BPO-level records have no tenant: read them unscoped.
        with unscoped():
            return list(db.session.scalars(select(IdempotencyRecord)))


# --- replay ----------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(app, client, factory):
    admin = factory.caller("bpo_admin")
    first = _onboard(client, admin, FULL_ONBOARDING)
    assert first.status_code == 201, first.get_json()
    after_first = database_counts(app)

    retry = _onboard(client, admin, FULL_ONBOARDING)

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert retry.get_json() == first.get_json()
    assert retry.mimetype == "application/json"
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert database_counts(app) == after_first
    assert len(audit_entries(app, "tenant.onboarded")) == 1
    [record] = _records(app)
    assert (record.tenant_id, record.caller, record.key) == (None, str(admin.user_id), KEY)


def test_the_same_json_sent_differently_is_the_same_request(client, factory):
    admin = factory.caller("bpo_admin")
    _onboard(client, admin, TENANT_IN)
    reordered = json.dumps(dict(reversed(list(TENANT_IN.items()))), indent=2)

    retry = client.post(
        "/v1/tenants",
        data=reordered,
        content_type="application/json",
        headers={**admin.headers, "Idempotency-Key": KEY},
    )

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_a_different_body_is_refused(app, client, factory):
    admin = factory.caller("bpo_admin")
    _onboard(client, admin, TENANT_IN)
    after_first = database_counts(app)

    response = _onboard(client, admin, {**TENANT_IN, "slug": "other-firm"})

    body = assert_problem(response, 422)
    assert "Idempotency-Key" in body["detail"]
    assert "Idempotent-Replayed" not in response.headers
    assert database_counts(app) == after_first


def test_without_a_key_a_repeat_is_a_new_request_and_conflicts(client, factory):
    admin = factory.caller("bpo_admin")
    assert _onboard(client, admin, TENANT_IN, key=None).status_code == 201

    assert_problem(_onboard(client, admin, TENANT_IN, key=None), 409)


# --- failures are not remembered -------------------------------------------------------------


def test_a_failed_request_keeps_nothing_so_its_retry_does_the_work(app, client, factory):
    admin = factory.caller("bpo_admin")
    factory.user("client_viewer", factory.tenant(), email="ana.ruiz@acme.example", password=None)

    failed = _onboard(client, admin, FULL_ONBOARDING)
    assert_problem(failed, 409)
    assert _records(app) == []
    # The account in the way is removed; the client retries exactly the same request.
    with app.app_context():
        db.session.execute(delete(User).where(User.email == "ana.ruiz@acme.example"))
        db.session.commit()
    retry = _onboard(client, admin, FULL_ONBOARDING)

    assert retry.status_code == 201, retry.get_json()
    assert "Idempotent-Replayed" not in retry.headers
    assert retry.get_json()["first_admin"]["email"] == "ana.ruiz@acme.example"
    replay = _onboard(client, admin, FULL_ONBOARDING)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == retry.get_json()


def test_an_invalid_request_can_be_corrected_under_the_same_key(app, client, factory):
    admin = factory.caller("bpo_admin")

    invalid = _onboard(client, admin, {**TENANT_IN, "currency": "euro"})
    corrected = _onboard(client, admin, TENANT_IN)

    assert_problem(invalid, 422)
    assert corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected.headers


def test_a_refused_caller_leaves_no_record(app, client, factory):
    client_admin = factory.caller("client_admin", factory.tenant())

    assert_problem(_onboard(client, client_admin, TENANT_IN), 403)
    assert _records(app) == []


# --- keys ------------------------------------------------------------------------------------


def test_keys_belong_to_their_caller(app, client, factory):
    alice, bob, carol = (factory.caller("bpo_admin") for _ in range(3))
    _onboard(client, alice, TENANT_IN)

    # Alice's key and body from Bob are Bob's own new request: no replay of Alice's answer,
    # the work is done again (and meets her firm's slug)...
    same = _onboard(client, bob, TENANT_IN)
    # ...and Alice's key with another body is simply a new request from Carol.
    other = _onboard(client, carol, {**TENANT_IN, "slug": "carols-firm"})

    body = assert_problem(same, 409)
    assert "slug" in body["detail"]
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert _tenant_count(app) == 2
    assert sorted(r.caller for r in _records(app)) == sorted(
        [str(alice.user_id), str(carol.user_id)]
    )


def test_key_length_and_characters_are_limited(app, client, factory):
    admin = factory.caller("bpo_admin")

    longest = _onboard(client, admin, TENANT_IN, key="k" * 255)
    too_long = _onboard(client, admin, {**TENANT_IN, "slug": "b"}, key="k" * 256)
    empty = _onboard(client, admin, {**TENANT_IN, "slug": "c"}, key="")
    spaced = _onboard(client, admin, {**TENANT_IN, "slug": "d"}, key="my key")

    assert longest.status_code == 201
    for response in (too_long, empty, spaced):
        body = assert_problem(response, 400)
        assert "Idempotency-Key" in body["detail"] and "255" in body["detail"]
    assert _tenant_count(app) == 1


# --- races, over real HTTP -------------------------------------------------------------------


def _slow_tenant_creation(monkeypatch, seconds: float = 0.5) -> None:
    """Hold each onboarding open after its tenant row is written, so that requests overlap."""
    create = tenants_service.create

    def slow_create(**kwargs):
        tenant = create(**kwargs)
        time.sleep(seconds)
        return tenant

    monkeypatch.setattr(tenants_service, "create", slow_create)


def _race(url: str, requests_: list[tuple[dict, dict]]) -> list[requests.Response]:
    """Send the requests at the same moment, one thread each; return the answers in order."""
    barrier = threading.Barrier(len(requests_))
    answers: list[requests.Response | None] = [None] * len(requests_)

    def send(index: int, headers: dict, body: dict) -> None:
        barrier.wait()
        answers[index] = requests.post(url, json=body, headers=headers, timeout=30)

    threads = [
        threading.Thread(target=send, args=(i, headers, body))
        for i, (headers, body) in enumerate(requests_)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(a is not None for a in answers), "a request did not finish"
    return answers


def test_concurrent_retries_with_one_key_create_one_firm_and_agree(
    app, factory, live_server, monkeypatch
):
    admin = factory.caller("bpo_admin")
    _slow_tenant_creation(monkeypatch)
    headers = {**admin.headers, "Idempotency-Key": KEY}

    first, second = _race(f"{live_server}/v1/tenants", [(headers, FULL_ONBOARDING)] * 2)

    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json() == second.json()
    replayed = [r.headers.get("Idempotent-Replayed") for r in (first, second)]
    assert sorted(replayed, key=str) == sorted([None, "true"], key=str)
    assert _tenant_count(app) == 1
    assert len(audit_entries(app, "tenant.onboarded")) == 1
    assert len(_records(app)) == 1


def test_concurrent_onboardings_of_one_slug_create_one_firm(app, factory, live_server, monkeypatch):
    admin = factory.caller("bpo_admin")
    _slow_tenant_creation(monkeypatch)
    body_a = full_onboarding(first_admin={"email": "a@acme.example", "name": "A"})
    body_b = full_onboarding(first_admin={"email": "b@acme.example", "name": "B"})

    answers = _race(
        f"{live_server}/v1/tenants",
        [
            ({**admin.headers, "Idempotency-Key": "key-a"}, body_a),
            ({**admin.headers, "Idempotency-Key": "key-b"}, body_b),
        ],
    )

    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    conflict = next(r for r in answers if r.status_code == 409)
    assert conflict.headers["Content-Type"] == "application/problem+json"
    assert "slug" in conflict.json()["detail"]
    assert _tenant_count(app) == 1
    assert len(_records(app)) == 1


def test_stored_answers_expire_after_the_retention_and_purge_prunes_them(
    app, client, factory, runner
):
    admin = factory.caller("bpo_admin")
    assert _onboard(client, admin, TENANT_IN).status_code == 201
    assert len(_records(app)) == 1
    with app.app_context(), unscoped():
        # Age the stored answer past the 24 h retention.
        for record in db.session.scalars(select(IdempotencyRecord)):
            record.created_at = record.created_at.replace(year=record.created_at.year - 1)
        db.session.commit()

    result = runner.invoke(args=["tenants", "purge"])

    assert result.exit_code == 0, result.output
    assert "pruned 1 idempotency record(s)" in result.output
    assert _records(app) == []
