"""The daily roll-ups behind a big firm's SLA report: whatever happens to its contacts, the report
read from the roll-ups says exactly what the report read from the contacts says.

A month of a million contacts cannot be scanned per page view, so the worker rolls each firm's
days up (app/reports/rollups.py) and the report reads them (app/reports/daily.py). Each story
here writes a firm's contacts at random but reproducibly, reads the report from the contacts,
rolls up, reads it again, changes contacts the way the product does, and compares once more.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.contacts.models import Contact
from app.db import db
from app.queues.models import Queue
from app.reports import daily, dashboard, rollups
from app.reports import sla as sla_reports
from app.reports.agents import agents_report
from app.reports.dashboard import received_by_channel
from app.reports.models import ReportDay, ReportMark, ReportRollup
from app.reports.periods import zone_of
from app.reports.portfolio import portfolio
from app.sla.models import SlaClock, SlaPolicy
from tenants.models import Tenant
from tenants.scoping import tenant_scope, unscoped
from tests.test_contacts_lifecycle_api import (
    act,
    active,
    floor,  # noqa: F401 - a fixture of a firm at work
    new_contact,
    ok,
)
from tests.test_reports_sla import MADRID, agent_profile, clock, contact, policy, queue_of

# Madrid's clocks go back on 25 October 2026: one day of the range is 25 hours long.
FIRST_DAY = datetime(2026, 10, 18, tzinfo=MADRID)
DAYS = 20
CUSTOMERS = [f"customer-{n}" for n in range(8)]


def busy_firm(app, factory, *, seed: int, contacts: int = 160) -> Tenant:
    """A Madrid firm with `contacts` contacts of every kind over 20 days in two queues (which
    share the e-mail channel), written as the lifecycle and the SLA engine would have left
    them."""
    tenant = factory.tenant(time_zone="Europe/Madrid")
    line, back_office = queue_of(app, tenant), queue_of(app, tenant, "Back office", 45)
    policy(app, tenant, fcr_window_days=3, short_abandon_seconds=5)
    rng = random.Random(seed)
    # Its own draws: the contacts stay those of the seed, whichever queue each lands in.
    queues = random.Random(seed + 1)
    agents = [agent_profile(app, factory, f"Agent {n}") for n in range(3)]
    rows, clocks = [], []
    for _ in range(contacts):
        rows.append(_random_contact(rng, line))
        if rows[-1].channel in ("email", "web") and queues.random() < 0.5:
            rows[-1].queue_id = back_office
        if rows[-1].answered_at or rows[-1].first_response_at or rng.random() < 0.1:
            rows[-1].agent_id = rng.choice(agents)
    for row in rows:
        clocks.extend(_random_clocks(rng, row))
    with app.app_context(), tenant_scope(tenant.id):
        db.session.add_all(rows)
        db.session.flush()
        db.session.add_all(clocks)
        db.session.commit()
    return tenant


def _random_contact(rng: random.Random, queue_id: uuid.UUID) -> Contact:
    received = FIRST_DAY.astimezone(UTC) + timedelta(seconds=rng.uniform(0, DAYS * 86400))
    received = received.replace(microsecond=rng.choice([0, 250000, 123456]))
    channel = rng.choice(["voice", "voice", "chat", "email", "web"])
    fields: dict = {
        "channel": channel,
        "direction": rng.choice(["inbound"] * 5 + ["outbound"]),
        "category": rng.choice(["complaint", "information_request"]),
        "customer_key": rng.choice([*CUSTOMERS, None]),
        "csat": rng.choice([None, None, 1, 3, 4, 5]),
        "talk_seconds": rng.randint(0, 900),
        "hold_seconds": rng.randint(0, 60),
        "acw_seconds": rng.randint(0, 120),
        "reopen_count": rng.choice([0, 0, 0, 1]),
    }
    if channel in ("voice", "chat") and rng.random() < 0.2:
        fields |= {"status": "abandoned", "abandoned_at": received + _wait(rng)}
        return contact(queue_id, received, **fields)
    if channel in ("voice", "chat"):
        fields["answered_at"] = received + _wait(rng)
    elif rng.random() < 0.8:
        fields["first_response_at"] = received + timedelta(minutes=rng.randint(1, 600))
    outcome = rng.random()
    if outcome < 0.6:
        done = received + timedelta(seconds=rng.randint(60, 4 * 86400))
        fields |= {"status": "resolved", "resolved_at": done}
    elif outcome < 0.75:
        done = received + timedelta(seconds=rng.randint(60, 86400))
        fields |= {"status": "closed", "closed_at": done, "resolved_at": done}
    else:
        fields["status"] = rng.choice(["queued", "active", "waiting_customer"])
    return contact(queue_id, received, **fields)


def _wait(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.choice([0, 3, 4.5, 19, 20, 21, 45, 300]) + rng.random())


def _random_clocks(rng: random.Random, of: Contact) -> list[SlaClock]:
    made = []
    for kind in ("first_response", "resolution"):
        fate = rng.random()
        elapsed = rng.choice([0, 7, 999, 1000, 1001, 4321, 86399, 123456, rng.randint(0, 300000)])
        if fate < 0.5:
            made.append(
                clock(of, kind, state="met", elapsed_seconds=elapsed, stopped_at=of.received_at)
            )
        elif fate < 0.7:
            breached = of.received_at + timedelta(hours=1)
            made.append(
                clock(
                    of,
                    kind,
                    state="breached",
                    elapsed_seconds=elapsed,
                    breached_at=breached,
                    stopped_at=rng.choice([None, breached]),
                )
            )
        elif fate < 0.8:
            made.append(clock(of, kind, state="cancelled", stopped_at=of.received_at))
        elif fate < 0.95:
            made.append(clock(of, kind, elapsed_seconds=elapsed))
    return made


def queue_named(app, tenant: Tenant, name: str) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant.id):
        return db.session.scalars(select(Queue.id).where(Queue.name == name)).one()


def report(
    app,
    tenant: Tenant,
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    raw=False,
    **options,
):
    """The tenant's SLA report (`options`: group_by, filters), from the contacts when `raw`,
    else as the product reads it."""
    with app.app_context(), tenant_scope(tenant.id):
        fresh = db.session.get(Tenant, tenant.id)
        if raw:
            # The contacts' own answer: the same function, told the roll-ups cannot say.
            original, daily.read = daily.read, lambda **_: None
            try:
                found = sla_reports.sla_report(
                    tenant=fresh, from_=start, to=end, granularity=granularity, **options
                )
            finally:
                daily.read = original
        else:
            found = sla_reports.sla_report(
                tenant=fresh, from_=start, to=end, granularity=granularity, **options
            )
        found.pop("generated_at")
        return found


def report_from_rollups_only(app, tenant: Tenant, **arguments):
    """`report`, failing if the product would have read the contacts for it."""

    def refused(**_):
        raise AssertionError("the report read the contacts, not the roll-ups")

    original, sla_reports._from_contacts = sla_reports._from_contacts, refused
    try:
        return report(app, tenant, **arguments)
    finally:
        sla_reports._from_contacts = original


def both_ways(app, tenant: Tenant, *, granularity: str, options: dict) -> tuple[dict, dict]:
    """The report of the range's days 3 to 17 (contacts received before them still open at
    their start) read from the contacts, then, once rolled up, from the roll-ups alone."""
    start, end = local(3), local(17)
    from_contacts = report(app, tenant, start=start, end=end, granularity=granularity, **options)
    roll_up(app)
    from_rollups = report_from_rollups_only(
        app, tenant, start=start, end=end, granularity=granularity, **options
    )
    return from_contacts, from_rollups


def read_from_rollups(app, tenant: Tenant, *, start: datetime, end: datetime) -> bool:
    with app.app_context(), tenant_scope(tenant.id):
        fresh = db.session.get(Tenant, tenant.id)
        settings = sla_reports.report_settings()
        found = daily.read(
            tenant=fresh, zone=zone_of(fresh), settings=settings, from_=start, to=end
        )
        return found is not None


def roll_up(app) -> dict:
    with app.app_context():
        counts = rollups.refresh()
        db.session.commit()
        return counts


def local(day: int) -> datetime:
    """Local midnight of the range's day `day` (0: its first)."""
    when = FIRST_DAY.date() + timedelta(days=day)
    return datetime(when.year, when.month, when.day, tzinfo=MADRID)


