"""Stories of the supervisor's wallboard in the browser: the firms it oversees and nothing else,
its fragments refreshing themselves, a contact reassigned from the list, and TV mode."""

from __future__ import annotations

import re

import pytest

from app.contacts.models import Contact
from app.db import db
from tenants.scoping import tenant_scope
from tests.test_wallboard_api import a_floor, park_with_bruno
from tests.web_helpers import csrf_of, sign_in

HTMX = {"HX-Request": "true"}
PARTS = ("/console/wallboard", "/console/wallboard/urgent", "/console/wallboard/tv")


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    return response.get_data(as_text=True)


def _agent_of(app, tenant, contact_id):
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.get(Contact, contact_id).agent_id


def test_a_supervisor_sees_only_the_firms_it_oversees_in_the_page_and_every_fragment(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)

    pages = [_text(web.get(path)) for path in PARTS]
    fragments = [_text(web.get(path, headers=HTMX)) for path in PARTS]
    asked_for_b = _text(web.get(f"/console/wallboard?firm={floor.b.id}"))

    page = pages[0]
    assert "Acme Wall" in page and "Line" in page
    assert "Ana Wall" in page and "Dario Wall" in page
    # Today's service level against the firm's target, and the waiting contacts.
    assert "33.3%" in page and "80%" in page
    assert f"/firms/{floor.a.id}/contacts/{floor.held_by_ana}" in page
    assert 'data-due="' in page and 'data-live-stream="/live"' in page
    for shown in pages + fragments:
        for secret in ("Beta Wall", "Other B line", "Carla Wall", str(floor.b.id)):
            assert secret not in shown
        assert str(floor.held_by_dario_in_b) not in shown
    assert "Acme Wall" not in asked_for_b and "Beta Wall" not in asked_for_b


def test_the_fragments_refresh_on_live_events_and_every_30_seconds(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)

    floor_part = _text(web.get("/console/wallboard", headers=HTMX))
    urgent = _text(web.get("/console/wallboard/urgent", headers=HTMX))

    trigger = (
        'hx-trigger="live-contact from:body throttle:1s, live-agent from:body throttle:1s, '
        'every 30s"'
    )
    assert floor_part.lstrip().startswith("<div") and "<html" not in floor_part
    assert 'id="wallboard-floor"' in floor_part and trigger in floor_part
    assert 'id="wallboard-urgent"' in urgent and trigger in urgent
    assert "<html" not in urgent


def test_the_bpo_admin_sees_every_firm_and_what_each_agent_works_on(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("bpo_admin").email)

    page = _text(web.get("/console/wallboard"))

    assert "Acme Wall" in page and "Beta Wall" in page and "Carla Wall" in page
    assert f"/firms/{floor.b.id}/contacts/{floor.held_by_dario_in_b}" in page


@pytest.mark.parametrize("role", ["agent", "client_admin", "client_viewer"])
def test_agents_and_the_firms_people_are_refused_the_wallboard(app, factory, role):
    floor = a_floor(app, factory)
    user = factory.user(role, None if role == "agent" else floor.a)
    web = sign_in(app, user.email)

    for path in PARTS:
        refused = web.get(path)
        assert refused.status_code == 403, path
        assert "Acme Wall" not in refused.get_data(as_text=True)


