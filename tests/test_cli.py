"""The command line: `flask --app wsgi users|api-clients|demo|db ...`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import db
from tenants.models import ApiClient, Membership, Tenant, User
from tenants.scoping import unscoped

PASSWORD = "a long enough password"


def _user(app, email: str) -> tuple[User | None, list[tuple[str, object]]]:
    """The user with this email and their (role, tenant_id) memberships."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            return None, []
        # Memberships of BPO staff belong to no tenant: read them all.
        with unscoped():
            roles = [
                (m.role, m.tenant_id)
                for m in db.session.scalars(select(Membership).where(Membership.user_id == user.id))
            ]
        return user, roles


def _counts(app) -> dict[str, int]:
    with app.app_context():
        # Counting the whole database, across tenants.
        with unscoped():
            return {
                model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Tenant, User, Membership, ApiClient)
            }


def _token_response(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )


def test_an_operator_creates_a_bpo_admin_with_a_password_from_stdin(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "Boss@BPO.example",
            "--role",
            "bpo_admin",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert "created bpo_admin" in result.output
    user, roles = _user(app, "boss@bpo.example")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert roles == [("bpo_admin", None)]


def test_an_operator_creates_a_client_admin_on_a_firm(app, runner, factory):
    tenant = factory.tenant()

    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "ca@firm.example",
            "--role",
            "client_admin",
            "--tenant",
            tenant.slug,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert _user(app, "ca@firm.example")[1] == [("client_admin", tenant.id)]


def test_a_client_role_without_a_tenant_is_a_usage_error(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "ca@firm.example",
            "--role",
            "client_admin",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 2
    assert "--tenant is required" in result.output
    assert _user(app, "ca@firm.example")[0] is None


def test_a_bpo_role_with_a_tenant_or_an_unknown_tenant_is_a_usage_error(app, runner, factory):
    tenant = factory.tenant()

    with_tenant = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@bpo.example",
            "--role",
            "bpo_admin",
            "--tenant",
            tenant.slug,
        ]
    )
    unknown = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "b@firm.example",
            "--role",
            "client_viewer",
            "--tenant",
            "no-such-firm",
        ]
    )

    assert with_tenant.exit_code == 2 and "drop --tenant" in with_tenant.output
    assert unknown.exit_code == 2 and "no-such-firm" in unknown.output
    assert _counts(app)["User"] == 0


def test_a_short_password_or_a_taken_email_is_refused(app, runner, factory):
    factory.user("agent", email="taken@bpo.example", password=None)

    short = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "new@bpo.example",
            "--role",
            "agent",
            "--password-stdin",
        ],
        input="short\n",
    )
    taken = runner.invoke(
        args=["users", "create", "--email", "taken@bpo.example", "--role", "agent"],
    )

    assert short.exit_code == 2
    assert _user(app, "new@bpo.example")[0] is None
    assert taken.exit_code == 1
    assert "already exists" in taken.output


