"""The isolation matrix: no caller of tenant B reaches anything of tenant A, on any route.

Routes come from the app's URL map, so a `/v1/tenants/{tenant_id}/...` route added later is
covered without anyone remembering to add it here. A new path parameter or a new write
method without a plausible body fails the test until it is mapped below: nothing is skipped.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from app.accounts import service as accounts_service
from app.agents.models import Agent, Assignment
from app.contacts import events as contacts_events
from app.contacts.models import Contact, ContactEvent, ContactMessage
from app.db import Base, db, utcnow
from app.onboarding import service as onboarding_service
from app.queues import service as queues_service
from app.webhooks import service as webhooks_service
from billing.models import Invoice, UsageRecord
from tenants import scoping
from tenants import service as tenants_service
from tenants.models import ApiClient, Tenant, User
from tenants.scoping import is_tenant_owned, tenant_scope, unscoped

PREFIX = "/v1/tenants/<uuid:tenant_id>"
PROBLEM_JSON = "application/problem+json"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}

# Sanity: the routes this issue built must be among those found in the URL map.
KNOWN_ROUTES = {
    ("GET", PREFIX),
    ("PATCH", PREFIX),
    ("GET", f"{PREFIX}/users"),
    ("POST", f"{PREFIX}/users"),
    ("GET", f"{PREFIX}/users/<uuid:user_id>"),
    ("PATCH", f"{PREFIX}/users/<uuid:user_id>"),
    ("GET", f"{PREFIX}/api-clients"),
    ("POST", f"{PREFIX}/api-clients"),
    ("GET", f"{PREFIX}/api-clients/<uuid:api_client_id>"),
    ("DELETE", f"{PREFIX}/api-clients/<uuid:api_client_id>"),
}

# A valid body for each write, so a request is refused for whose data it touches and not for
# its shape. Each would change A's data if it got through; the test checks nothing changed.
BODIES: dict[tuple[str, str], dict] = {
    ("tenants.TenantById", "PATCH"): {"name": "Taken over", "currency": "USD"},
    ("users.Users", "POST"): {
        "email": "intruder@intruder.test",
        "name": "Intruder",
        "role": "client_admin",
        "password": "intruder password 123",
    },
    ("users.UserById", "PATCH"): {"name": "Taken over", "role": "client_admin", "is_active": False},
    ("api_clients.ApiClients", "POST"): {"name": "Intruder integration"},
    ("invitations.Invitations", "POST"): {
        "email": "invitee@intruder.test",
        "name": "Intruder's friend",
        "role": "client_admin",
    },
    ("invitations.InvitationResend", "POST"): {},
    ("tenants.TenantSuspend", "POST"): {"reason": "Taken over"},
    ("tenants.TenantActivate", "POST"): {"reason": "Taken over"},
    ("tenants.TenantOffboard", "POST"): {"reason": "Taken over"},
    ("calendar.CalendarInForce", "PUT"): {
        "weekly_hours": {"mon": [{"start": "09:00", "end": "17:00"}]},
        "holiday_country": "ES",
    },
    ("sla_policies.SlaPolicies", "POST"): {
        "name": "Intruder",
        "is_default": True,
        "targets": [{"priority": "normal", "first_response_seconds": 60}],
    },
    ("sla_policies.SlaPolicyById", "PATCH"): {
        "name": "Taken over",
        "is_default": True,
        "fcr_window_days": 90,
    },
    ("queues.Queues", "POST"): {"name": "Intruder queue", "channels": ["voice"]},
    ("queues.QueueById", "PATCH"): {"name": "Taken over", "is_active": False},
    ("briefings.Briefings", "POST"): {"title": "Intruder", "body": "Read me"},
    ("briefings.BriefingById", "PATCH"): {"title": "Taken over", "effective_to": None},
    ("departments.Departments", "POST"): {"kind": "custom", "name": "Intruder desk"},
    ("departments.DepartmentById", "PATCH"): {"name": "Taken over", "is_active": False},
    ("rate_card.RateCardInForce", "PUT"): {"default_unit_amount": 1},
    ("webhooks.WebhookEndpoints", "POST"): {"url": "https://intruder.example/hook"},
    ("webhooks.WebhookEndpointById", "PATCH"): {
        "url": "https://intruder.example/hook",
        "is_active": False,
    },
    ("webhooks.WebhookEndpointRotateSecret", "POST"): {},
    ("webhooks.WebhookEndpointPing", "POST"): {},
    ("webhooks.WebhookDeliveryRetry", "POST"): {},
    ("invoices.UsageVoid", "POST"): {"reason": "Taken over"},
    # Nobody in any firm is known by this e-mail: an erasure that got through would still be
    # audited in firm A, which the test sees.
    ("data_subjects.DataSubjectExport", "POST"): {"email": "someone@customers.test"},
    ("data_subjects.DataSubjectErase", "POST"): {"email": "someone@customers.test"},
    ("contacts.Contacts", "POST"): {
        "channel": "email",
        "category": "complaint",
        "subject": "Intruder",
        "body": "x",
    },
    # The import takes CSV; from another firm it is refused before its body is read.
    ("contacts.ContactImport", "POST"): {"channel": "chat", "category": "suggestion"},
    ("contacts.ContactAssign", "POST"): {"agent_id": str(uuid.uuid4())},
    ("contacts.ContactTransfer", "POST"): {"queue_id": str(uuid.uuid4())},
    ("contacts.ContactEscalate", "POST"): {"department_id": str(uuid.uuid4()), "note": "Taken"},
    ("contacts.ContactResolve", "POST"): {"disposition": "done", "resolution_note": "Taken"},
    ("contacts.ContactCsat", "POST"): {"score": 5},
    ("contacts.ContactReopen", "POST"): {"note": "Taken over"},
    ("messages.ContactMessages", "POST"): {"kind": "note", "body": "Taken over"},
    # Quality (issue 18): each write's body valid for the firm's scorecard (QUALITY_SECTIONS).
    ("scorecards.Scorecards", "POST"): {
        "name": "Intruder card",
        "passing_score_bps": 1,
        "sections": [],  # filled below: the same sections every firm's card has
    },
    ("scorecards.ScorecardById", "PATCH"): {"name": "Taken over", "is_active": False},
    ("scorecards.ScorecardVersions", "POST"): {"passing_score_bps": 1},
    ("quality.SamplingRule", "PUT"): {
        "per_agent_per_week": 100,
        "percent_bps": 10000,
        "complaint_percent_bps": 10000,
    },
    ("quality.Evaluations", "POST"): {"contact_id": str(uuid.uuid4())},
    ("quality.EvaluationClaim", "POST"): {},
    ("quality.EvaluationRelease", "POST"): {},
    ("quality.EvaluationCalibration", "POST"): {},
    ("quality.EvaluationSubmit", "POST"): {
        "answers": {"greeted": {"answer": "yes"}, "tone": {"answer": 3}},
        "comment": "Taken over",
    },
    ("quality.EvaluationDispute", "POST"): {"reason": "Taken over"},
    ("campaigns.Campaigns", "POST"): {
        "name": "Taken over",
        "purpose": "sales",
        "channel": "email",
        "category": "order_request",
        "queue_id": str(uuid.uuid4()),
        "dispositions": [{"code": "sold", "label": "Sold", "reached": True}],
        "window_start": "09:00",
        "window_end": "20:00",
        "starts_on": "2026-01-01",
    },
    ("campaigns.CampaignById", "PATCH"): {"name": "Taken over"},
    ("campaigns.CampaignStart", "POST"): {},
    ("campaigns.CampaignPause", "POST"): {},
    ("campaigns.CampaignFinish", "POST"): {},
    ("campaigns.CampaignLists", "POST"): {"name": "Taken over", "phone": "+34 600 999 999"},
    ("campaigns.AttemptDisposition", "POST"): {"code": "sold"},
    ("campaigns.FirmRegister", "POST"): {"kind": "phone", "value": "+34 600 999 999"},
    ("quality.DisputeDecision", "POST"): {"outcome": "score_stands", "comment": "Taken over"},
    **{
        (f"contacts.Contact{name}", "POST"): {}
        for name in (
            "Release",
            "Answer",
            "Respond",
            "Hold",
            "Resume",
            "WaitCustomer",
            "Close",
            "Abandon",
        )
    },
}

# Every firm's scorecard: two questions, so a submit body can answer them all.
QUALITY_SECTIONS = [
    {
        "key": "care",
        "title": "Care",
        "weight": 1,
        "questions": [
            {"key": "greeted", "text": "Greeted the customer", "kind": "yes_no", "points": 1},
            {"key": "tone", "text": "Tone", "kind": "scale", "scale_max": 5, "points": 1},
        ],
    }
]
BODIES[("scorecards.Scorecards", "POST")]["sections"] = QUALITY_SECTIONS
QUALITY_ANSWERS = BODIES[("quality.EvaluationSubmit", "POST")]["answers"]

# Routes that need query arguments to be a valid request at all.
QUERIES: dict[str, str] = {
    "calendar.BusinessSeconds": "from=2025-01-13T00:00:00Z&to=2025-01-14T00:00:00Z",
    "calendar.Due": "start=2025-01-13T00:00:00Z&seconds=60",
    "reports.AgentTime": "from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z",
    "reports.SlaReport": "from=2025-01-01&to=2025-02-01&granularity=day&group_by=channel",
    "reports.ComplaintsRegister": "year=2025",
    "reports.AgentsReport": "from=2025-01-01&to=2025-02-01",
    # Inputs given, so the answer does not depend on the queue's history.
    "queues.QueueStaffing": "interval=30m&volume=100&aht=180&target=0.8&threshold=20",
    "invoices.InvoicePreview": "period=2025-01",
    "invoices.Usage": "period=2025-01",
    # A stream: from the firm's first event, ended at once (after what the log holds).
    "events.EventStream": "after=0-0&max_seconds=0",
}
# Answers that carry no identifier of the firm (arithmetic on its calendar): the positive
# control checks only that they succeed.
# The event stream shows the firm's events once they settle, which other runs' open
# transactions on the shared server may delay past a matrix's request (app/events/service.py):
# that it shows another firm's is still checked.
# The firm's one review is calibrated (so that its side by side answers), which leaves the
# firm no review to calibrate: its candidates are an empty page (tests/test_quality_api.py
# shows what they list).
NO_IDENTIFIERS = {
    "calendar.BusinessSeconds",
    "calendar.Due",
    "events.EventStream",
    "quality.CalibrationCandidates",
}
# Routes the firm's own people may not read (the BPO's coaching of an agent): their positive
# controls ask as a BPO admin.
BPO_READ = {"quality_reports.AgentCoaching"}

_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def nowhere_value(param: str):
    """A value of a path parameter that names nothing: a fresh id, or for a version's number
    (`<int:number>`) one no scorecard reaches."""
    return 999_999 if param == "number" else uuid.uuid4()


_CALLERS = ("client_admin", "client_viewer", "integration", "supervisor", "agent")
# An agent assigned to one of B's queues: reaches B, and B only through that queue.
AGENT_OF_B = "agent_of_b"


@dataclass
class Firm:
    """A tenant with one object of every kind a path parameter can name."""

    tenant: Tenant
    user: User  # a client user of the tenant
    api_client: ApiClient  # an integration client of the tenant
    objects: dict[str, uuid.UUID] = field(default_factory=dict)  # the rest, by path parameter
    secrets: set[str] = field(default_factory=set)  # everything that identifies the firm

    def param(self, name: str) -> uuid.UUID:
        """This firm's object for a path parameter, or fail telling how to map a new one."""
        objects = {
            "tenant_id": self.tenant.id,
            "user_id": self.user.id,
            "api_client_id": self.api_client.id,
            **self.objects,
        }
        assert name in objects, (
            f"path parameter <{name}> has no object in tests/test_isolation.py: create one in "
            f"_firm() and map it in Firm.param() so the isolation matrix covers the route"
        )
        return objects[name]


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    method: str
    params: tuple[str, ...]  # in path order

    def path(self, values: dict[str, uuid.UUID]) -> str:
        path = _PARAM.sub(lambda m: str(values[m.group(1)]), self.rule)
        query = QUERIES.get(self.endpoint)
        return f"{path}?{query}" if query else path

    @property
    def extra_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p != "tenant_id")


