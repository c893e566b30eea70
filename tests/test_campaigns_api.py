"""Outbound campaigns through the API: a firm's campaign set up, a list loaded row by row,
started, its records offered to the agents of its queue, each attempt a contact disposed of,
retried, called back, stopped by the do-not-contact registers, and billed."""

from __future__ import annotations

from sqlalchemy import select

from app.campaigns.models import CampaignRecord
from app.contacts.models import Contact
from app.db import db
from billing.models import UsageRecord
from tenants.scoping import tenant_scope
from tests.campaign_helpers import (
    claim,
    create_campaign,
    customers_csv,
    dispose,
    load_csv,
    midday_zone,
    running_campaign,
    start,
    uid,
    url,
)
from tests.http_helpers import assert_problem
from tests.test_agents_api import make_queue
from tests.test_claim_next import add_contact


def _records(app, tenant, campaign_id) -> list[CampaignRecord]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(
            db.session.scalars(
                select(CampaignRecord)
                .where(CampaignRecord.campaign_id == uid(campaign_id))
                .order_by(CampaignRecord.phone)
            )
        )


def test_a_bpo_admin_sets_up_a_campaign_and_a_client_admin_may_not_choose_its_blend(
    client, factory
):
    tenant = factory.tenant()
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    admin = factory.caller("bpo_admin")
    client_admin = factory.caller("client_admin", tenant)

    made = create_campaign(client, admin, tenant, queue_id, blend="time_share", share_bps=3000)
    refused = client.post(
        url(tenant),
        json={**_body(queue_id), "blend": "time_share", "share_bps": 2000},
        headers=client_admin.headers,
    )
    firm_own = client.post(url(tenant), json=_body(queue_id), headers=client_admin.headers)

    assert (made["state"], made["blend"], made["share_bps"]) == ("draft", "time_share", 3000)
    assert_problem(refused, 403)
    assert firm_own.status_code == 201 and firm_own.get_json()["blend"] == "inbound_first"


def test_a_campaign_that_does_not_fit_is_refused_beside_each_field(client, factory):
    tenant = factory.tenant()
    email_only = make_queue(factory.app, tenant, channels=["email"])
    admin = factory.caller("bpo_admin")

    response = client.post(
        url(tenant),
        json={
            **_body(email_only),
            "window_start": "20:00",
            "window_end": "09:00",
            "dispositions": [{"code": "x", "label": "X"}],
            "blend": "time_share",
        },
        headers=admin.headers,
    )

    errors = assert_problem(response, 422)["errors"]["json"]
    assert set(errors) >= {"queue_id", "window_end", "dispositions", "share_bps"}