RANGES = [
    pytest.param(2, 16, "day", id="days-across-the-clock-change"),
    pytest.param(0, 20, "week", id="weeks"),
    pytest.param(-17, 44, "month", id="months"),
]


@pytest.mark.parametrize(("first", "last", "granularity"), RANGES)
def test_the_report_read_from_the_rollups_is_the_report_read_from_the_contacts(
    db_app, db_factory, first, last, granularity
):
    tenant = busy_firm(db_app, db_factory, seed=first * 100 + last)
    start, end = local(first), local(last)
    from_contacts = report(db_app, tenant, start=start, end=end, granularity=granularity)
    assert not read_from_rollups(db_app, tenant, start=start, end=end)  # not rolled up yet

    assert roll_up(db_app) == {"rolled up": 1}

    assert read_from_rollups(db_app, tenant, start=start, end=end)
    from_rollups = report(db_app, tenant, start=start, end=end, granularity=granularity)
    assert from_rollups == from_contacts
    assert from_rollups["totals"]["received"] > 50
    assert from_rollups["totals"]["first_response"]["p90_seconds"] is not None


BY_CHANNEL = [
    pytest.param({"group_by": "channel"}, "day", id="by-channel"),
    pytest.param({"group_by": "channel"}, "month", id="by-channel-monthly"),
    pytest.param({"filters": {"channel": "voice"}}, "week", id="voice-only"),
    pytest.param(
        {"group_by": "channel", "filters": {"channel": "email", "queue_id": None}},
        "day",
        id="by-channel-email-only",
    ),
]


