"""schemathesis over every operation of /openapi.json, as every role, against a seeded firm.

Each role gets its own firm (one object of every kind, from the isolation matrix's `_firm`) and
a valid token; every operation is called with generated data, sometimes naming the firm's real
objects so that deep routes get past the 404. Every answer must be: not a 5xx, a status the
operation lists explicitly (the catch-all `default` does not count), of a documented content
type, and a body that matches its documented schema.

More examples: SCHEMATHESIS_MAX_EXAMPLES=200 pytest tests/test_schemathesis.py
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from app.agents.models import Agent
from app.db import db
from tenants.scoping import unscoped
from tests.test_isolation import Firm, _agent_of, _firm

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
ROLES = ("bpo_admin", "supervisor", "agent", "client_admin", "client_viewer", "integration")
# Operations that change the firm's standing or remove its objects run last, so the rest
# are exercised against a live firm with all its objects.
_LAST = re.compile(r"/(suspend|offboard|activate)$")
# Operations that must answer 2xx at least once per role: proof that the tokens and the
# seeded objects work, so the checks above are not passed by a run of 401s and 404s.
MIN_SUCCEEDED = {
    "bpo_admin": 65,
    "supervisor": 25,
    "agent": 15,
    "client_admin": 45,
    "client_viewer": 18,
    "integration": 18,
}


@schemathesis.check
def status_code_is_listed(ctx, response, case):
    """Stricter than status_code_conformance: `default` documents nothing in particular."""
    listed = {code for code in case.operation.responses.status_codes if code != "default"}
    if str(response.status_code) not in listed:
        raise AssertionError(
            f"{response.status_code} is not among the documented {sorted(listed)} "
            f"(detail: {_detail(response)})"
        )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    status_code_is_listed,
    content_type_conformance,
    response_schema_conformance,
]


def _detail(response) -> str:
    try:
        return str(response.json().get("detail"))
    except Exception:
        return response.text[:200]


def _objects(firm: Firm, agent_id, supervisor_id) -> dict[str, str]:
    values = {
        "tenant_id": firm.tenant.id,
        "user_id": firm.user.id,
        "supervisor_user_id": supervisor_id,
        "api_client_id": firm.api_client.id,
        "agent_id": agent_id,
        "period": "2024-12",
        **firm.objects,
    }
    return {k: str(v) for k, v in values.items()}


def _order(operation) -> tuple[int, str]:
    if _LAST.search(operation.path):
        return 2, operation.label
    return (1 if operation.method.upper() == "DELETE" else 0), operation.label


def _strategy(operation, objects: dict[str, str]):
    names = {p.name for p in operation.path_parameters}
    if operation.path.startswith("/v1/supervisors/"):
        objects = {**objects, "user_id": objects["supervisor_user_id"]}
    real = {k: v for k, v in objects.items() if k in names}
    tenant_only = {k: v for k, v in real.items() if k == "tenant_id"}
    options = [
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real),
    ]
    if real != tenant_only:
        options.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=tenant_only))
    return st.one_of(options)


def _exercise(operation, objects, headers, statuses: set[int]) -> str | None:
    """Run the operation's examples, noting the statuses; the first failure's report, or None."""
    found: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, objects))
    def run(case):
        if found:
            return
        response = case.call(headers=headers)
        statuses.add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as failure:
            found.append(str(failure))
        except AssertionError as failure:
            found.append(f"{failure}\n{case.as_curl_command(headers=headers)}")

    try:
        run()
    except Exception as error:  # e.g. a schema nothing satisfies: report it with the rest
        found.append(f"{type(error).__name__}: {str(error)[:2000]}")
    return found[0] if found else None


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_its_documented_contract(app, factory, monkeypatch, role):
    # Configured, so that the Stripe webhook checks signatures rather than answering 503.
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "whsec_schemathesis")
    # Event streams end at once (after what the log holds, with `bye`): a call reads the whole
    # answer, which a stream would otherwise keep open for minutes.
    monkeypatch.setitem(app.config, "LIVE_MAX_STREAM_SECONDS", 0)
    firm = _firm(app, factory, "st")
    # An agent assigned to the firm (the agent role's caller) and a supervisor of it, so that
    # /v1/agents/{agent_id} and /v1/supervisors/{user_id} have real objects to name.
    agent = _agent_of(app, factory, firm)
    supervisor = factory.user("supervisor", firm.tenant)
    if role == "agent":
        caller = agent
    else:
        caller = factory.caller(role, None if role == "bpo_admin" else firm.tenant)
    with app.app_context(), unscoped():
        agent_id = db.session.scalar(select(Agent.id).where(Agent.user_id == agent.user_id))
    objects = _objects(firm, agent_id, supervisor.id)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=_order)
    assert len(operations) > 90, "the spec lost operations"

    failures, answered = {}, {}
    for operation in operations:
        answered[operation.label] = set()
        report = _exercise(operation, objects, caller.headers, answered[operation.label])
        if report:
            failures[operation.label] = report
    succeeded = [label for label, codes in answered.items() if any(c < 300 for c in codes)]
    # The tokens and the seeded firm work: the run is not 401s and 404s throughout.
    assert len(succeeded) >= MIN_SUCCEEDED[role], (role, len(succeeded), answered)
    assert not failures, f"{len(failures)} operations broke their contract as {role}:\n\n" + (
        "\n\n".join(f"== {label}\n{report}" for label, report in failures.items())
    )