# --- set-up ----------------------------------------------------------------------------------


def tenant_routes(app) -> list[Route]:
    """Every method of every route under /v1/tenants/{tenant_id}, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] == "web":
            continue  # the web app's pages: tests/test_web_isolation.py
        if "tenant_id" in rule.arguments:
            assert rule.rule.startswith(PREFIX), (
                f"{rule.rule} takes a tenant_id outside {PREFIX}: extend the isolation matrix"
            )
        if not rule.rule.startswith(PREFIX):
            continue
        params = tuple(_PARAM.findall(rule.rule))
        for method in sorted(rule.methods - SKIPPED_METHODS):
            routes.append(Route(rule.rule, rule.endpoint, method, params))
    return routes


def _firm(app, factory, label: str) -> Firm:
    """A fully onboarded tenant (calendar, queues, departments, SLA policy, rate card) with a
    client user, an integration client, a briefing and an export, all traceable to it."""
    tag = uuid.uuid4().hex[:8]
    with app.app_context():
        onboarded = onboarding_service.onboard(
            onboarding_in={
                "slug": f"{label}-{tag}",
                "name": f"Firm {label.upper()} {tag}",
                "time_zone": "Europe/Madrid",
                "locale": "es-ES",
                "currency": "EUR",
            },
            actor=tenants_service.SYSTEM,
        )
        db.session.commit()
        tenant = onboarded.tenant
    user = factory.user(
        "client_viewer", tenant, email=f"{label}-viewer-{tag}@{label}-{tag}.test", password=None
    )
    with app.app_context(), tenant_scope(tenant.id):
        api_client, _secret = tenants_service.create_api_client(
            name=f"{label} integration {tag}",
            scope="contacts:read",
            tenant_id=tenant.id,
            actor=tenants_service.SYSTEM,
        )
        queue = onboarded.queues[0]
        briefing = queues_service.create_briefing(
            briefing_in={
                "title": f"{label} briefing {tag}",
                "body": f"{label} outage {tag}",
                "effective_from": utcnow(),
                "queue_ids": [queue.id],
            },
            actor=tenants_service.SYSTEM,
        )
        now = utcnow()
        contact = Contact(
            channel="email",
            direction="inbound",
            category="complaint",
            priority="normal",
            priority_rank=2,
            subject=f"{label} complaint {tag}",
            customer_email=f"customer-{tag}@{label}-{tag}.test",
            queue_id=queue.id,
            status="queued",
            status_since=now,
            received_at=now,
            queued_at=now,
        )
        db.session.add(contact)
        db.session.flush()
        contacts_events.created(contact, at=now)  # in the firm's log and its event stream
        event = ContactEvent(contact_id=contact.id, action="create", to_status="queued")
        # The end customer's message: in every reader's view of the thread (notes are not).
        message = ContactMessage(
            contact_id=contact.id,
            kind="inbound",
            channel="email",
            body=f"{label} parcel {tag}",
            body_format="text",
        )
        db.session.add_all([event, message])
        db.session.flush()
        endpoint = webhooks_service.create(
            endpoint_in={"url": f"https://{label}-{tag}.example/hooks"},
            actor=tenants_service.SYSTEM,
        )
        delivery = webhooks_service.ping(endpoint=endpoint)
        # Billing: a usage record of the contact (January 2025) and a frozen invoice.
        handled = datetime(2025, 1, 15, 12, tzinfo=UTC)
        usage = UsageRecord(
            contact_id=contact.id,
            period="2025-01",
            handled_at=handled,
            channel="email",
            category="complaint",
            direction="inbound",
            rate_card_id=onboarded.rate_card.id,
            currency="EUR",
            unit_amount=150,
        )
        invoice = Invoice(period="2024-12", currency="EUR", closed_at=handled)
        db.session.add_all([usage, invoice])
        db.session.flush()
        export = tenants_service.create_export(
            tenant=db.session.get(Tenant, tenant.id), actor=tenants_service.SYSTEM
        )
        quality = _quality_of(contact, label, tag)
        campaign = _campaign_of(queue, label, tag)
        # The client user has no password yet: invited to set one.
        invitation = accounts_service.invite(
            invitation_in={"email": user.email, "name": user.name, "role": "client_viewer"},
            tenant=db.session.get(Tenant, tenant.id),
            actor=tenants_service.SYSTEM,
        ).token
        db.session.commit()
    department = onboarded.departments[0]
    # An agent serving the firm's queue: the one a supervisor coaches there.
    agent_user = factory.user("agent", password=None)
    with app.app_context():
        with unscoped():
            agent = Agent(user_id=agent_user.id, channels=["email"], concurrency={"email": 1})
            db.session.add(agent)
            db.session.flush()
        with tenant_scope(tenant.id):
            db.session.add(Assignment(agent_id=agent.id, queue_id=queue.id))
        db.session.commit()
        agent_id = agent.id
    firm = Firm(
        tenant=tenant,
        user=user,
        api_client=api_client,
        objects={
            "queue_id": queue.id,
            "briefing_id": briefing.id,
            "department_id": department.id,
            "sla_policy_id": onboarded.sla_policy.id,
            "export_id": export.id,
            "contact_id": contact.id,
            "endpoint_id": endpoint.id,
            "delivery_id": delivery.id,
            "usage_id": usage.id,
            "invoice_id": invoice.id,
            "invitation_id": invitation.id,
            **quality["objects"],
            **campaign["objects"],
            "agent_id": agent_id,
        },
    )
    firm.secrets |= {
        str(tenant.id),
        tenant.slug,
        tenant.name,
        str(user.id),
        user.email,
        user.name,
        str(api_client.id),
        api_client.client_id,
        api_client.name,
        str(queue.id),
        str(briefing.id),
        briefing.title,
        str(department.id),
        str(onboarded.sla_policy.id),
        str(onboarded.calendar.id),
        str(onboarded.rate_card.id),
        str(export.id),
        str(contact.id),
        str(event.id),
        str(message.id),
        message.body,
        contact.subject,
        contact.customer_email,
        str(endpoint.id),
        endpoint.url,
        str(invitation.id),
        endpoint.secret,
        str(delivery.id),
        str(usage.id),
        str(invoice.id),
        *quality["secrets"],
        *campaign["secrets"],
    }
    return firm


def _campaign_of(queue, label: str, tag: str) -> dict:
    """The firm's campaign with a list loaded (one record) and an entry of its register."""
    from app.campaigns import lists as campaign_lists
    from app.campaigns import register as campaign_register
    from app.campaigns import service as campaigns_service
    from app.campaigns.models import CampaignRecord

    campaign = campaigns_service.create_campaign(
        campaign_in={
            "name": f"{label} campaign {tag}",
            "purpose": "survey",
            "channel": "email",
            "category": "information_request",
            "queue_id": queue.id,
            "script": "",
            "dispositions": [{"code": "done", "label": "Done", "reached": True}],
            "weekdays": [1, 2, 3, 4, 5],
            "window_start": "09:00",
            "window_end": "20:00",
            "skip_holidays": True,
            "max_attempts": 3,
            "retry_delay_minutes": 60,
            "starts_on": date(2026, 1, 1),
            "ends_on": None,
        },
        actor=tenants_service.SYSTEM,
    )
    batch = campaign_lists.load(
        campaign=campaign,
        name=f"{label} list {tag}",
        rows=[
            (
                2,
                {
                    "name": f"{label} lead {tag}",
                    "email": f"lead-{tag}@{label}.test",
                    "country": "PE",
                },
            )
        ],
        actor=tenants_service.SYSTEM,
    )
    record = db.session.scalar(
        select(CampaignRecord).where(CampaignRecord.campaign_id == campaign.id)
    )
    entry = campaign_register.add(
        kind="email",
        value=f"nobody-{tag}@{label}.test",
        actor=tenants_service.SYSTEM,
        tenant_id=queue.tenant_id,
    )
    return {
        "objects": {"campaign_id": campaign.id, "record_id": record.id, "entry_id": entry.id},
        "secrets": {
            str(campaign.id),
            campaign.name,
            str(batch.id),
            str(record.id),
            record.name,
            str(entry.id),
            entry.value,
        },
    }