@pytest.mark.parametrize(("options", "granularity"), BY_CHANNEL)
def test_a_report_by_channel_or_of_one_reads_the_rollups_and_agrees(
    db_app, db_factory, options, granularity
):
    tenant = busy_firm(db_app, db_factory, seed=11, contacts=220)

    from_contacts, from_rollups = both_ways(
        db_app, tenant, granularity=granularity, options=options
    )

    assert from_rollups == from_contacts
    assert from_rollups["totals"]["received"] > 20
    assert from_rollups["totals"]["backlog"] > 0
    if "group_by" in options:
        groups = {row["group"] for row in from_rollups["rows"]}
        assert groups == ({"email"} if "filters" in options else {"voice", "chat", "email", "web"})


# Which queue a filter names is only known once the firm is made: "Back office" stands for it.
BY_QUEUE = [
    pytest.param({"group_by": "queue"}, "day", id="by-queue"),
    pytest.param({"group_by": "queue"}, "month", id="by-queue-monthly"),
    pytest.param({"filters": {"queue_id": "Back office"}}, "week", id="back-office-only"),
    pytest.param(
        {"group_by": "channel", "filters": {"queue_id": "Back office"}},
        "day",
        id="back-office-by-channel",
    ),
    pytest.param(
        {"group_by": "queue", "filters": {"channel": "email"}}, "week", id="e-mail-by-queue"
    ),
    pytest.param(
        {"filters": {"channel": "web", "queue_id": "Line"}}, "day", id="the-lines-web-forms"
    ),
]


@pytest.mark.parametrize(("options", "granularity"), BY_QUEUE)
def test_a_report_by_queue_or_of_one_reads_the_rollups_and_agrees(
    db_app, db_factory, options, granularity
):
    tenant = busy_firm(db_app, db_factory, seed=19, contacts=220)
    named = options.get("filters", {}).get("queue_id")
    if named is not None:
        queue_id = queue_named(db_app, tenant, named)
        options = {**options, "filters": {**options["filters"], "queue_id": queue_id}}

    from_contacts, from_rollups = both_ways(
        db_app, tenant, granularity=granularity, options=options
    )

    assert from_rollups == from_contacts
    assert from_rollups["totals"]["received"] > 5
    assert from_rollups["totals"]["backlog"] > 0
    if options.get("group_by") == "queue":
        names = {row["group_name"] for row in from_rollups["rows"]}
        assert names == {"Line", "Back office"}


