"""The end customer's rights in the portal: a firm's client admin names one end customer and
downloads everything held about them, or erases their personal data after ticking the box that
says it cannot be undone; errors beside their field; nobody else gets the page."""

from __future__ import annotations

import json

from app.contacts.models import Contact
from app.db import db
from tenants.scoping import tenant_scope
from tests.test_data_rights import ANA, firm  # noqa: F401
from tests.test_reports_sla import queue_of
from tests.web_helpers import csrf_of, sign_in


def test_a_client_admin_downloads_what_is_held_about_one_end_customer(app, factory, firm):  # noqa: F811
    admin = sign_in(app, factory.user("client_admin", firm.tenant).email)
    page = admin.get(f"/firms/{firm.tenant.id}/customers")
    assert page.status_code == 200

    download = admin.post(
        f"/firms/{firm.tenant.id}/customers/export",
        data={"kind": "email", "value": ANA.upper(), "csrf_token": csrf_of(page)},
    )

    assert download.status_code == 200
    assert download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    body = json.loads(download.get_data(as_text=True))
    assert body["counts"]["contacts"] == len(firm.ana)
    assert {c["customer_email"] for c in body["contacts"]} == {ANA}


def test_erasing_needs_the_box_ticked_and_then_wipes_the_customer(app, factory, firm):  # noqa: F811
    admin = sign_in(app, factory.user("client_admin", firm.tenant).email)
    page = admin.get(f"/firms/{firm.tenant.id}/customers")
    form = {"kind": "email", "value": ANA, "csrf_token": csrf_of(page)}

    unticked = admin.post(f"/firms/{firm.tenant.id}/customers/erase", data=form)
    assert unticked.status_code == 422
    assert 'id="e-confirm"' in unticked.get_data(as_text=True)
    with app.app_context(), tenant_scope(firm.tenant.id):
        assert db.session.get(Contact, firm.ana[0]).customer_email == ANA

    erased = admin.post(f"/firms/{firm.tenant.id}/customers/erase", data={**form, "confirm": "yes"})

    assert erased.status_code == 302
    shown = admin.get(erased.headers["Location"]).get_data(as_text=True)
    assert f"{len(firm.ana)}" in shown
    with app.app_context(), tenant_scope(firm.tenant.id):
        assert db.session.get(Contact, firm.ana[0]).customer_email is None


def test_a_bad_identifier_shows_beside_its_field_and_erases_nothing(app, factory, firm):  # noqa: F811
    admin = sign_in(app, factory.user("client_admin", firm.tenant).email)
    page = admin.get(f"/firms/{firm.tenant.id}/customers")

    answer = admin.post(
        f"/firms/{firm.tenant.id}/customers/erase",
        data={
            "kind": "email",
            "value": "not-an-address",
            "confirm": "yes",
            "csrf_token": csrf_of(page),
        },
    )

    assert answer.status_code == 422
    assert 'id="e-value"' in answer.get_data(as_text=True)
    with app.app_context(), tenant_scope(firm.tenant.id):
        assert db.session.get(Contact, firm.ana[0]).customer_email == ANA


def test_the_firms_viewers_have_no_such_page(app, factory, firm):  # noqa: F811
    person = sign_in(app, factory.user("client_viewer", firm.tenant).email)

    assert person.get(f"/firms/{firm.tenant.id}/customers").status_code in (403, 404)


def test_another_firms_client_admin_cannot_reach_this_firms_customers(app, factory, firm):  # noqa: F811
    other = factory.tenant()
    queue_of(app, other)
    intruder = sign_in(app, factory.user("client_admin", other).email)

    assert intruder.get(f"/firms/{firm.tenant.id}/customers").status_code == 404