def _quality_of(contact, label: str, tag: str) -> dict:
    """The firm's scorecard, a submitted review of its contact (with its answers), the firm's
    submitted calibration of it, and the agent's open dispute: one of each quality object a
    path names (`number`: the scorecard's version)."""
    from app.quality import evaluations as quality_evaluations
    from app.quality import service as quality_service
    from app.quality.models import Dispute, Evaluation

    card = quality_service.create_scorecard(
        scorecard_in={
            "name": f"{label} card {tag}",
            "sections": QUALITY_SECTIONS,
            "passing_score_bps": 8000,
        },
        actor=tenants_service.SYSTEM,
    )
    version = quality_service.current_version(scorecard_id=card.id)
    rule = quality_service.set_sampling_rule(
        rule_in={"per_agent_per_week": 3, "percent_bps": 500, "complaint_percent_bps": None},
        actor=tenants_service.SYSTEM,
    )
    made = {}
    for purpose, reason in (("review", "chosen"), ("calibration", "calibration")):
        made[purpose] = Evaluation(
            contact_id=contact.id,
            queue_id=contact.queue_id,
            scorecard_version_id=version.id,
            purpose=purpose,
            reason=reason,
            state="in_progress",
            calibration_of_id=made["review"].id if purpose == "calibration" else None,
        )
        db.session.add(made[purpose])
        db.session.flush()
        quality_evaluations._score(
            made[purpose],
            answers=QUALITY_ANSWERS,
            comment=f"{label} {purpose} comment {tag}",
            user_id=None,
        )
    dispute = Dispute(
        evaluation_id=made["review"].id,
        raised_by_user_id=uuid.uuid4(),
        reason=f"{label} dispute {tag}",
        state="open",
    )
    db.session.add(dispute)
    db.session.flush()
    return {
        "objects": {
            "scorecard_id": card.id,
            "number": 1,
            "evaluation_id": made["review"].id,
            "dispute_id": dispute.id,
        },
        "secrets": {
            str(card.id),
            card.name,
            str(rule.id),
            str(version.id),
            str(made["review"].id),
            str(made["calibration"].id),
            str(dispute.id),
            dispute.reason,
            made["review"].comment,
            made["calibration"].comment,
        },
    }