def test_a_contact_moved_to_another_queue_counts_in_its_new_queue_at_once(db_app, db_factory):
    tenant = busy_firm(db_app, db_factory, seed=23)
    line, back_office = (queue_named(db_app, tenant, name) for name in ("Line", "Back office"))
    start, end = local(0), local(DAYS)
    by_queue = {"start": start, "end": end, "granularity": "week", "group_by": "queue"}
    roll_up(db_app)
    before = report_from_rollups_only(db_app, tenant, **by_queue)
    with db_app.app_context(), tenant_scope(tenant.id):
        moved = db.session.scalars(
            select(Contact)
            .where(Contact.queue_id == line, Contact.channel == "voice")
            .order_by(Contact.received_at)
        ).first()
        moved.queue_id = back_office
        db.session.commit()

    expected = report(db_app, tenant, raw=True, **by_queue)
    assert expected != before
    assert report_from_rollups_only(db_app, tenant, **by_queue) == expected
    assert roll_up(db_app)["days re-summed"] >= 1
    assert report_from_rollups_only(db_app, tenant, **by_queue) == expected
    channels = {row["group_name"]: row["received"] for row in expected["rows"] if row["received"]}
    assert set(channels) == {"Line", "Back office"}


def test_changes_to_contacts_show_at_once_and_are_rolled_up_by_the_next_pass(db_app, db_factory):
    tenant = busy_firm(db_app, db_factory, seed=7)
    start, end = local(1), local(19)
    roll_up(db_app)
    with db_app.app_context(), tenant_scope(tenant.id):
        queue_id = db.session.scalar(select(Contact.queue_id).limit(1))
        opened = db.session.scalars(
            select(Contact).where(Contact.status == "queued").order_by(Contact.received_at)
        ).first()
        resolved = db.session.scalars(
            select(Contact).where(Contact.status == "resolved").order_by(Contact.received_at)
        ).first()
        # A contact is resolved, another reopened, a clock breaches, and a customer calls
        # again about a contact of days ago: its first contact resolution changes.
        opened.status, opened.resolved_at = "resolved", opened.received_at + timedelta(days=2)
        resolved.status, resolved.resolved_at, resolved.reopen_count = "active", None, 1
        running = db.session.scalars(
            select(SlaClock).where(SlaClock.stopped_at.is_(None), SlaClock.breached_at.is_(None))
        ).first()
        running.breached_at, running.state = running.started_at + timedelta(hours=3), "breached"
        earlier = db.session.scalars(
            select(Contact)
            .where(
                Contact.customer_key.is_not(None),
                Contact.direction == "inbound",
                Contact.status == "resolved",
                Contact.received_at >= start,
            )
            .order_by(Contact.received_at)
        ).first()
        db.session.add(
            contact(
                queue_id,
                earlier.received_at + timedelta(hours=30),
                customer_key=earlier.customer_key,
                category=earlier.category,
                channel="email",
            )
        )
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(ReportMark)) > 0

    expected = report(db_app, tenant, start=start, end=end, granularity="day", raw=True)
    by_channel = {"start": start, "end": end, "granularity": "day", "group_by": "channel"}
    expected_by_channel = report(db_app, tenant, raw=True, **by_channel)
    assert read_from_rollups(db_app, tenant, start=start, end=end)
    assert report(db_app, tenant, start=start, end=end, granularity="day") == expected
    assert report_from_rollups_only(db_app, tenant, **by_channel) == expected_by_channel

    counts = roll_up(db_app)
    assert counts["days re-summed"] >= 2
    with db_app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ReportMark)) == 0
    assert report(db_app, tenant, start=start, end=end, granularity="day") == expected
    assert report_from_rollups_only(db_app, tenant, **by_channel) == expected_by_channel