def test_an_api_client_created_for_a_user_obtains_a_token(app, runner, client, factory):
    user = factory.user("bpo_admin", email="boss@bpo.example", password=None)

    result = runner.invoke(
        args=[
            "api-clients",
            "create",
            "--user",
            "boss@bpo.example",
            "--scope",
            "tenants:read tenants:admin",
            "--json",
        ]
    )

    assert result.exit_code == 0, result.output
    credentials = json.loads(result.output)
    assert set(credentials) == {"client_id", "client_secret"}
    response = _token_response(client, credentials["client_id"], credentials["client_secret"])
    assert response.status_code == 200, response.get_json()
    token = response.get_json()
    assert set(token["scope"].split()) == {"tenants:read", "tenants:admin"}
    listed = client.get("/v1/tenants", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listed.status_code == 200
    record = factory.api_client_record(credentials["client_id"])
    assert record.user_id == user.id
    assert record.client_secret_hash != credentials["client_secret"]


def test_an_api_client_cannot_get_scopes_beyond_its_users_role(app, runner, factory):
    factory.user("client_viewer", factory.tenant(), email="viewer@firm.example", password=None)

    result = runner.invoke(
        args=[
            "api-clients",
            "create",
            "--user",
            "viewer@firm.example",
            "--scope",
            "tenants:admin",
            "--json",
        ]
    )

    assert result.exit_code == 2
    assert "tenants:admin" in result.output
    assert _counts(app)["ApiClient"] == 0


def test_an_api_client_for_an_unknown_user_is_a_usage_error(runner):
    result = runner.invoke(args=["api-clients", "create", "--user", "ghost@example.test"])

    assert result.exit_code == 2
    assert "ghost@example.test" in result.output


@pytest.fixture
def demo_credentials(app):
    """The file `demo seed` keeps its credentials in; removed after the test."""
    path = Path(app.instance_path) / "demo-credentials.json"
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def test_demo_seed_creates_the_demo_and_is_idempotent(app, runner, client, demo_credentials):
    first = runner.invoke(args=["demo", "seed"])

    assert first.exit_code == 0, first.output
    counts = _counts(app)
    # Two firms; the BPO admin, one client admin per firm, two agents and a supervisor (who
    # holds one membership per firm); an integration per firm plus the docs' public client.
    assert counts == {"Tenant": 2, "User": 6, "Membership": 7, "ApiClient": 3}
    assert _user(app, "admin@bpo.example")[1] == [("bpo_admin", None)]
    for slug in ("acme-retail", "globex-telecom"):
        assert [r for r, _ in _user(app, f"admin@{slug}.example")[1]] == ["client_admin"]
    assert _user(app, "lucia@bpo.example")[1] == [("agent", None)]
    assert sorted(r for r, _ in _user(app, "supervisor@bpo.example")[1]) == ["supervisor"] * 2
    credentials = json.loads(demo_credentials.read_text())
    assert set(credentials) == {"acme-retail", "globex-telecom"}
    for firm in credentials.values():
        assert f"client_id {firm['client_id']} client_secret {firm['client_secret']}" in (
            first.output
        )
        token = _token_response(client, firm["client_id"], firm["client_secret"])
        assert token.status_code == 200, token.get_json()
        assert token.get_json()["access_token"]

    second = runner.invoke(args=["demo", "seed"])

    assert second.exit_code == 0, second.output
    assert _counts(app) == counts
    assert second.output == first.output


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
        ["users", "create"],
        ["api-clients", "create"],
        ["demo", "seed"],
    ],
    ids=" ".join,
)
def test_every_command_explains_itself_with_help(runner, command):
    result = runner.invoke(args=[*command, "--help"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert command[-1] in result.output.splitlines()[0]
    # A one-line description follows the usage line.
    assert result.output.splitlines()[2].strip()


def test_users_create_help_lists_its_options(runner):
    result = runner.invoke(args=["users", "create", "--help"])

    for option in ("--email", "--role", "--tenant", "--password-stdin"):
        assert option in result.output
    assert "client_admin" in result.output


def test_the_demo_firms_are_fully_onboarded_and_staffed(app, runner, client, demo_credentials):
    assert runner.invoke(args=["demo", "seed"]).exit_code == 0
    credentials = json.loads(demo_credentials.read_text())
    acme = credentials["acme-retail"]["tenant_id"]
    token = _token_response(
        client, credentials["acme-retail"]["client_id"], credentials["acme-retail"]["client_secret"]
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    queues = client.get(f"/v1/tenants/{acme}/queues", headers=headers)
    calendar = client.get(f"/v1/tenants/{acme}/calendar", headers=headers)

    assert queues.status_code == 200, queues.get_json()
    assert {q["name"] for q in queues.get_json()} == {"Atención al cliente", "Reclamaciones"}
    assert calendar.status_code == 200, calendar.get_json()
    assert calendar.get_json()["holiday_subdivision"] == "MD"
    assert calendar.get_json()["weekly_hours"]["mon"] == [
        {"start": "09:00", "end": "14:00"},
        {"start": "16:00", "end": "19:00"},
    ]