def _agent_of(app, factory, firm: Firm):
    """An agent caller assigned to one of the firm's queues."""
    caller = factory.caller("agent")
    with app.app_context():
        # The agent profile belongs to the BPO, not to a tenant.
        with unscoped():
            agent = Agent(user_id=caller.user_id, channels=["voice"], concurrency={"voice": 1})
            db.session.add(agent)
        with tenant_scope(firm.tenant.id):
            db.session.add(Assignment(agent_id=agent.id, queue_id=firm.param("queue_id")))
        db.session.commit()
    return caller


def _callers_of(app, factory, firm: Firm) -> dict[str, object]:
    """B's people and integration, a supervisor of B, an agent with no assignments, and an
    agent assigned to one of B's queues."""
    callers = {
        role: factory.caller(role, firm.tenant if role != "agent" else None) for role in _CALLERS
    }
    callers[AGENT_OF_B] = _agent_of(app, factory, firm)
    return callers


def _snapshot(app, tenant_ids) -> dict:
    """Every row of these tenants, in every tenant-owned table (from the metadata) and the
    tenants table itself, so that no request of the matrix can change anything unnoticed."""
    ids = list(tenant_ids)
    tables = sorted(
        {m.class_.__table__ for m in Base.registry.mappers if is_tenant_owned(m.class_)},
        key=lambda t: t.name,
    )
    with app.app_context():
        # The test compares every tenant's rows before and after.
        with unscoped():
            rows = {
                table.name: frozenset(
                    tuple(str(v) for v in row)
                    for row in db.session.execute(select(table).where(table.c.tenant_id.in_(ids)))
                )
                for table in tables
            }
            rows["tenants"] = frozenset(
                tuple(str(v) for v in row)
                for row in db.session.execute(
                    select(Tenant.__table__).where(Tenant.__table__.c.id.in_(ids))
                )
            )
            intruders = db.session.scalars(
                select(User.email).where(User.email == BODIES[("users.Users", "POST")]["email"])
            ).all()
    return {"rows": rows, "intruders": intruders}