def test_a_list_with_bad_rows_is_refused_whole_naming_each_line(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    campaign = create_campaign(client, admin, tenant, queue_id)
    text = (
        "name,phone,email,country,time_zone\n"
        "Ana,+34 600 111 222,,,Europe/Madrid\n"
        "Bea,,bea@example.com,,Europe/Madrid\n"
        "Carl,+1 212 555 0100,,US,\n"
        "Dora,+51 1 555 0101,,PE,\n"
        "Eve,+34 600 111 333,,,Mars/Olympus\n"
    )

    response = load_csv(client, admin, tenant, campaign["id"], text)

    report = {row["line"]: row["errors"] for row in assert_problem(response, 422)["report"]}
    assert set(report) == {3, 4, 6}
    assert "phone" in report[3]  # a voice campaign needs a phone
    assert "several time zones" in report[4]["country"][0]
    assert "Unknown time zone" in report[6]["time_zone"][0]
    assert _records(factory.app, tenant, campaign["id"]) == []


def test_duplicates_within_a_list_and_across_lists_are_merged_into_one_record(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    campaign = create_campaign(client, admin, tenant, queue_id)
    first = (
        "name,phone,country,plan\n"
        "Dora,+51 1 555 0101,PE,fibre\n"
        ",51 1 555-0101,PE,\n"
        "Luis,+51 1 555 0202,pe,mobile\n"
    )
    second = "name,phone,time_zone,email\nLuis Again,+51 1 555 0202,America/Lima,luis@example.com\n"

    one = load_csv(client, admin, tenant, campaign["id"], first)
    two = load_csv(client, admin, tenant, campaign["id"], second)

    assert one.status_code == 201, one.get_json()
    assert (one.get_json()["added"], one.get_json()["merged"]) == (2, 1)
    assert (two.get_json()["added"], two.get_json()["merged"]) == (1, 0) or (
        two.get_json()["added"],
        two.get_json()["merged"],
    ) == (0, 1)
    records = _records(factory.app, tenant, campaign["id"])
    dora = next(r for r in records if r.name == "Dora")
    assert (dora.time_zone, dora.country, dora.fields) == ("America/Lima", "PE", {"plan": "fibre"})


def test_an_agent_works_a_record_an_attempt_at_a_time_until_it_succeeds(client, factory):
    tenant = factory.tenant()
    campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant)

    first = claim(client, caller)
    body = first.get_json()
    no_answer = dispose(client, caller, tenant, body["id"], "no_answer")
    again = claim(client, caller)

    assert first.status_code == 200, body
    assert (body["direction"], body["campaign_id"], body["status"]) == (
        "outbound",
        campaign["id"],
        "assigned",
    )
    assert body["customer_name"] == "Customer 1"
    record = no_answer.get_json()
    assert no_answer.status_code == 200, record
    assert (record["state"], record["attempts"], record["last_disposition"]) == (
        "pending",
        1,
        "no_answer",
    )
    # The retry waits its delay (60 minutes): nothing else to offer meanwhile.
    assert_problem(again, 409)
    with factory.app.app_context(), tenant_scope(tenant.id):
        attempt = db.session.get(Contact, uid(body["id"]))
        assert (attempt.status, attempt.disposition, attempt.answered_at) == (
            "closed",
            "no_answer",
            None,
        )


def test_a_reached_customer_resolves_the_attempt_and_a_success_ends_the_record(client, factory):
    tenant = factory.tenant()
    _campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant)
    contact = claim(client, caller).get_json()

    answered = client.post(
        f"/v1/tenants/{tenant.id}/contacts/{contact['id']}/answer", json={}, headers=caller.headers
    )
    resolve = client.post(
        f"/v1/tenants/{tenant.id}/contacts/{contact['id']}/resolve",
        json={"disposition": "sold", "resolution_note": "x"},
        headers=caller.headers,
    )
    sold = dispose(client, caller, tenant, contact["id"], "sold", note="Fibre 600")

    assert answered.status_code == 200, answered.get_json()
    assert "disposition" in assert_problem(resolve, 409)["detail"]
    record = sold.get_json()
    assert (
        record["state"],
        record["reached_at"] is not None,
        record["succeeded_at"] is not None,
    ) == (
        "done",
        True,
        True,
    )
    with factory.app.app_context(), tenant_scope(tenant.id):
        attempt = db.session.get(Contact, uid(contact["id"]))
        assert (attempt.status, attempt.disposition, attempt.resolution_note) == (
            "resolved",
            "sold",
            "Fibre 600",
        )


def test_a_record_is_tried_no_more_than_the_campaign_allows(client, factory):
    tenant = factory.tenant()
    _campaign, _queue, _agent, caller, _admin = running_campaign(
        client, factory, tenant, max_attempts=2, retry_delay_minutes=1
    )
    first = claim(client, caller).get_json()
    dispose(client, caller, tenant, first["id"], "no_answer")
    with factory.app.app_context(), tenant_scope(tenant.id):
        # The retry delay has passed.
        for record in db.session.scalars(select(CampaignRecord)):
            record.next_attempt_at = record.next_attempt_at.replace(year=2020)
        db.session.commit()
    second = claim(client, caller).get_json()

    last = dispose(client, caller, tenant, second["id"], "no_answer").get_json()

    assert (last["state"], last["attempts"]) == ("exhausted", 2)


def test_a_customer_on_the_register_mid_campaign_is_never_offered_again(client, factory):
    tenant = factory.tenant()
    campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant, records=2)
    client_admin = factory.caller("client_admin", tenant)
    staff = factory.caller("bpo_admin")

    firm = client.post(
        f"/v1/tenants/{tenant.id}/do-not-contact",
        json={"kind": "phone", "value": "+34 600 000 001", "reason": "Asked by letter"},
        headers=client_admin.headers,
    )
    bpo = client.post(
        "/v1/do-not-contact", json={"kind": "phone", "value": "34600000002"}, headers=staff.headers
    )
    nothing = claim(client, caller)

    assert firm.status_code == 201 and firm.get_json()["value"] == "34600000001"
    assert bpo.status_code == 201, bpo.get_json()
    assert_problem(nothing, 409)
    states = {r.name: r.state for r in _records(factory.app, tenant, campaign["id"])}
    assert states == {"Customer 1": "do_not_contact", "Customer 2": "do_not_contact"}


