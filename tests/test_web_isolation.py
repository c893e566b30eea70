"""The isolation matrix of the web app: a person of firm B reaches no page of firm A, on any
route that names a firm, whatever else it names; each is the same 404 as a firm that does not
exist, and shows nothing of A.

Routes come from the URL map, so a page added later is covered without anyone remembering to
add it here; a new path parameter fails the test until it is mapped in tests/test_isolation.py.
"""

from __future__ import annotations

import re

import pytest

from app.campaigns import lists, register
from app.campaigns import service as campaigns_service
from app.campaigns.schemas import CampaignCreateSchema
from app.db import db
from tenants import service as tenants_service
from tenants.scoping import tenant_scope
from tests.campaign_helpers import campaign_in
from tests.test_isolation import _firm
from tests.web_helpers import csrf_of, sign_in

_PARAM = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
# Path parameters that are not objects: a value any firm could ask for.
PLAIN = {"month": "2025-01", "move": "suspend", "action": "answer"}


def web_firm_routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every web route that takes a tenant_id."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != "web" or "tenant_id" not in rule.arguments:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


def _with_campaign(app, firm):
    """The firm's campaign with a loaded record, and an entry of its do-not-contact register:
    the objects the campaign pages name (tests/test_isolation.py's firms have none yet)."""
    tag = firm.tenant.slug
    with app.app_context(), tenant_scope(firm.tenant.id):
        body = campaign_in(firm.objects["queue_id"], name=f"{tag} campaign")
        loaded = CampaignCreateSchema().load(body)
        campaign = campaigns_service.create_campaign(
            campaign_in=loaded, actor=tenants_service.SYSTEM
        )
        lists.load(
            campaign=campaign,
            name=f"{tag} list",
            rows=[
                (
                    2,
                    {
                        "name": f"{tag} customer",
                        "phone": "+34 600 123 456",
                        "time_zone": "Europe/Madrid",
                    },
                )
            ],
            actor=tenants_service.SYSTEM,
        )
        entry = register.add(
            kind="email",
            value=f"dnc@{tag}.test",
            reason=f"{tag} reason",
            actor=tenants_service.SYSTEM,
            tenant_id=firm.tenant.id,
        )
        db.session.commit()
        firm.objects |= {"campaign_id": campaign.id, "entry_id": entry.id}
        firm.secrets |= {
            str(campaign.id),
            campaign.name,
            f"{tag} list",
            f"{tag} customer",
            str(entry.id),
            entry.value,
            entry.reason,
        }
    return firm


@pytest.fixture
def firms(app, factory):
    return tuple(_with_campaign(app, _firm(app, factory, label)) for label in ("a", "b"))


def _path(rule: str, firm) -> str:
    return _PARAM.sub(lambda m: str(PLAIN.get(m.group(1)) or firm.param(m.group(1))), rule)


def test_a_person_of_firm_b_gets_404_on_every_page_of_firm_a(app, factory, firms):
    a, b = firms
    routes = web_firm_routes(app)
    assert ("GET", "/firms/<uuid:tenant_id>/dashboard") in routes
    assert ("POST", "/console/firms/<uuid:tenant_id>/exports") in routes
    client_admin = sign_in(app, factory.user("client_admin", b.tenant).email)
    supervisor = sign_in(app, factory.user("supervisor", b.tenant).email)
    tokens = {
        client_admin: csrf_of(client_admin.get(f"/firms/{b.tenant.id}/settings")),
        supervisor: csrf_of(supervisor.get("/console/", follow_redirects=True)),
    }
    leaks = []
    for method, rule in routes:
        # The console is the BPO's: a supervisor of B tries A's console pages.
        caller = supervisor if rule.startswith("/console/") else client_admin
        path = _path(rule, a)
        if method == "GET":
            answer = caller.get(path)
        else:
            answer = caller.post(path, data={"csrf_token": tokens[caller], "name": "Intruder"})
        body = answer.get_data(as_text=True)
        # The address typed comes back in the page's own links (the language form's `next`).
        seen = {secret for secret in a.secrets if secret in body and secret not in path}
        if answer.status_code != 404 or seen:
            leaks.append((method, rule, answer.status_code, sorted(seen)))
    assert not leaks, leaks


# A firm's pages of the BPO's own work: setting scorecards up, deciding disputes.
STAFF_PAGES = (
    "/firms/<uuid:tenant_id>/quality/scorecards/",
    "/firms/<uuid:tenant_id>/quality/disputes",
)


def test_the_same_pages_open_for_firm_as_own_people(app, factory, firms):
    """The matrix above is not a 404 for everyone: B's admin opens B's own pages."""
    _a, b = firms
    client_admin = sign_in(app, factory.user("client_admin", b.tenant).email)
    supervisor = sign_in(app, factory.user("supervisor", b.tenant).email)
    for method, rule in web_firm_routes(app):
        # The console is the BPO's and the desk an agent's (tests/test_web_desk.py opens it).
        if method != "GET" or rule.startswith(("/console/", "/desk/")) or "<month>" in rule:
            continue
        # The BPO's own work on the firm's pages is opened by the firm's supervisor.
        opener = supervisor if rule.startswith(STAFF_PAGES) else client_admin
        answer = opener.get(_path(rule, b))
        assert answer.status_code in (200, 302), (rule, answer.status_code)