def test_clocks_the_sla_scan_breaches_show_at_once_and_are_rolled_up_by_the_next_pass(
    db_app, db_factory
):
    # The scan writes around the unit of work (app/sla/scan.py): it marks the hours itself.
    from tests.test_sla_scan import scan

    tenant = busy_firm(db_app, db_factory, seed=5)
    start, end = local(0), local(DAYS)
    with db_app.app_context(), tenant_scope(tenant.id):
        running = db.session.scalars(
            select(SlaClock)
            .where(SlaClock.state == "ok", SlaClock.stopped_at.is_(None))
            .order_by(SlaClock.id)
            .limit(3)
        ).all()
        assert running
        for one in running:
            one.running_since = one.started_at
            one.at_risk_at = one.started_at + timedelta(hours=1)
            one.due_at = one.started_at + timedelta(hours=2)
        db.session.commit()
    roll_up(db_app)
    before = report(db_app, tenant, start=start, end=end, granularity="day", raw=True)

    counts = scan(db_app, datetime.now(UTC))

    assert counts["breached"] == len(running)
    with db_app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ReportMark)) > 0
    expected = report(db_app, tenant, start=start, end=end, granularity="day", raw=True)
    assert expected != before  # the breaches count in the report
    assert report(db_app, tenant, start=start, end=end, granularity="day") == expected
    roll_up(db_app)
    with db_app.app_context(), tenant_scope(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ReportMark)) == 0
    assert report(db_app, tenant, start=start, end=end, granularity="day") == expected


def test_a_deleted_contact_leaves_the_rollups_too(app, factory):
    tenant = busy_firm(app, factory, seed=11, contacts=60)
    start, end = local(0), local(20)
    roll_up(app)
    with app.app_context(), tenant_scope(tenant.id):
        gone = db.session.scalars(select(Contact).order_by(Contact.received_at)).first()
        db.session.delete(gone)
        db.session.commit()
    roll_up(app)
    expected = report(app, tenant, start=start, end=end, granularity="day", raw=True)
    assert report(app, tenant, start=start, end=end, granularity="day") == expected


def test_a_new_fcr_window_is_rolled_up_afresh(app, factory):
    tenant = busy_firm(app, factory, seed=3, contacts=80)
    start, end = local(0), local(20)
    roll_up(app)
    with app.app_context(), tenant_scope(tenant.id):
        contract = db.session.scalars(select(SlaPolicy)).one()
        contract.fcr_window_days = 1
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(ReportRollup)) == 0
    assert not read_from_rollups(app, tenant, start=start, end=end)
    expected = report(app, tenant, start=start, end=end, granularity="day", raw=True)
    assert roll_up(app) == {"rolled up": 1}
    assert read_from_rollups(app, tenant, start=start, end=end)
    assert report(app, tenant, start=start, end=end, granularity="day") == expected


def test_a_range_not_on_local_midnights_or_by_hour_reads_the_contacts(app, factory):
    tenant = busy_firm(app, factory, seed=5, contacts=40)
    roll_up(app)
    odd_start = local(2) + timedelta(hours=3)
    assert not read_from_rollups(app, tenant, start=odd_start, end=local(5))
    assert read_from_rollups(app, tenant, start=local(2), end=local(5))
    by_hour = report(app, tenant, start=local(2), end=local(3), granularity="hour")
    assert by_hour == report(
        app, tenant, start=local(2), end=local(3), granularity="hour", raw=True
    )


@pytest.mark.parametrize("filters", [None, {"channel": "chat"}], ids=["every-channel", "chat"])
def test_the_volume_by_channel_reads_the_rollups_and_agrees(db_app, db_factory, filters):
    tenant = busy_firm(db_app, db_factory, seed=13)
    start, end = local(0), local(20)

    def volume():
        with db_app.app_context(), tenant_scope(tenant.id):
            fresh = db.session.get(Tenant, tenant.id)
            return received_by_channel(
                tenant=fresh, from_=start, to=end, granularity="week", filters=filters
            )

    before = volume()
    roll_up(db_app)
    counted = []
    original, dashboard._received_from_contacts = (
        dashboard._received_from_contacts,
        lambda **_: counted.append(1),
    )
    try:
        assert volume() == before
    finally:
        dashboard._received_from_contacts = original
    assert not counted  # read from the roll-ups
    assert sum(row["received"] for row in before["rows"]) > (20 if filters else 100)
    if filters:
        assert {row["group"] for row in before["rows"]} == {"chat"}


