"""Oversized and malformed input is refused with a clear problem, never a 500.

Huge bodies, huge page sizes, deeply nested JSON, long strings, long arrays, bytes that are
not UTF-8 and numbers JSON does not have: each answers 400, 413 or 422 as
application/problem+json whose `detail` says what was wrong.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.agents.models import Agent
from app.db import db
from tenants.scoping import unscoped
from tests.http_helpers import assert_problem


@pytest.fixture
def firm(factory):
    return factory.tenant()


@pytest.fixture
def admin(factory):
    return factory.caller("bpo_admin")


def _post_raw(client, path, data: bytes | str, caller):
    return client.post(path, data=data, content_type="application/json", headers=caller.headers)


def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(app, client, firm, admin):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"name": "' + b"x" * limit + b'"}'

    response = _post_raw(client, f"/v1/tenants/{firm.id}/queues", body, admin)

    problem = assert_problem(response, 413)
    assert str(limit) in problem["detail"], problem["detail"]


def test_a_huge_page_size_is_a_422_naming_page_size_and_its_maximum(client, admin):
    response = client.get("/v1/tenants?page_size=1000000", headers=admin.headers)

    problem = assert_problem(response, 422)
    assert "page_size" in problem["detail"]
    assert "100" in str(problem["errors"]), problem["errors"]


@pytest.mark.parametrize("page", ["1000001", "10" * 20])
def test_a_page_number_past_the_last_one_served_is_a_422_not_a_database_error(client, admin, page):
    # An OFFSET past PostgreSQL's bigint used to be a 500.
    response = client.get(f"/v1/tenants?page={page}", headers=admin.headers)

    problem = assert_problem(response, 422)
    assert "page" in problem["detail"]
    assert "1000000" in str(problem["errors"]), problem["errors"]


def test_the_largest_page_size_is_served(client, admin):
    response = client.get("/v1/tenants?page_size=100", headers=admin.headers)

    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_crash(client, firm, admin, depth):
    body = '{"name": ' + "[" * depth + "]" * depth + ', "channels": ["voice"]}'

    response = _post_raw(client, f"/v1/tenants/{firm.id}/queues", body, admin)

    problem = assert_problem(response, 400)
    assert "JSON" in problem["detail"], problem["detail"]


def test_a_one_megabyte_name_is_a_422_naming_its_maximum_length(client, firm, admin):
    body = {"name": "n" * 1_000_000, "channels": ["voice"]}

    response = client.post(f"/v1/tenants/{firm.id}/queues", json=body, headers=admin.headers)

    problem = assert_problem(response, 422)
    assert "name" in problem["detail"]
    assert "100" in str(problem["errors"]["json"]["name"]), problem["errors"]


def test_a_hundred_thousand_character_email_is_a_422_naming_its_maximum_length(client, firm, admin):
    body = {"email": "e" * 100_000 + "@example.test", "name": "Long", "role": "client_viewer"}

    response = client.post(f"/v1/tenants/{firm.id}/users", json=body, headers=admin.headers)

    problem = assert_problem(response, 422)
    assert "email" in problem["detail"]
    assert "254" in str(problem["errors"]["json"]["email"]), problem["errors"]


def test_a_hundred_thousand_queue_ids_are_refused(client, firm, admin):
    ids = [str(uuid.uuid4()) for _ in range(100_000)]

    response = client.post(
        f"/v1/tenants/{firm.id}/briefings",
        json={"title": "Outage", "body": "Fibre down", "queue_ids": ids},
        headers=admin.headers,
    )

    assert_problem(response, 413)


def test_a_long_array_under_the_size_limit_is_a_422_naming_its_maximum(client, firm, admin):
    # 20,000 ids fit in the body limit; the schema caps the list well below that.
    ids = [str(uuid.uuid4()) for _ in range(20_000)]

    response = client.post(
        f"/v1/tenants/{firm.id}/briefings",
        json={"title": "Outage", "body": "Fibre down", "queue_ids": ids},
        headers=admin.headers,
    )

    problem = assert_problem(response, 422)
    assert "queue_ids" in problem["detail"]
    assert problem["errors"]["json"]["queue_ids"] == ["Longer than maximum length 500."]


def test_a_body_that_is_not_utf8_is_a_400(client, firm, admin):
    body = '{"name": "Café", "channels": ["voice"]}'.encode("latin-1")

    response = _post_raw(client, f"/v1/tenants/{firm.id}/queues", body, admin)

    problem = assert_problem(response, 400)
    assert "not UTF-8" in problem["detail"], problem["detail"]


def test_a_syntax_error_says_where_it_is(client, firm, admin):
    response = _post_raw(client, f"/v1/tenants/{firm.id}/queues", b'{"name":', admin)

    problem = assert_problem(response, 400)
    assert "line 1 column 9" in problem["detail"], problem["detail"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_does_not_have_are_refused(client, firm, admin, number):
    body = '{"name": "Q", "channels": ["voice"], "answer_threshold_seconds": ' + number + "}"

    response = _post_raw(client, f"/v1/tenants/{firm.id}/queues", body, admin)

    # Refused by the parser, whatever field it is in: Python's json would read them as floats.
    problem = assert_problem(response, 400)
    assert number.lstrip("-") in problem["detail"], problem["detail"]


def test_deeply_nested_json_with_an_idempotency_key_is_a_400(client, firm, admin):
    body = '{"channel": "email", "category": "complaint", "subject": ' + "[" * 10_000
    body += "]" * 10_000 + "}"

    response = client.post(
        f"/v1/tenants/{firm.id}/contacts",
        data=body,
        content_type="application/json",
        headers={**admin.headers, "Idempotency-Key": "deep-1"},
    )

    assert_problem(response, 400)


def test_a_deeply_nested_json_line_in_an_import_is_a_rejected_row(client, firm, admin):
    line = '{"channel": "email", "category": "complaint", "subject": ' + "[" * 10_000
    line += "]" * 10_000 + "}\n"

    response = client.post(
        f"/v1/tenants/{firm.id}/contacts:import",
        data=line,
        content_type="application/x-ndjson",
        headers=admin.headers,
    )

    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/agents/{agent_id}/assignments", {"assignments": [{"priority": 2}]}, "assignments"),
        ("/v1/agents", {"email": "a@b.test", "name": "A", "skills": [{"level": 3}]}, "skills"),
    ],
    ids=["assignment-without-queue", "skill-without-name"],
)
def test_a_list_item_missing_its_key_is_a_422_not_a_crash(app, client, factory, path, body, field):
    # schemathesis found these: the duplicate checks read a key a failed item did not have.
    admin = factory.caller("bpo_admin")
    agent_user = factory.user("agent")
    with app.app_context(), unscoped():
        agent = Agent(user_id=agent_user.id, channels=["voice"], concurrency={"voice": 1})
        db.session.add(agent)
        db.session.commit()
        agent_id = db.session.scalar(select(Agent.id).where(Agent.user_id == agent_user.id))
    method = client.put if "assignments" in path else client.post

    response = method(
        path.format(agent_id=agent_id), json=body, headers={**admin.headers, "If-Match": "*"}
    )

    problem = assert_problem(response, 422)
    assert field in problem["errors"]["json"], problem["errors"]
