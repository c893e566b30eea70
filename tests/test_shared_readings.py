"""Stories of shared readings (app.readings): supervisors watching the same firms share one
wallboard and one at-risk total; nobody is ever shown a reading of firms they do not watch; a
reading past its freshness is answered at once and renewed behind it, and the page asks for
the renewed one once."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from app.contacts import service as contacts_service
from app.db import db
from app.readings import SharedReadings
from tenants.scoping import tenant_scope
from tenants.service import SYSTEM
from tests.test_wallboard_api import a_floor, at, board
from tests.web_helpers import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def sharing(app, monkeypatch):
    """Sharing on, fresh for a minute, on readings of this story's own."""
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 60.0)
    monkeypatch.setitem(app.config, "SHARED_READ_STALE_SECONDS", 60.0)
    shared = SharedReadings(app)
    monkeypatch.setitem(app.extensions, "shared_readings", shared)
    yield shared
    shared.settle()


def abandon(app, firm, contact_id) -> None:
    with app.app_context(), tenant_scope(firm.id):
        waiting = contacts_service.get(contact_id=contact_id, for_update=True)
        contacts_service.act(
            contact=waiting, action="abandon", action_in={}, tenant=firm, actor=SYSTEM
        )
        db.session.commit()


def waiting_in_line(body: dict) -> int:
    [line] = body["tenants"][0]["queues"]
    return line["waiting"]


def test_two_supervisors_of_a_firm_share_one_wallboard_until_a_newer_is_read(
    app, client, factory, sharing, monkeypatch
):
    floor = a_floor(app, factory)
    first, second = (factory.caller("supervisor", floor.a) for _ in range(2))

    before = board(client, first)
    abandon(app, floor.a, floor.waiting[1].id)
    shared = board(client, second)

    # The second supervisor is answered the reading the first one caused, hung-up call and all.
    assert shared["generated_at"] == before["generated_at"]
    assert waiting_in_line(shared) == waiting_in_line(before) == 2

    # Past its freshness the reading is still answered at once, while a newer one is read.
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    stale = board(client, first)
    sharing.settle()
    renewed = board(client, second)

    assert stale["generated_at"] == before["generated_at"]
    assert at(renewed["generated_at"]) > at(before["generated_at"])
    assert waiting_in_line(renewed) == 1


def test_supervisors_of_the_same_firms_are_answered_one_rendering_of_the_board(
    app, client, factory, sharing, monkeypatch
):
    from app.wallboard import routes as wallboard_routes

    floor = a_floor(app, factory)
    rendered: list[int] = []
    original = wallboard_routes._as_json

    def counted(snapshot: dict) -> bytes:
        rendered.append(1)
        return original(snapshot)

    monkeypatch.setattr(wallboard_routes, "_as_json", counted)
    first, second = (factory.caller("supervisor", floor.a) for _ in range(2))
    admin = factory.caller("bpo_admin")

    answers = [client.get("/v1/wallboard", headers=c.headers) for c in (first, second, first)]
    everything = board(client, admin)

    # One JSON of A's board for its supervisors, byte for byte; the BPO admin's is its own.
    assert len({answer.get_data() for answer in answers}) == 1
    assert rendered == [1, 1]
    assert answers[0].get_json()["tenants"][0]["name"] == "Acme Wall"
    assert answers[0].mimetype == "application/json"
    assert {t["name"] for t in everything["tenants"]} >= {"Acme Wall", "Beta Wall"}

    # Past its freshness, the rendering is renewed from a snapshot read anew, not the old one.
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    abandon(app, floor.a, floor.waiting[1].id)
    client.get("/v1/wallboard", headers=first.headers)
    sharing.settle()
    renewed = board(client, second)
    assert at(renewed["generated_at"]) > at(answers[0].get_json()["generated_at"])
    assert waiting_in_line(renewed) == 1


def test_a_supervisor_is_never_shown_a_shared_wallboard_of_firms_it_does_not_oversee(
    app, client, factory, sharing
):
    floor = a_floor(app, factory)
    admin = factory.caller("bpo_admin")
    of_a, of_b = factory.caller("supervisor", floor.a), factory.caller("supervisor", floor.b)

    everything = board(client, admin)
    seen_by_a = board(client, of_a)
    seen_by_b = board(client, of_b)
    a_asking_for_b = board(client, of_a, tenant_id=str(floor.b.id))

    names = [t["name"] for t in everything["tenants"]]
    assert "Acme Wall" in names and "Beta Wall" in names
    assert [t["name"] for t in seen_by_a["tenants"]] == ["Acme Wall"]
    assert [t["name"] for t in seen_by_b["tenants"]] == ["Beta Wall"]
    assert str(floor.b.id) not in json.dumps(seen_by_a)
    assert str(floor.a.id) not in json.dumps(seen_by_b)
    assert a_asking_for_b["tenants"] == [] and a_asking_for_b["urgent"] == []