def test_the_portfolio_reads_every_firms_rollups_and_agrees(app, factory):
    firms = [busy_firm(app, factory, seed=n, contacts=50) for n in (21, 22)]
    bare = factory.tenant(time_zone="America/Bogota")  # no contacts at all
    periods = {firm.id: (local(0), local(20)) for firm in firms}
    bogota = ZoneInfo("America/Bogota")
    periods[bare.id] = (datetime(2026, 10, 1, tzinfo=bogota), datetime(2026, 11, 1, tzinfo=bogota))

    def rows(*, raw: bool = False):
        with app.app_context(), unscoped():
            tenants = list(db.session.scalars(select(Tenant).order_by(Tenant.name)))
            if raw:
                original, daily.firms = daily.firms, lambda **_: {}
            try:
                return portfolio(tenants=tenants, periods=periods, now=local(20))
            finally:
                if raw:
                    daily.firms = original

    expected = rows(raw=True)
    roll_up(app)
    answers = []
    original = daily.firms
    daily.firms = lambda **asked: answers.append(original(**asked)) or answers[-1]
    try:
        assert rows() == expected
    finally:
        daily.firms = original
    assert set(answers[0]) == {firms[0].id, firms[1].id, bare.id}  # all read from roll-ups

    with app.app_context(), tenant_scope(firms[0].id):
        waiting = db.session.scalars(
            select(Contact).where(Contact.status == "queued").order_by(Contact.received_at)
        ).first()
        waiting.status, waiting.resolved_at = "resolved", waiting.received_at + timedelta(hours=5)
        db.session.commit()
    assert rows() == rows(raw=True)  # the marked days summed afresh
    received = {row["tenant_id"]: row["received"] for row in expected}
    assert received == {firms[0].id: 50, firms[1].id: 50, bare.id: 0}


def test_a_firms_rollups_and_marks_are_its_own(app, factory):
    mine = busy_firm(app, factory, seed=31, contacts=30)
    theirs = busy_firm(app, factory, seed=32, contacts=30)
    roll_up(app)
    with app.app_context(), tenant_scope(mine.id):
        days = db.session.scalars(select(ReportDay)).all()
        assert days and {day.tenant_id for day in days} == {mine.id}
        assert sum(day.received for day in days) == 30
    with app.app_context(), unscoped():
        assert (
            db.session.scalar(
                select(func.sum(ReportDay.received)).where(ReportDay.tenant_id == theirs.id)
            )
            == 30
        )


def test_answer_waits_add_up_to_the_microsecond(app, factory):
    tenant = busy_firm(app, factory, seed=41, contacts=40)
    roll_up(app)
    with app.app_context(), tenant_scope(tenant.id):
        stored = db.session.scalar(select(func.sum(ReportDay.answer_wait)))
        assert isinstance(stored, Decimal)
        assert stored == stored.quantize(Decimal("0.000001"))


def test_a_big_firms_changed_days_show_as_last_summed_until_the_worker_catches_up(
    app, factory, monkeypatch
):
    tenant = busy_firm(app, factory, seed=17, contacts=80)
    start, end = local(0), local(20)
    roll_up(app)
    before = report(app, tenant, start=start, end=end, granularity="day")
    assert before["catching_up"] is False
    # As if its changed days held more contacts than a request sums.
    monkeypatch.setattr(rollups, "FRESH_CONTACTS", 0)
    with app.app_context(), tenant_scope(tenant.id):
        waiting = db.session.scalars(
            select(Contact).where(Contact.status == "queued").order_by(Contact.received_at)
        ).first()
        waiting.status, waiting.resolved_at = "resolved", waiting.received_at + timedelta(hours=5)
        db.session.commit()

    stale = report(app, tenant, start=start, end=end, granularity="day")
    assert stale["catching_up"] is True
    assert {**stale, "catching_up": False} == before

    roll_up(app)
    caught_up = report(app, tenant, start=start, end=end, granularity="day")
    assert caught_up["catching_up"] is False
    assert caught_up == report(app, tenant, start=start, end=end, granularity="day", raw=True)
    assert caught_up != before