def test_a_supervisor_reassigns_a_contact_to_another_agent_of_its_queue(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")
    url = f"/console/wallboard/{floor.a.id}/contacts/{floor.held_by_ana}/reassign"
    assert f'action="{url}"' in _text(page)

    done = web.post(
        url, data={"target": f"agent:{floor.bruno}", "csrf_token": csrf_of(page)}, headers=HTMX
    )

    fragment = _text(done)
    assert _agent_of(app, floor.a, floor.held_by_ana) == floor.bruno
    row = re.search(
        rf"<tr[^>]*>(?:(?!</tr>).)*{floor.held_by_ana}(?:(?!</tr>).)*</tr>", fragment, re.S
    )
    assert row and "Bruno Wall" in row.group(0)


def test_a_contact_moves_to_another_queue_of_its_firm_without_javascript(app, factory):
    floor = a_floor(app, factory)
    from tests.test_reports_sla import queue_of

    second = queue_of(app, floor.a, "Second line")
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")
    waiting = floor.waiting[0].id

    moved = web.post(
        f"/console/wallboard/{floor.a.id}/contacts/{waiting}/reassign",
        data={"target": f"queue:{second}", "csrf_token": csrf_of(page)},
    )

    assert moved.status_code == 302
    with app.app_context(), tenant_scope(floor.a.id):
        assert db.session.get(Contact, waiting).queue_id == second


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "Choose an agent or a queue."),
        ("carla", "Choose an agent or a queue."),
        # Carla serves only B's queue.
        ("agent:{carla}", "Not an active agent assigned to the contact"),
    ],
)
def test_a_bad_reassignment_shows_its_error_beside_the_field(app, factory, target, message):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")
    contact_id = floor.held_by_ana

    refused = web.post(
        f"/console/wallboard/{floor.a.id}/contacts/{contact_id}/reassign",
        data={"target": target.format(carla=floor.carla), "csrf_token": csrf_of(page)},
        headers=HTMX,
    )

    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert re.search(
        rf'id="f-target-{contact_id}"[^>]*aria-invalid="true"[^>]*aria-describedby="e-target-{contact_id}"',
        text,
    )
    error = re.search(rf'<p class="error" id="e-target-{contact_id}">([^<]*)</p>', text)
    assert error and message in error.group(1).replace("&#39;", "'")
    assert _agent_of(app, floor.a, contact_id) == floor.ana
    assert "Beta Wall" not in text


def test_an_active_contact_cannot_go_to_another_agent_and_the_page_says_why(app, factory):
    floor = a_floor(app, factory)
    with app.app_context(), tenant_scope(floor.a.id):
        db.session.get(Contact, floor.held_by_ana).status = "active"
        db.session.commit()
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")

    refused = web.post(
        f"/console/wallboard/{floor.a.id}/contacts/{floor.held_by_ana}/reassign",
        data={"target": f"agent:{floor.bruno}", "csrf_token": csrf_of(page)},
    )

    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert f'id="e-target-{floor.held_by_ana}"' in text and "transfer it to a queue" in text
    assert _agent_of(app, floor.a, floor.held_by_ana) == floor.ana


def test_a_supervisor_cannot_reassign_a_contact_of_a_firm_it_does_not_oversee(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")

    refused = web.post(
        f"/console/wallboard/{floor.b.id}/contacts/{floor.held_by_dario_in_b}/reassign",
        data={"target": f"agent:{floor.carla}", "csrf_token": csrf_of(page)},
    )

    assert refused.status_code == 404
    assert _agent_of(app, floor.b, floor.held_by_dario_in_b) == floor.dario


def test_tv_mode_is_full_screen_large_and_rotates_through_the_firms(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("bpo_admin").email)

    tv = _text(web.get("/console/wallboard/tv?rotate=20"))
    fragment = _text(web.get("/console/wallboard/tv?rotate=20", headers=HTMX))

    assert 'class="tv"' in tv and "data-fullscreen" in tv and 'data-rotate="20"' in tv
    assert 'class="mainnav"' not in tv and "wallboard.js" in tv
    assert tv.count("data-tv-firm=") == 2
    assert f'data-tv-firm="{floor.a.id}"' in fragment and "<html" not in fragment
    assert "rotate=20" in fragment  # its refresh keeps the rotation asked for
    assert 'class="tv"' in _text(web.get("/console/wallboard?tv=1"))


def test_the_wallboard_speaks_spanish(app, factory):
    floor = a_floor(app, factory)
    web = sign_in(app, factory.user("supervisor", floor.a).email)
    page = web.get("/console/wallboard")
    web.post("/language", data={"language": "es", "csrf_token": csrf_of(page), "next": "/"})

    text = _text(web.get("/console/wallboard"))

    assert "En riesgo e incumplidos" in text and "Nivel de servicio hoy" in text


def test_an_agent_holding_more_than_the_board_lists_shows_how_many_more(app, factory):
    floor = a_floor(app, factory)
    park_with_bruno(app, floor, 13)
    web = sign_in(app, factory.user("supervisor", floor.a).email)

    page = _text(web.get("/console/wallboard"))

    assert "and 3 more" in page
