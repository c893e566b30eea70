"""/openapi.json describes what the API answers, nulls included: the check every test runs
(tests/openapi_validation.py), and a typed client generated from the document reading real
answers full of nulls.

Every other test file proves the document right for the answers it receives; these tests prove
the checker itself strict, and pin the answers a generated client crashed on.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from tests import openapi_validation
from tests.test_contacts_intake import contact_in, contacts_url, queue_of

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/v1/things/{thing_id}": {
            "get": {
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "204": {"description": "Nothing"},
                    "default": {"$ref": "#/components/responses/DEFAULT_ERROR"},
                }
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "state": {
                        "anyOf": [{"type": "string", "enum": ["ok", "late"]}, {"type": "null"}]
                    },
                },
            },
            "Problem": {"type": "object", "properties": {"status": {"type": "integer"}}},
        },
        "responses": {
            "DEFAULT_ERROR": {
                "description": "Any other error",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        },
    },
}


def problems(status=200, mimetype="application/json", body=None, method="get"):
    checker = openapi_validation.ResponseValidator(DOCUMENT)
    raw = json.dumps(body).encode() if body is not None else b""
    return list(
        checker.check(
            method=method, path="/v1/things/{thing_id}", status=status, mimetype=mimetype, body=raw
        )
    )


def test_an_answer_the_document_describes_passes_nulls_included():
    assert problems(body={"name": "a", "state": None}) == []
    assert problems(body={"name": "a", "state": "late"}) == []
    assert problems(status=204) == []


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ({"body": {"name": None}}, "name: null is not of type"),
        ({"body": {"state": "lost"}}, "state"),
        ({"body": {"name": "a", "colour": "red"}}, "colour"),
        ({"body": {"status": 404}, "status": 404, "mimetype": "application/problem+json"}, "404"),
        ({"body": {"name": "a"}, "mimetype": "text/html"}, "text/html is not documented"),
        ({"body": {}, "method": "delete"}, "not in /openapi.json"),
    ],
    ids=[
        "undeclared-null",
        "value-outside-the-enum",
        "undocumented-property",
        "status-only-under-default",
        "undocumented-content-type",
        "undocumented-operation",
    ],
)
def test_an_answer_the_document_does_not_describe_is_reported(answer, complaint):
    found = problems(**answer)
    assert found, "the checker let through an answer the document does not describe"
    assert complaint in "\n".join(found)


def test_each_route_of_the_app_is_in_the_document_or_named_as_outside_it(app):
    """A route added outside /v1 must be either documented or listed as outside the API, so
    that the check does not skip it silently."""
    with app.app_context():
        document = json.loads(openapi_validation.served_document(app))
    for rule in app.url_map.iter_rules():
        template = openapi_validation.path_template(rule.rule)
        if template.startswith(openapi_validation.NON_API_PREFIXES):
            continue
        if rule.endpoint.split(".")[0] == "web":
            continue  # the web app's pages and assets (app/web): HTML, not the API
        assert template in document["paths"], rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][template], (method, rule.rule)


# --- the answers a generated client crashed on ---------------------------------------------


def a_contact_with_nothing_optional(app, client, factory):
    """A firm without SLA policy and an email with no customer details, outcome or agent:
    nulls in every nullable field of the contact, and in the SLA report's."""
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    body = contact_in(language=None, customer={})
    created = client.post(contacts_url(tenant), json=body, headers=integration.headers)
    assert created.status_code == 201, created.get_json()
    return tenant, integration, created.get_json()


def nulls_of(item: dict) -> set[str]:
    return {name for name, value in item.items() if value is None}


def test_the_contact_its_list_and_the_sla_report_match_the_document_nulls_included(
    app, client, factory
):
    tenant, caller, contact = a_contact_with_nothing_optional(app, client, factory)
    one = client.get(contacts_url(tenant, contact["id"]), headers=caller.headers)
    listed = client.get(contacts_url(tenant), headers=caller.headers)
    report = client.get(f"/v1/tenants/{tenant.id}/reports/sla", headers=caller.headers)

    # The enums that a typed client refused as null, among the rest.
    assert {"outcome", "sla_state", "language", "agent_id"} <= nulls_of(one.get_json())
    assert {"outcome", "sla_state"} <= nulls_of(listed.get_json()[0])
    assert "group_by" in nulls_of(report.get_json())
    for response in (one, listed, report):
        assert openapi_validation.problems_of(app, response) == []


def test_a_typed_client_generated_from_the_document_reads_those_answers(
    app, client, factory, tmp_path
):
    """openapi-python-client, a standard generator, writes a client from the served document;
    its models parse the real answers of a contact, the contacts list and the SLA report."""
    document = tmp_path / "openapi.json"
    document.write_text(client.get("/openapi.json").get_data(as_text=True))
    config = tmp_path / "config.yml"
    config.write_text("post_hooks: []\npackage_name_override: switchboard_client\n")
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
    command += ["--path", str(document), "--config", str(config)]
    command += ["--output-path", str(tmp_path / "switchboard_client")]
    generated = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr

    tenant, caller, contact = a_contact_with_nothing_optional(app, client, factory)
    sys.path.insert(0, str(tmp_path))
    try:
        models = importlib.import_module("switchboard_client.models")
        one = client.get(contacts_url(tenant, contact["id"]), headers=caller.headers)
        listed = client.get(contacts_url(tenant), headers=caller.headers)
        report = client.get(f"/v1/tenants/{tenant.id}/reports/sla", headers=caller.headers)

        parsed = models.Contact.from_dict(one.get_json())
        assert parsed.outcome is None and parsed.sla_state is None
        assert [models.Contact.from_dict(c).id for c in listed.get_json()] == [parsed.id]
        sla = models.SlaReport.from_dict(report.get_json())
        assert sla.group_by is None
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "switchboard_client"]:
            del sys.modules[name]