def test_a_customer_who_asks_is_put_on_the_firms_register_by_the_disposition(client, factory):
    tenant = factory.tenant()
    _campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant)
    contact = claim(client, caller).get_json()

    record = dispose(client, caller, tenant, contact["id"], "do_not_call").get_json()
    register = client.get(
        f"/v1/tenants/{tenant.id}/do-not-contact",
        headers=factory.caller("client_admin", tenant).headers,
    ).get_json()

    assert record["state"] == "do_not_contact"
    assert [(e["value"], e["source"]) for e in register] == [("34600000001", "disposition")]


def test_an_agent_calls_a_customer_back_at_the_time_they_asked(client, factory):
    tenant = factory.tenant()
    _campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant)
    contact = claim(client, caller).get_json()
    late = "2020-01-01T10:00:00Z"

    refused = dispose(client, caller, tenant, contact["id"], "call_back", callback_at=late)
    with factory.app.app_context():
        from datetime import timedelta

        from app.db import utcnow

        soon = (utcnow() + timedelta(minutes=30)).isoformat()
    kept = dispose(client, caller, tenant, contact["id"], "call_back", callback_at=soon)

    assert "callback_at" in assert_problem(refused, 422)["errors"]["json"]
    record = kept.get_json()
    assert kept.status_code == 200, record
    assert record["state"] == "pending" and record["callback_agent_id"] is not None
    assert record["next_attempt_at"] == record["callback_at"]


def test_inbound_work_comes_first_unless_a_time_share_campaign_is_behind(client, factory):
    tenant = factory.tenant()
    campaign, queue_id, _agent, caller, admin = running_campaign(client, factory, tenant)
    add_contact(factory.app, tenant, queue_id, channel="voice")

    inbound = claim(client, caller).get_json()
    client.patch(
        url(tenant, f"/{campaign['id']}"),
        json={"blend": "time_share", "share_bps": 5000},
        headers=admin.headers,
    )
    # The agent's hour went to inbound work: the campaign is behind its share.
    client.post(
        f"/v1/tenants/{tenant.id}/contacts/{inbound['id']}/answer", json={}, headers=caller.headers
    )

    assert inbound["direction"] == "inbound"


def test_two_lists_for_a_finished_campaign_are_refused(client, factory):
    tenant = factory.tenant()
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    campaign = create_campaign(client, admin, tenant, queue_id)
    start(client, admin, tenant, campaign["id"])
    finished = client.post(url(tenant, f"/{campaign['id']}/finish"), headers=admin.headers)

    refused = load_csv(client, admin, tenant, campaign["id"], customers_csv(1, zone=midday_zone()))
    again = client.post(url(tenant, f"/{campaign['id']}/start"), headers=admin.headers)

    assert finished.get_json()["state"] == "finished"
    assert_problem(refused, 409)
    assert assert_problem(again, 409)["allowed_actions"] == []


def test_attempts_are_billed_by_the_campaign_terms_of_the_rate_card(client, factory):
    tenant = factory.tenant()
    campaign, _queue, _agent, caller, admin = running_campaign(client, factory, tenant, records=2)
    put = client.put(
        f"/v1/tenants/{tenant.id}/rate-card",
        json={
            "default_unit_amount": 150,
            "campaign_prices": [
                {"campaign_id": campaign["id"], "basis": "attempt", "unit_amount": 40}
            ],
        },
        headers=admin.headers,
    )
    assert put.status_code in (200, 201), put.get_json()
    one = claim(client, caller).get_json()
    dispose(client, caller, tenant, one["id"], "no_answer")
    two = claim(client, caller).get_json()
    dispose(client, caller, tenant, two["id"], "not_interested")

    with factory.app.app_context(), tenant_scope(tenant.id):
        usage = db.session.scalars(select(UsageRecord.unit_amount)).all()
    assert sorted(usage) == [40, 40]


def _body(queue_id) -> dict:
    from tests.campaign_helpers import campaign_in

    return campaign_in(queue_id)