# --- requests --------------------------------------------------------------------------------


def _send(client, caller, route: Route, values: dict[str, uuid.UUID]):
    headers = dict(caller.headers)
    kwargs = {}
    if route.method in BODY_METHODS:
        key = (route.endpoint, route.method)
        assert key in BODIES, (
            f"{route.method} {route.rule} ({route.endpoint}) has no plausible body: add one to "
            "BODIES in tests/test_isolation.py"
        )
        kwargs["json"] = BODIES[key]
    if route.method != "GET":
        headers["If-Match"] = "*"
    return client.open(route.path(values), method=route.method, headers=headers, **kwargs)


def _shape(response) -> tuple:
    """What a caller learns from a response, minus what differs on every request."""
    body = response.get_json(silent=True)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("instance", "request_id")}
    return response.status_code, response.mimetype, body, response.headers.get("ETag")


def _leaks(response, secrets: set[str], sent: str) -> list[str]:
    """A's identifiers in the response that the caller did not send itself."""
    text = response.get_data(as_text=True).lower() + " " + str(dict(response.headers)).lower()
    return sorted(s for s in secrets if s.lower() not in sent.lower() and s.lower() in text)


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _check(failures, label, response, baseline, secrets, sent, allowed=(404,)) -> None:
    problems = []
    if response.status_code not in allowed:
        problems.append(f"status {response.status_code}, expected one of {allowed}")
    if response.mimetype != PROBLEM_JSON:
        problems.append(f"content type {response.mimetype}")
    if _shape(response) != _shape(baseline):
        problems.append(
            f"differs from the answer for ids that do not exist: {_brief(_shape(response))} "
            f"vs {_brief(_shape(baseline))}"
        )
    leaked = _leaks(response, secrets, sent)
    if leaked:
        problems.append(f"body or headers contain {leaked}")
    if problems:
        failures.append(f"{label} -> {response.status_code}: {'; '.join(problems)}")