def test_viewers_arriving_while_a_reading_is_made_wait_for_that_one_reading(app, sharing):
    began, release = threading.Event(), threading.Event()
    made: list[int] = []

    def slow_read() -> int:
        made.append(1)
        began.set()
        release.wait(30)
        return len(made)

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(sharing.read("k", slow_read)))
    first.start()
    began.wait(30)
    others = [
        threading.Thread(target=lambda: answers.append(sharing.read("k", slow_read)))
        for _ in range(5)
    ]
    for viewer in others:
        viewer.start()
    release.set()
    for viewer in [first, *others]:
        viewer.join(30)

    assert made == [1]
    assert answers == [1] * 6


def test_a_reading_that_fails_behind_the_viewers_leaves_the_last_one_served(
    app, sharing, monkeypatch, caplog
):
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)

    def broken() -> str:
        raise RuntimeError("the database went away")

    assert sharing.read("k", lambda: "first") == "first"
    with caplog.at_level(logging.ERROR, logger="app.readings"):
        assert sharing.read("k", broken) == "first"
        sharing.settle()
    assert sharing.read("k", lambda: "second") == "first"
    sharing.settle()

    assert "failed in the background" in caplog.text
    assert sharing.read("k", lambda: "third") == "second"


def test_a_viewer_who_just_changed_the_board_reads_it_anew(app, sharing):
    assert sharing.read("k", lambda: "before") == "before"

    assert sharing.read("k", lambda: "after") == "before"
    assert sharing.read("k", lambda: "after", renew=True) == "after"
    assert sharing.read("k", lambda: "later") == "after"


def test_only_the_most_recently_read_scopes_are_kept(app, sharing, monkeypatch):
    monkeypatch.setitem(app.config, "SHARED_READ_KEYS", 2)
    for key in ("a", "b", "c"):
        sharing.read(key, lambda key=key: f"{key}1")

    assert sharing.read("c", lambda: "c2") == "c1"
    assert sharing.read("b", lambda: "b2") == "b1"
    assert sharing.read("a", lambda: "a2") == "a2"  # forgotten, read anew


def test_with_sharing_off_every_viewer_reads_its_own(app, monkeypatch):
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    monkeypatch.setitem(app.config, "SHARED_READ_STALE_SECONDS", 0.0)
    readings = SharedReadings(app)

    assert readings.read("k", lambda: 1) == 1
    assert readings.read("k", lambda: 2) == 2


def test_the_at_risk_total_is_shared_and_each_filter_counted_on_its_own(
    app, client, factory, sharing, monkeypatch
):
    floor = a_floor(app, factory)
    admin = factory.caller("bpo_admin")

    def total(**query) -> int:
        listed = client.get("/v1/sla/at-risk", headers=admin.headers, query_string=query)
        assert listed.status_code == 200, listed.get_data(as_text=True)
        return json.loads(listed.headers["X-Pagination"])["total"]

    mine = {"tenant_id": str(floor.a.id)}
    assert (total(**mine), total(state="breached", **mine)) == (2, 1)
    abandon(app, floor.a, floor.waiting[0].id)  # the breached one hangs up
    assert (total(**mine), total(state="breached", **mine)) == (2, 1)  # shared, fresh

    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    total(**mine), total(state="breached", **mine)
    sharing.settle()
    assert (total(**mine), total(state="breached", **mine)) == (1, 0)


def test_a_board_answered_while_a_newer_is_read_asks_for_it_once(app, factory, monkeypatch):
    floor = a_floor(app, factory)
    monkeypatch.setitem(app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    monkeypatch.setitem(app.config, "SHARED_READ_STALE_SECONDS", 60.0)
    shared = SharedReadings(app)
    monkeypatch.setitem(app.extensions, "shared_readings", shared)
    web = sign_in(app, factory.user("supervisor", floor.a).email)

    served = web.get("/console/wallboard", headers=HTMX).get_data(as_text=True)
    caught_up = web.get("/console/wallboard?caught=1", headers=HTMX).get_data(as_text=True)
    shared.settle()

    assert "load delay:2s" in served and "caught=1" in served
    assert "load delay:2s" not in caught_up and "caught=1" not in caught_up


def test_make_runs_sqlite_renews_a_reading_behind_its_viewers(sqlite_app, monkeypatch, caplog):
    from sqlalchemy import func, select

    from tenants.models import Tenant

    monkeypatch.setitem(sqlite_app.config, "SHARED_READ_FRESH_SECONDS", 0.0)
    monkeypatch.setitem(sqlite_app.config, "SHARED_READ_STALE_SECONDS", 60.0)
    readings = SharedReadings(sqlite_app)
    threads: list[str] = []

    def firms() -> int:
        threads.append(threading.current_thread().name)
        return db.session.scalar(select(func.count()).select_from(Tenant))

    with sqlite_app.app_context(), caplog.at_level(logging.ERROR, logger="app.readings"):
        assert readings.read("firms", firms) == 0
        assert readings.read("firms", firms) == 0
        readings.settle()

    assert caplog.text == ""
    assert len(threads) == 2 and threads[1].startswith("shared-read-")
