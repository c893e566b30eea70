"""The isolation matrix of the web app: a person of firm B reaches no page of firm A, on any
route that names a firm, whatever else it names; each is the same 404 as a firm that does not
exist, and shows nothing of A.

Routes come from the URL map, so a page added later is covered without anyone remembering to
add it here; a new path parameter fails the test until it is mapped in tests/test_isolation.py.
"""

from __future__ import annotations

import re

import pytest

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


@pytest.fixture
def firms(app, factory):
    return _firm(app, factory, "a"), _firm(app, factory, "b")


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