def test_a_firm_at_work_through_the_api_reads_the_same_report_from_its_rollups(
    app,
    client,
    floor,  # noqa: F811 - the fixture imported above
):
    work = floor
    roll_up(app)  # rolled up before its first contact: every figure comes from marks
    call = active(client, work, category="information_request")
    ok(
        act(
            client,
            work,
            call["id"],
            "resolve",
            disposition="information_given",
            resolution_note="Explained the opening hours.",
        )
    )
    # The same customer writes again about the same thing: the call was not resolved first time.
    new_contact(client, work, channel="email", category="information_request")
    new_contact(client, work, channel="chat", category="complaint")

    def sla(*, raw: bool = False, **asked) -> dict:
        original = daily.read
        if raw:
            daily.read = lambda **_: None
        try:
            response = client.get(
                f"/v1/tenants/{work.tenant.id}/reports/sla",
                query_string={"granularity": "day", **asked},
                headers=work.supervisor.headers,
            )
        finally:
            daily.read = original
        assert response.status_code == 200, response.get_json()
        found = response.get_json()
        found.pop("generated_at")
        return found

    from_rollups = sla()
    assert from_rollups == sla(raw=True)
    assert from_rollups["totals"]["received"] == 3
    assert from_rollups["totals"]["fcr"]["handled_first_contacts"] == 1
    assert from_rollups["totals"]["fcr"]["resolved_first_time"] == 0
    by_channel = sla(group_by="channel")
    assert by_channel == sla(raw=True, group_by="channel")
    assert {row["group"] for row in by_channel["rows"]} == {"voice", "email", "chat"}
    roll_up(app)
    assert sla() == from_rollups
    assert sla(group_by="channel") == by_channel


def test_the_agents_report_reads_the_rollups_and_agrees(db_app, db_factory):
    tenant = busy_firm(db_app, db_factory, seed=23)
    start, end = local(1), local(15)

    def agents(*, rolled: bool) -> dict:
        with db_app.app_context(), tenant_scope(tenant.id):
            fresh = db.session.get(Tenant, tenant.id)
            return agents_report(
                from_=start, to=end, now=local(20), tenant=fresh if rolled else None
            )

    expected = agents(rolled=False)
    assert sum(row["handled"] for row in expected["agents"]) > 20
    roll_up(db_app)
    answers = []
    original = daily.agent_work
    daily.agent_work = lambda **asked: answers.append(original(**asked)) or answers[-1]
    try:
        assert agents(rolled=True) == expected
        with db_app.app_context(), tenant_scope(tenant.id):
            finished = db.session.scalars(
                select(Contact)
                .where(Contact.status == "resolved", Contact.agent_id.is_not(None))
                .order_by(Contact.received_at)
            ).all()[3]
            finished.resolved_at, finished.csat = finished.received_at + timedelta(days=1), 5
            db.session.commit()
        assert agents(rolled=True) == agents(rolled=False)  # the marked days summed afresh
    finally:
        daily.agent_work = original
    assert None not in answers


def test_a_dashboard_sums_its_changed_days_once_for_the_report_and_the_volume_chart(
    app, factory, monkeypatch
):
    tenant = busy_firm(app, factory, seed=29, contacts=60)
    start, end = local(0), local(20)
    roll_up(app)
    summed = []
    monkeypatch.setattr(
        daily, "aggregate", lambda **asked: summed.append(asked) or rollups.aggregate(**asked)
    )
    with app.app_context(), tenant_scope(tenant.id):
        waiting = db.session.scalars(
            select(Contact).where(Contact.status == "queued").order_by(Contact.received_at)
        ).first()
        waiting.status, waiting.resolved_at = "resolved", waiting.received_at + timedelta(hours=5)
        db.session.commit()
        fresh = db.session.get(Tenant, tenant.id)
        first = sla_reports.sla_report(tenant=fresh, from_=start, to=end, granularity="day")
        received_by_channel(tenant=fresh, from_=start, to=end, granularity="day")
        assert len(summed) == 1  # the same marks: summed once in the request

        # Another change in the same request has its own mark: summed again, not reused.
        rated_before = waiting.csat is not None
        waiting.csat = None if rated_before else 4
        again = sla_reports.sla_report(tenant=fresh, from_=start, to=end, granularity="day")
        assert len(summed) == 2
        change = -1 if rated_before else 1
        assert again["totals"]["csat"]["responses"] == first["totals"]["csat"]["responses"] + change