def _probe(failures, client, who, caller, route, values, nowhere, secrets, allowed=(404,)):
    """Request `values` and ids that exist nowhere; record how the answers give A away."""
    path = route.path(values)
    label = f"{who}: {route.method} {path}"
    try:
        response = _send(client, caller, route, values)
        baseline = _send(client, caller, route, nowhere)
    except AssertionError:
        raise
    except Exception as exc:  # the request crashed: report it with the rest
        failures.append(f"{label} -> raised {exc!r}")
        return
    sent = f"{path} {BODIES.get((route.endpoint, route.method), '')}"
    _check(failures, label, response, baseline, secrets, sent, allowed)


# --- the matrix ------------------------------------------------------------------------------


# On PostgreSQL with the ORM filter on, then with row-level security alone; on SQLite (what
# `make run` serves) the ORM filter is the only wall.
ON_EACH_DATABASE = pytest.mark.parametrize(
    ("db_app", "orm_filter"),
    [("postgresql", True), ("postgresql", False), ("sqlite", True)],
    ids=["postgresql-orm-filter-on", "postgresql-rls-only", "sqlite"],
    indirect=["db_app"],
)


@ON_EACH_DATABASE
def test_tenant_b_callers_get_404_for_everything_of_tenant_a(
    db_app, db_client, db_factory, monkeypatch, orm_filter
):
    app, client, factory = db_app, db_client, db_factory
    # With the ORM filter off, PostgreSQL row-level security alone must hold the matrix.
    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", orm_filter)
    routes = tenant_routes(app)
    assert KNOWN_ROUTES <= {(r.method, r.rule) for r in routes}, "the URL map lost routes"
    a, b = _firm(app, factory, "a"), _firm(app, factory, "b")
    a_admin = factory.caller("client_admin", a.tenant)
    a.secrets |= {str(a_admin.user_id), a_admin.client_id}
    callers = _callers_of(app, factory, b)
    values_a = {p: a.param(p) for r in routes for p in r.params}
    values_b = {p: b.param(p) for r in routes for p in r.params}

    # Positive controls: the routes work and show A's data to A, and B's objects to B, so
    # the 404s below are not vacuous.
    bpo_admin = factory.caller("bpo_admin")
    for route in (r for r in routes if r.method == "GET"):
        reader = bpo_admin if route.endpoint in BPO_READ else a_admin
        own = client.get(route.path(values_a), headers=reader.headers)
        assert own.status_code == 200, (route.rule, own.status_code, own.get_json())
        if route.endpoint not in NO_IDENTIFIERS:
            assert _leaks(own, a.secrets, sent=""), (route.rule, own.data[:300])
        if route.extra_params:
            reader = bpo_admin if route.endpoint in BPO_READ else callers["client_admin"]
            theirs = client.get(route.path(values_b), headers=reader.headers)
            assert theirs.status_code == 200, (route.rule, theirs.get_json())

    before = _snapshot(app, [a.tenant.id, b.tenant.id])
    failures: list[str] = []
    for name, caller in callers.items():
        for route in routes:
            nowhere = {p: nowhere_value(p) for p in route.params}
            # A's tenant with A's objects: out of reach, whatever the caller's role.
            _probe(failures, client, f"B {name}", caller, route, values_a, nowhere, a.secrets)
            if not route.extra_params:
                continue
            # B's own tenant with A's objects: A's objects are not B's, so 404. A caller
            # whose role may not take the action at all gets 403 (SPEC section 2), which
            # says nothing about A as long as it is what an id that exists nowhere gets
            # (the comparison with `nowhere` in _check).
            _probe(
                failures,
                client,
                f"B {name} (own tenant)",
                caller,
                route,
                {**values_a, "tenant_id": b.tenant.id},
                {**nowhere, "tenant_id": b.tenant.id},
                a.secrets,
                allowed=(403, 404),
            )

    # Outside the matrix, the one list of tenants must not name A either.
    for name, caller in callers.items():
        listed = client.get("/v1/tenants", headers=caller.headers)
        leaked = _leaks(listed, a.secrets, sent="")
        if listed.status_code != 200 or leaked:
            failures.append(f"B {name}: GET /v1/tenants -> {listed.status_code}: {leaked}")

    assert not failures, "tenant A leaked to tenant B's callers:\n" + "\n".join(failures)
    after = _snapshot(app, [a.tenant.id, b.tenant.id])
    changed = sorted(t for t in before["rows"] if before["rows"][t] != after["rows"][t])
    assert not changed, f"the matrix changed rows of {changed}"
    assert after["intruders"] == []