def test_a_campaign_month_is_billed_per_reached_customer_or_per_attempt_as_worked_by_hand(
    client, factory
):
    """Campaign A is billed 5.00 per customer reached (its own terms), every other campaign
    0.40 per attempt (the terms for all). A: Customer 1 not answered, then sold (reached once:
    5.00), Customer 2 not interested (reached: 5.00). B: one customer, no answer then busy
    (two attempts: 0.40 + 0.40). The month: 5.00 + 5.00 + 0.40 + 0.40 = 10.80."""
    tenant = factory.tenant()
    a, queue_id, _agent, caller, admin = running_campaign(client, factory, tenant, records=2)
    b = create_campaign(client, admin, tenant, queue_id, retry_delay_minutes=1)
    load_csv(client, admin, tenant, b["id"], customers_csv(1, zone=midday_zone(), start=7))
    put = client.put(
        f"/v1/tenants/{tenant.id}/rate-card",
        json={
            "default_unit_amount": 150,
            "prices": [{"direction": "outbound", "unit_amount": 120}],
            "campaign_prices": [
                {"campaign_id": a["id"], "basis": "reached", "unit_amount": 500},
                {"campaign_id": None, "basis": "attempt", "unit_amount": 40},
            ],
        },
        headers=admin.headers,
    )
    assert put.status_code in (200, 201), put.get_json()

    def work(code: str) -> dict:
        contact = claim(client, caller).get_json()
        record = dispose(client, caller, tenant, contact["id"], code).get_json()
        with factory.app.app_context(), tenant_scope(tenant.id):
            # Make a retry due at once.
            for row in db.session.scalars(select(CampaignRecord)):
                if row.state == "pending" and row.attempts:
                    row.next_attempt_at = row.next_attempt_at.replace(year=2020)
            db.session.commit()
        return {**record, "campaign_id": contact["campaign_id"]}

    done = [work("no_answer"), work("sold"), work("not_interested")]
    start(client, admin, tenant, b["id"])
    done += [work("no_answer"), work("busy")]

    assert [d["campaign_id"] for d in done] == [a["id"]] * 3 + [b["id"]] * 2
    with factory.app.app_context(), tenant_scope(tenant.id):
        usage = db.session.scalars(select(UsageRecord)).all()
        period = usage[0].period
    assert sorted(u.unit_amount for u in usage) == [40, 40, 500, 500]
    preview = client.get(
        f"/v1/tenants/{tenant.id}/invoices/preview?period={period}", headers=admin.headers
    ).get_json()
    assert preview["total"] == 1080


def test_a_customer_campaigns_named_is_in_their_export_and_wiped_by_their_erasure(client, factory):
    tenant = factory.tenant()
    campaign, _queue, _agent, caller, _admin = running_campaign(client, factory, tenant)
    client_admin = factory.caller("client_admin", tenant)
    subjects = f"/v1/tenants/{tenant.id}/data-subjects"

    exported = client.post(
        f"{subjects}/export", json={"phone": "+34 600 000 001"}, headers=client_admin.headers
    ).get_json()
    erased = client.post(
        f"{subjects}/erase", json={"phone": "34600000001"}, headers=client_admin.headers
    ).get_json()

    assert [r["name"] for r in exported["campaign_records"]] == ["Customer 1"]
    assert erased["counts"]["campaign_records"] == 1
    record = _records(factory.app, tenant, campaign["id"])[0]
    assert (record.name, record.phone, record.state) == (None, None, "closed")
    assert_problem(claim(client, caller), 409)


def test_a_number_is_one_customer_however_a_list_or_the_register_writes_it(client, factory):
    """The firm (in Spain) registers "600 000 002" as it is dialled there; the list has it as
    "+34 600 000 002", and "0034 600 000 003" beside "600000003" with the country ES."""
    tenant = factory.tenant(locale="es-ES")
    admin = factory.caller("bpo_admin")
    queue_id = make_queue(factory.app, tenant, channels=["voice"])
    campaign = create_campaign(client, admin, tenant, queue_id)
    entry = client.post(
        f"/v1/tenants/{tenant.id}/do-not-contact",
        json={"kind": "phone", "value": "600 000 002"},
        headers=admin.headers,
    )
    text = (
        "name,phone,country,time_zone\n"
        "Ana,+34 600 000 002,ES,Europe/Madrid\n"
        "Bea,0034 600 000 003,ES,Europe/Madrid\n"
        "Bea again,600000003,ES,Atlantic/Canary\n"
    )

    loaded = load_csv(client, admin, tenant, campaign["id"], text).get_json()

    assert entry.get_json()["value"] == "34600000002"
    assert (loaded["added"], loaded["merged"], loaded["blocked"]) == (2, 1, 1)
    states = {
        r.name: (r.state, r.phone_digits) for r in _records(factory.app, tenant, campaign["id"])
    }
    assert states == {
        "Ana": ("do_not_contact", "34600000002"),
        "Bea": ("pending", "34600000003"),
    }
