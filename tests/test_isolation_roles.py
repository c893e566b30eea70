"""The role matrix: every kind of caller against objects of three firms, on every /v1 route.

Callers: a BPO admin, a supervisor of A, an agent serving a queue of A and one of B, an agent
serving another queue of A only, and A's client admin, client viewer and integration. Targets:
the objects of firms A, B and C (C is served by no one but the BPO admin). What each role may do
is the table `MAY` below, read from SPEC section 2 and not imported from app/auth/permissions.py,
so that this test can disagree with the app. Each cell is one of: allowed (the call succeeds and
shows what the caller may see, and nothing else), 403 (the role may not take the action in this
firm, whatever the object) or 404 (the firm, or the object, is out of the caller's reach). The
matrix runs again with the app-level tenant filter off: PostgreSQL row-level security alone must
give every cell the same answer. It runs on SQLite too (what `make run` serves), once, with the
app-level filter as the only wall.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from app.accounts import service as accounts_service
from app.agents.models import Agent, Assignment
from app.contacts.models import Contact, ContactMessage
from app.db import db, utcnow
from app.quality import evaluations as quality_evaluations
from app.quality.models import Dispute, Evaluation, ScorecardVersion
from app.queues import service as queues_service
from app.webhooks.models import WebhookDelivery
from tenants import scoping
from tenants import service as tenants_service
from tenants.models import Membership, User
from tenants.scoping import tenant_scope, unscoped
from tests.test_isolation import (
    _PARAM,
    BODIES,
    BODY_METHODS,
    NO_IDENTIFIERS,
    ON_EACH_DATABASE,
    PREFIX,
    PROBLEM_JSON,
    QUALITY_ANSWERS,
    QUERIES,
    SKIPPED_METHODS,
    Firm,
    _brief,
    _firm,
    _leaks,
    _shape,
    _snapshot,
    nowhere_value,
)

FIRMS = ("a", "b", "c")
# Threads sending the matrix's requests (each waits on PostgreSQL most of its time).
WORKERS = 4

# --- who may do what (SPEC section 2), as this test reads it ---------------------------------

# What a route does, in the words of SPEC section 2. Every /v1 route and method must be here.
TENANT_ROUTES: dict[tuple[str, str], str] = {
    # A firm's profile and the settings its contacts are worked with: everyone serving the firm
    # reads them (contacts and reports name queues, departments and SLA targets).
    ("tenants.TenantById", "GET"): "firm.read",
    ("calendar.CalendarInForce", "GET"): "firm.read",
    ("calendar.CalendarVersions", "GET"): "firm.read",
    ("calendar.BusinessSeconds", "GET"): "firm.read",
    ("calendar.Due", "GET"): "firm.read",
    ("sla_policies.SlaPolicies", "GET"): "firm.read",
    ("sla_policies.SlaPolicyById", "GET"): "firm.read",
    ("queues.Queues", "GET"): "firm.read",
    ("queues.QueueById", "GET"): "firm.read",
    ("briefings.Briefings", "GET"): "firm.read",
    ("briefings.BriefingById", "GET"): "firm.read",
    ("departments.Departments", "GET"): "firm.read",
    ("departments.DepartmentById", "GET"): "firm.read",
    # Onboarding and running a firm (profile, lifecycle, queues, calendar, SLA, prices): the BPO.
    ("tenants.TenantById", "PATCH"): "firm.configure",
    ("tenants.TenantSuspend", "POST"): "firm.configure",
    ("tenants.TenantActivate", "POST"): "firm.configure",
    ("tenants.TenantOffboard", "POST"): "firm.configure",
    ("calendar.CalendarInForce", "PUT"): "firm.configure",
    ("sla_policies.SlaPolicies", "POST"): "firm.configure",
    ("sla_policies.SlaPolicyById", "PATCH"): "firm.configure",
    ("queues.Queues", "POST"): "firm.configure",
    ("queues.QueueById", "PATCH"): "firm.configure",
    ("queues.QueueById", "DELETE"): "firm.configure",
    ("rate_card.RateCardInForce", "PUT"): "firm.configure",
    # "manage their tenant's users and API clients, departments, briefings" (and the firm's
    # webhooks, which carry a signing secret).
    ("users.Users", "GET"): "people.read",
    ("users.UserById", "GET"): "people.read",
    ("api_clients.ApiClients", "GET"): "people.read",
    ("api_clients.ApiClientById", "GET"): "people.read",
    ("users.Users", "POST"): "people.manage",
    ("users.UserById", "PATCH"): "people.manage",
    ("api_clients.ApiClients", "POST"): "people.manage",
    ("api_clients.ApiClientById", "DELETE"): "people.manage",
    ("invitations.Invitations", "GET"): "people.read",
    ("invitations.InvitationById", "GET"): "people.read",
    ("invitations.Invitations", "POST"): "people.manage",
    ("invitations.InvitationById", "DELETE"): "people.manage",
    ("invitations.InvitationResend", "POST"): "people.manage",
    ("briefings.Briefings", "POST"): "settings.manage",
    ("briefings.BriefingById", "PATCH"): "settings.manage",
    ("briefings.BriefingById", "DELETE"): "settings.manage",
    ("departments.Departments", "POST"): "settings.manage",
    ("departments.DepartmentById", "PATCH"): "settings.manage",
    ("departments.DepartmentById", "DELETE"): "settings.manage",
    ("webhooks.WebhookEndpoints", "GET"): "settings.manage",
    ("webhooks.WebhookEndpoints", "POST"): "settings.manage",
    ("webhooks.WebhookEndpointById", "GET"): "settings.manage",
    ("webhooks.WebhookEndpointById", "PATCH"): "settings.manage",
    ("webhooks.WebhookEndpointById", "DELETE"): "settings.manage",
    ("webhooks.WebhookEndpointRotateSecret", "POST"): "settings.manage",
    ("webhooks.WebhookEndpointPing", "POST"): "settings.manage",
    ("webhooks.WebhookDeliveries", "GET"): "settings.manage",
    ("webhooks.WebhookDeliveryById", "GET"): "settings.manage",
    ("webhooks.WebhookDeliveryRetry", "POST"): "settings.manage",
    # "read everything of their tenant": the export, prices, invoices and usage.
    ("tenants.TenantExports", "GET"): "firm.export",
    ("tenants.TenantExportById", "GET"): "firm.export",
    # The end customer's rights, which the firm (the controller) answers: its client admin.
    ("data_subjects.DataSubjectExport", "POST"): "firm.export",
    ("data_subjects.DataSubjectErase", "POST"): "customers.erase",
    ("rate_card.RateCardInForce", "GET"): "billing.read",
    ("rate_card.RateCardVersions", "GET"): "billing.read",
    ("invoices.Invoices", "GET"): "billing.read",
    ("invoices.InvoiceById", "GET"): "billing.read",
    ("invoices.InvoicePreview", "GET"): "billing.read",
    ("invoices.Usage", "GET"): "billing.read",
    ("invoices.UsageVoid", "POST"): "billing.manage",
    # "read everything of their tenant": what was done to the firm's data (the audit log).
    ("tenant_audit.TenantAuditEntries", "GET"): "firm.audit",
    # Contacts.
    ("contacts.Contacts", "GET"): "contacts.read",
    ("contacts.ContactById", "GET"): "contacts.read",
    ("contacts.ContactEvents", "GET"): "contacts.read",
    ("contacts.ContactSla", "GET"): "contacts.read",
    ("messages.ContactMessages", "GET"): "contacts.read",
    ("contacts.Contacts", "POST"): "contacts.create",
    # A contact's thread: the end customer's messages come through the firm's integration,
    # replies and internal notes from the BPO's staff (which kind, each role: tested in
    # tests/test_contact_messages.py).
    ("messages.ContactMessages", "POST"): "contacts.message",
    # What the end customer did (came back, hung up, scored us): its integration reports it.
    ("contacts.ContactReopen", "POST"): "contacts.create",
    ("contacts.ContactAbandon", "POST"): "contacts.create",
    ("contacts.ContactCsat", "POST"): "contacts.create",
    # A batch of history is the firm's or the staff's, not an agent's.
    ("contacts.ContactImport", "POST"): "contacts.import",
    ("contacts.ContactAssign", "POST"): "contacts.assign",
    **{
        (f"contacts.Contact{name}", "POST"): "contacts.work"
        for name in (
            "Release",
            "Answer",
            "Respond",
            "Hold",
            "Resume",
            "WaitCustomer",
            "Transfer",
            "Escalate",
            "Resolve",
            "Close",
        )
    },
    # Reports (staffing sizes a queue from its figures).
    ("reports.SlaReport", "GET"): "reports.read",
    ("reports.ComplaintsRegister", "GET"): "reports.read",
    ("reports.AgentsReport", "GET"): "reports.read",
    ("reports.AgentTime", "GET"): "reports.read",
    ("queues.QueueStaffing", "GET"): "reports.read",
    ("quality_reports.QualityReport", "GET"): "quality.reports",
    ("quality_reports.CalibrationReport", "GET"): "quality.reports",
    # Outbound campaigns' figures: the firm's readers of reports and its supervisors, not its
    # agents (issue 19).
    ("campaign_reports.CampaignReport", "GET"): "campaign.reports",
    # Coaching an agent: those who coach (the BPO), not the firm.
    ("quality_reports.AgentCoaching", "GET"): "quality.coaching",
    # The firm's domain events as they happen: for its systems (and whoever manages them).
    ("events.EventStream", "GET"): "events.read",
    # Quality (issue 18): everyone serving or of the firm reads scorecards and evaluations (an
    # agent only its own reviews); the BPO sets scorecards up and reviews; the agent disputes;
    # the firm's client admin calibrates.
    ("scorecards.Scorecards", "GET"): "quality.read",
    ("scorecards.ScorecardById", "GET"): "quality.read",
    ("scorecards.ScorecardVersions", "GET"): "quality.read",
    ("scorecards.ScorecardVersionByNumber", "GET"): "quality.read",
    ("quality.SamplingRule", "GET"): "quality.read",
    ("quality.Evaluations", "GET"): "quality.read",
    ("quality.EvaluationById", "GET"): "quality.read",
    ("quality.Disputes", "GET"): "quality.read",
    ("quality.EvaluationCalibration", "GET"): "quality.calibration",
    ("scorecards.Scorecards", "POST"): "quality.configure",
    ("scorecards.ScorecardById", "PATCH"): "quality.configure",
    ("scorecards.ScorecardVersions", "POST"): "quality.configure",
    ("quality.SamplingRule", "PUT"): "quality.configure",
    ("quality.Evaluations", "POST"): "quality.review",
    ("quality.EvaluationClaim", "POST"): "quality.review",
    ("quality.EvaluationRelease", "POST"): "quality.review",
    ("quality.DisputeDecision", "POST"): "quality.review",
    ("quality.EvaluationSubmit", "POST"): "quality.score",
    ("quality.EvaluationDispute", "POST"): "quality.dispute",
    ("quality.EvaluationCalibration", "POST"): "quality.calibrate",
    ("quality.CalibrationCandidates", "GET"): "quality.calibrate",
    # Outbound campaigns: everyone serving the firm reads them (an agent works their scripts);
    # the BPO's staff and the firm's admin run them; lists (the customers' details) are loaded
    # by those and the firm's integration; the agent holding an attempt disposes of it.
    ("campaigns.Campaigns", "GET"): "campaigns.read",
    ("campaigns.CampaignById", "GET"): "campaigns.read",
    ("campaigns.Campaigns", "POST"): "campaigns.manage",
    ("campaigns.CampaignById", "PATCH"): "campaigns.manage",
    ("campaigns.CampaignStart", "POST"): "campaigns.manage",
    ("campaigns.CampaignPause", "POST"): "campaigns.manage",
    ("campaigns.CampaignFinish", "POST"): "campaigns.manage",
    ("campaigns.CampaignLists", "GET"): "campaigns.lists",
    ("campaigns.CampaignLists", "POST"): "campaigns.lists",
    ("campaigns.CampaignRecords", "GET"): "campaigns.lists",
    ("campaigns.CampaignRecordById", "GET"): "campaigns.lists",
    ("campaigns.AttemptDisposition", "POST"): "campaigns.dispose",
    # The firm's do-not-contact register: personal data, kept by those who run campaigns.
    ("campaigns.FirmRegister", "GET"): "dnc.read",
    ("campaigns.FirmRegister", "POST"): "dnc.manage",
    ("campaigns.FirmRegisterEntry", "DELETE"): "dnc.manage",
}

# Routes of the BPO level and the caller's own. The Stripe webhook is not called with a
# bearer token (Stripe signs it); it is the one /v1 route outside the matrix.
BPO_ROUTES: dict[tuple[str, str], str] = {
    ("tenants.Tenants", "GET"): "me",  # lists what the caller serves
    ("onboarding.TenantOnboarding", "POST"): "firm.configure",
    ("agents.Agents", "GET"): "agents.read",
    ("agents.Agents", "POST"): "agents.manage",
    ("agents.AgentById", "GET"): "agents.read",
    ("agents.AgentById", "PATCH"): "agents.manage",
    ("agents.AgentAssignments", "GET"): "agents.read",
    ("agents.AgentAssignments", "PUT"): "agents.manage",
    ("agents.AgentAssignmentByQueue", "PUT"): "agents.manage",
    ("agents.AgentAssignmentByQueue", "DELETE"): "agents.manage",
    ("agents.AgentTimeline", "GET"): "agents.read",
    ("supervisors.Supervisors", "GET"): "agents.manage",
    ("supervisors.SupervisorTenants", "GET"): "agents.manage",
    ("supervisors.SupervisorTenants", "PUT"): "agents.manage",
    ("me.Me", "GET"): "me",
    ("me.MyQueues", "GET"): "agent.work",
    ("me.MyActiveQueues", "PUT"): "agent.work",
    ("me.MyPresence", "PUT"): "agent.work",
    ("me.MyNextContact", "POST"): "agent.work",
    ("me.MyContacts", "GET"): "agent.work",
    ("my_coaching.MyCoaching", "GET"): "agent.work",
    ("portfolio.Portfolio", "GET"): "reports.portfolio",
    ("sla.AtRisk", "GET"): "reports.portfolio",
    ("wallboard.Wallboard", "GET"): "reports.portfolio",
    ("billing_periods.BillingPeriodClose", "POST"): "billing.manage",
    # The whole audit log, the BPO's own entries too: "everything" is the BPO admin's alone.
    ("audit.AuditEntries", "GET"): "audit.all",
    # "invite BPO staff": the BPO admin alone.
    ("platform_invitations.PlatformInvitations", "GET"): "staff.invite",
    ("platform_invitations.PlatformInvitations", "POST"): "staff.invite",
    ("platform_invitations.PlatformInvitationById", "GET"): "staff.invite",
    ("platform_invitations.PlatformInvitationById", "DELETE"): "staff.invite",
    ("platform_invitations.PlatformInvitationResend", "POST"): "staff.invite",
    # The BPO's own do-not-contact register: its admins'.
    ("bpo_do_not_contact.BpoRegister", "GET"): "dnc.bpo",
    ("bpo_do_not_contact.BpoRegister", "POST"): "dnc.bpo",
    ("bpo_do_not_contact.BpoRegisterEntry", "DELETE"): "dnc.bpo",
}
NOT_BEARER = {("stripe_webhook.StripeWebhook", "POST")}

_EVERYONE = {"me", "firm.read", "contacts.read"}
MAY: dict[str, set[str]] = {
    # "everything"
    # "everything" a firm or the BPO does; working as an agent takes an agent's profile.
    # Disputing is the evaluated agent's, calibrating the firm's own reviewer's.
    "bpo_admin": (set(TENANT_ROUTES.values()) | set(BPO_ROUTES.values()))
    - {"agent.work", "quality.dispute", "quality.calibrate", "campaigns.dispose"},
    # "read and act on contacts, queues and reports of those tenants; assign/reassign contacts"
    # (and, watching queues, who works them).
    "supervisor": _EVERYONE
    | {
        "contacts.create",
        "contacts.import",
        "contacts.work",
        "contacts.assign",
        "contacts.message",
        "reports.read",
        "reports.portfolio",
        "agents.read",
        "quality.read",
        "quality.calibration",
        "quality.configure",
        "quality.review",
        "quality.score",
        "quality.reports",
        "quality.coaching",
        "campaign.reports",
        "campaigns.read",
        "campaigns.manage",
        "campaigns.lists",
        "dnc.read",
        "dnc.manage",
    },
    # "see and work contacts of those queues only; switch active queue; claim next; presence"
    "agent": _EVERYONE
    | {
        "contacts.create",
        "contacts.work",
        "contacts.message",
        "agent.work",
        "quality.read",
        "quality.dispute",
        "campaigns.read",
        "campaigns.dispose",
    },
    # "read everything of their tenant; manage their tenant's users and API clients,
    # departments, briefings"
    "client_admin": _EVERYONE
    | {
        "people.read",
        "people.manage",
        "settings.manage",
        "firm.export",
        "customers.erase",
        "firm.audit",
        "billing.read",
        "reports.read",
        "quality.reports",
        "campaign.reports",
        "events.read",
        "quality.read",
        "quality.calibration",
        "quality.score",
        "quality.calibrate",
        "campaigns.read",
        "campaigns.manage",
        "campaigns.lists",
        "dnc.read",
        "dnc.manage",
    },
    # "read contacts and reports of their tenant"
    "client_viewer": _EVERYONE
    | {
        "reports.read",
        "quality.read",
        "quality.calibration",
        "quality.reports",
        "campaign.reports",
        "campaigns.read",
    },
    # "create and read contacts, read reports" (and, for outbound work, load lists and keep
    # the firm's register)
    "integration": _EVERYONE
    | {
        "contacts.create",
        "contacts.import",
        "contacts.message",
        "reports.read",
        "events.read",
        "campaigns.read",
        "campaigns.lists",
        "dnc.read",
        "dnc.manage",
    },
}

# The callers: role, firms served and, for agents, the queues served ("q0" holds each firm's
# contact, briefing and usage; "q1" is a second queue with its own contact and briefing).
CALLERS: dict[str, tuple[str, str, tuple[tuple[str, str], ...] | None]] = {
    "bpo_admin": ("bpo_admin", "abc", None),
    "supervisor_a": ("supervisor", "a", None),
    "agent_ab": ("agent", "ab", (("a", "q0"), ("b", "q0"))),
    "agent_a": ("agent", "a", (("a", "q1"),)),
    "client_admin_a": ("client_admin", "a", None),
    "client_viewer_a": ("client_viewer", "a", None),
    "integration_a": ("integration", "a", None),
}
# Path parameters naming an object of one queue: an agent reaches it only through that queue.
# A review (and its dispute) is of a contact of "q0": an agent reaches it as its own agent there.
# A campaign is worked by one queue's agents: an agent reaches it through that queue.
QUEUE_BOUND = {"contact_id", "queue_id", "briefing_id", "evaluation_id", "dispute_id"}
QUEUE_BOUND |= {"campaign_id"}
# Writes that check If-Match against the object they change: a stale one (412) proves the role
# and the object were accepted without changing anything.
ETAG_CHECKED = {
    ("tenants.TenantById", "PATCH"),
    ("queues.QueueById", "PATCH"),
    ("briefings.BriefingById", "PATCH"),
    ("departments.DepartmentById", "PATCH"),
    ("webhooks.WebhookEndpointById", "PATCH"),
    ("calendar.CalendarInForce", "PUT"),
    ("sla_policies.SlaPolicyById", "PATCH"),
    ("users.UserById", "PATCH"),
    ("rate_card.RateCardInForce", "PUT"),
    ("agents.AgentById", "PATCH"),
    ("agents.AgentAssignments", "PUT"),
    ("supervisors.SupervisorTenants", "PUT"),
    ("scorecards.ScorecardById", "PATCH"),
}
STALE = '"stale"'
# The state a contact must be in for each action to go through.
ACTION_FROM = {
    "Assign": "queued",
    "Release": "assigned",
    "Answer": "assigned",
    "Respond": "assigned",
    "Hold": "active",
    "Resume": "on_hold",
    "WaitCustomer": "active",
    "Transfer": "assigned",
    "Escalate": "active",
    "Resolve": "active",
    "Close": "resolved",
    "Reopen": "resolved",
    "Abandon": "queued",
    "Csat": "resolved",
}
_unique = itertools.count(1)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    method: str
    params: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.endpoint, self.method)

    @property
    def objects(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p != "tenant_id")

    def path(self, values: dict) -> str:
        path = _PARAM.sub(lambda m: str(values[m.group(1)]), self.rule)
        query = QUERIES.get(self.endpoint)
        return f"{path}?{query}" if query else path

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


@dataclass
class World:
    firms: dict[str, Firm]
    q1: dict[str, dict[str, uuid.UUID]]  # firm -> its second queue, contact and briefing
    secrets: dict[str, dict[str, set[str]]]  # firm -> "firm" | "q0" | "q1" -> identifiers
    callers: dict[str, object]
    agent_ids: dict[str, uuid.UUID]  # every agent profile made, by name
    lone_agent: dict[str, uuid.UUID] = field(default_factory=dict)  # firm -> agent serving it only
    supervisor: dict[str, uuid.UUID] = field(default_factory=dict)  # firm -> a supervisor user
    # Invitations to BPO roles, one per route that names one (by endpoint).
    platform_invitations: dict[str, uuid.UUID] = field(default_factory=dict)
    # An entry of the BPO's do-not-contact register (the one its DELETE takes off).
    bpo_entry: uuid.UUID | None = None

    @property
    def everything(self) -> set[str]:
        return {s for parts in self.secrets.values() for part in parts.values() for s in part}

    def reaches(self, caller: str, firm: str, queue: str | None = None) -> bool:
        _role, firms, queues = CALLERS[caller]
        if firm not in firms:
            return False
        return queue is None or queues is None or (firm, queue) in queues

    def visible(self, caller: str, firm: str) -> set[str]:
        """What the caller may see of one firm."""
        if not self.reaches(caller, firm):
            return set()
        parts = self.secrets[firm]
        return parts["firm"] | {
            s for q in ("q0", "q1") if self.reaches(caller, firm, q) for s in parts[q]
        }

    def hidden(self, caller: str, only_firm: str | None = None) -> set[str]:
        """What the caller must not learn: everything it may not see and, on a route of one
        firm, everything of the other firms."""
        shown = {s for f in FIRMS if only_firm in (None, f) for s in self.visible(caller, f)}
        return self.everything - shown


# --- set-up ----------------------------------------------------------------------------------


def _routes(app) -> tuple[list[Route], list[Route]]:
    """Every /v1 route and method from the URL map: (of a firm, of the BPO or the caller)."""
    tenant, bpo = [], []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        for method in sorted(rule.methods - SKIPPED_METHODS):
            route = Route(rule.rule, rule.endpoint, method, tuple(_PARAM.findall(rule.rule)))
            if route.key in NOT_BEARER:
                continue
            if rule.rule.startswith(PREFIX):
                assert route.key in TENANT_ROUTES, (
                    f"{route} ({route.endpoint}) is not in TENANT_ROUTES of "
                    "tests/test_isolation_roles.py: say which role may call it"
                )
                tenant.append(route)
            else:
                assert route.key in BPO_ROUTES, (
                    f"{route} ({route.endpoint}) is not in BPO_ROUTES of "
                    "tests/test_isolation_roles.py: say which role may call it"
                )
                bpo.append(route)
    return tenant, bpo


def _agent(app, user_id: uuid.UUID, queues: list[tuple[uuid.UUID, uuid.UUID]]) -> uuid.UUID:
    with app.app_context():
        # The agent profile belongs to the BPO, not to a tenant.
        with unscoped():
            agent = Agent(
                user_id=user_id,
                channels=["voice", "chat", "email"],
                concurrency={"voice": 1, "chat": 3, "email": 5},
            )
            db.session.add(agent)
        for tenant_id, queue_id in queues:
            with tenant_scope(tenant_id):
                db.session.add(Assignment(agent_id=agent.id, queue_id=queue_id))
        db.session.commit()
        return agent.id


def _second_queue(app, firm: Firm, label: str) -> dict[str, uuid.UUID]:
    """Another queue of the firm with a contact and a briefing of its own."""
    tag = uuid.uuid4().hex[:8]
    with app.app_context(), tenant_scope(firm.tenant.id):
        queue = queues_service.create(
            queue_in={"name": f"Back office {tag}", "channels": ["voice", "chat", "email"]},
            actor=tenants_service.SYSTEM,
        )
        briefing = queues_service.create_briefing(
            briefing_in={
                "title": f"{label} q1 briefing {tag}",
                "body": "Read me",
                "effective_from": utcnow(),
                "queue_ids": [queue.id],
            },
            actor=tenants_service.SYSTEM,
        )
        contact = _contact(queue.id, f"{label} q1 contact {tag}", "queued")
        # A campaign of this queue: what an agent serving only q1 sees of the firm's campaigns.
        from app.campaigns.models import Campaign

        template = db.session.get(Campaign, firm.param("campaign_id"))
        campaign = Campaign(
            **{
                c.key: getattr(template, c.key)
                for c in Campaign.__table__.columns
                if c.key not in ("id", "tenant_id", "name", "queue_id", "created_at", "updated_at")
            },
            name=f"{label} q1 campaign {tag}",
            queue_id=queue.id,
        )
        db.session.add(campaign)
        db.session.commit()
        return {
            "queue_id": queue.id,
            "briefing_id": briefing.id,
            "contact_id": contact.id,
            "campaign_id": campaign.id,
            "campaign_name": campaign.name,
        }


def _contact(queue_id, subject: str, status: str, agent_id=None, channel="chat") -> Contact:
    """A contact in `status`, with what that status implies already set."""
    now = utcnow()
    earlier = now - timedelta(minutes=10)
    held = status not in ("queued", "abandoned")
    contact = Contact(
        channel=channel,
        direction="inbound",
        category="complaint",
        priority="normal",
        priority_rank=2,
        subject=subject,
        customer_email=f"{uuid.uuid4().hex[:10]}@customers.test",
        queue_id=queue_id,
        agent_id=agent_id if held else None,
        status=status,
        status_since=earlier,
        received_at=earlier,
        queued_at=earlier,
        assigned_at=earlier if held else None,
        answered_at=earlier if held and status != "assigned" else None,
        resolved_at=earlier if status in ("resolved", "closed") else None,
        disposition="done" if status in ("resolved", "closed") else None,
        resolution_note="Done" if status in ("resolved", "closed") else None,
    )
    db.session.add(contact)
    db.session.flush()
    return contact


def _review(contact: Contact, agent_id, *, state="submitted", reviewer=None, disputed=False):
    """A review of the contact by this agent on the firm's scorecard: queued, in progress
    (claimed by `reviewer`) or submitted (and disputed, when told); (review, dispute)."""
    version = db.session.scalars(select(ScorecardVersion)).first()
    review = Evaluation(
        contact_id=contact.id,
        agent_id=agent_id,
        queue_id=contact.queue_id,
        scorecard_version_id=version.id,
        purpose="review",
        reason="chosen",
        state="in_progress",
        reviewer_user_id=reviewer,
    )
    db.session.add(review)
    db.session.flush()
    dispute = None
    if state == "submitted":
        quality_evaluations._score(
            review, answers=QUALITY_ANSWERS, comment="Scored", user_id=reviewer
        )
    else:
        review.state = state
    if disputed:
        dispute = Dispute(
            evaluation_id=review.id, raised_by_user_id=uuid.uuid4(), reason="Heard", state="open"
        )
        db.session.add(dispute)
    db.session.flush()
    return review, dispute


def _fresh_quality(app, world, route: Route, caller: str, firm: str, values: dict) -> dict:
    """A fresh object for each quality write, in the state the write takes it from."""
    f = world.firms[firm]
    user_id = world.callers[caller].user_id
    role = CALLERS[caller][0]
    name = route.endpoint.removeprefix("quality.")
    with app.app_context(), tenant_scope(f.tenant.id):
        holder = _holder(world, caller, firm)
        contact = _contact(_own_queue(world, caller, firm), f"fresh {name}", "resolved", holder)
        if name == "Evaluations":
            values["__body__"] = {"contact_id": str(contact.id)}
        elif name == "EvaluationClaim":
            values["evaluation_id"] = _review(contact, holder, state="queued")[0].id
        elif name == "EvaluationRelease" or (name == "EvaluationSubmit" and role != "client_admin"):
            review, _ = _review(contact, holder, state="in_progress", reviewer=user_id)
            values["evaluation_id"] = review.id
        elif name == "EvaluationSubmit":
            review, _ = _review(contact, holder)
            calibration = quality_evaluations._another_scoring(
                review,
                purpose="calibration",
                reason="calibration",
                user_id=user_id,
                calibration_of_id=review.id,
            )
            db.session.add(calibration)
            db.session.flush()
            values["evaluation_id"] = calibration.id
        elif name in ("EvaluationDispute", "EvaluationCalibration"):
            values["evaluation_id"] = _review(contact, holder)[0].id
        elif name == "DisputeDecision":
            values["dispute_id"] = _review(contact, holder, disputed=True)[1].id
        db.session.commit()
    return values


def _world(app, factory) -> World:
    firms = {label: _firm(app, factory, label) for label in FIRMS}
    q1 = {label: _second_queue(app, firm, label) for label, firm in firms.items()}
    callers, agent_ids = {}, {}
    for name, (role, served, queues) in CALLERS.items():
        on = firms[served[0]].tenant if role not in ("bpo_admin", "agent") else None
        caller = factory.caller(role, on)
        callers[name] = caller
        if role == "agent":
            agent_ids[name] = _agent(
                app,
                caller.user_id,
                [
                    (
                        firms[f].tenant.id,
                        firms[f].param("queue_id") if q == "q0" else q1[f]["queue_id"],
                    )
                    for f, q in queues
                ],
            )
    world = World(firms=firms, q1=q1, secrets={}, callers=callers, agent_ids=agent_ids)
    for endpoint in (
        "platform_invitations.PlatformInvitationById",
        "platform_invitations.PlatformInvitationResend",
    ):
        with app.app_context(), unscoped():
            # Invitations to BPO roles belong to no firm.
            world.platform_invitations[endpoint] = accounts_service.invite(
                invitation_in={
                    "email": f"staff-{uuid.uuid4().hex[:8]}@example.test",
                    "name": "Invited agent",
                    "role": "agent",
                },
                tenant=None,
                actor=tenants_service.SYSTEM,
            ).token.id
            db.session.commit()
    with app.app_context():
        from app.campaigns import register as campaign_register

        world.bpo_entry = campaign_register.add(
            kind="email",
            value=f"nobody-{uuid.uuid4().hex[:8]}@bpo.test",
            actor=tenants_service.SYSTEM,
        ).id
        db.session.commit()
    for label, firm in firms.items():
        # Targets of /v1/agents/{agent_id} and /v1/supervisors/{user_id}: staff of one firm.
        if label == "a":
            world.lone_agent[label] = agent_ids["agent_a"]
        else:
            user = factory.user("agent", None, password=None)
            world.lone_agent[label] = _agent(
                app,
                user.id,
                [(firm.tenant.id, firm.param("queue_id")), (firm.tenant.id, q1[label]["queue_id"])],
            )
        world.supervisor[label] = factory.user("supervisor", firm.tenant, password=None).id
        # Each firm's contact is held by the agent serving its queue, so that agent may act on it.
        holder = agent_ids["agent_ab"] if label in "ab" else None
        with app.app_context(), tenant_scope(firm.tenant.id):
            contact = db.session.get(Contact, firm.param("contact_id"))
            contact.status, contact.agent_id, contact.assigned_at = (
                ("assigned", holder, utcnow()) if holder else ("queued", None, None)
            )
            db.session.commit()
            c1 = db.session.get(Contact, q1[label]["contact_id"])
            briefing1 = queues_service.get_briefing(briefing_id=q1[label]["briefing_id"])
            # The firm's review is of its q0 contact, by the agent holding it; firm A's q1
            # contact has a review (and a dispute) of agent_a's, the one agent_a sees.
            review = db.session.get(Evaluation, firm.param("evaluation_id"))
            review.agent_id = holder
            calibrations = db.session.scalars(
                select(Evaluation).where(Evaluation.calibration_of_id == review.id)
            ).all()
            quality_q0 = {str(review.id), str(firm.param("dispute_id")), review.comment}
            quality_q0 |= {str(e.id) for e in calibrations} | {e.comment for e in calibrations}
            quality_q1 = set()
            if label == "a":
                q1_review, q1_dispute = _review(c1, agent_ids["agent_a"], disputed=True)
                quality_q1 = {str(q1_review.id), str(q1_dispute.id)}
            db.session.commit()
            q1_secrets = quality_q1 | {
                str(q1[label]["campaign_id"]),
                q1[label]["campaign_name"],
                str(q1[label]["queue_id"]),
                str(q1[label]["briefing_id"]),
                str(c1.id),
                c1.subject,
                c1.customer_email,
                briefing1.title,
            }
            briefing0 = queues_service.get_briefing(briefing_id=firm.param("briefing_id"))
            messages = db.session.scalars(
                select(ContactMessage).where(ContactMessage.contact_id == contact.id)
            ).all()
            q0_secrets = quality_q0 | {
                *(str(m.id) for m in messages),
                *(m.body for m in messages),
                str(firm.param("queue_id")),
                str(firm.param("briefing_id")),
                briefing0.title,
                str(contact.id),
                contact.subject,
                contact.customer_email,
            }
        world.secrets[label] = {
            "firm": firm.secrets - q0_secrets,
            "q0": q0_secrets,
            "q1": q1_secrets,
        }
    return world


# --- expectations ----------------------------------------------------------------------------


def expected(world: World, caller: str, route: Route, firm: str, objects: str) -> int | str:
    """The answer SPEC gives `caller` for `route` in `firm`'s URL with `objects`' ids."""
    role = CALLERS[caller][0]
    if not world.reaches(caller, firm):
        return 404
    if TENANT_ROUTES[route.key] not in MAY[role]:
        return 403
    if route.objects and objects != firm:
        return 404
    if any(p in QUEUE_BOUND for p in route.objects) and not world.reaches(caller, firm, "q0"):
        return 404
    return "allowed"


def _values(world: World, route: Route, firm: str, objects: str) -> dict:
    values = {p: world.firms[objects].param(p) for p in route.params}
    values["tenant_id"] = world.firms[firm].tenant.id
    return values


def _nowhere(world: World, route: Route, firm: str | None) -> dict:
    values = {p: nowhere_value(p) for p in route.params}
    if firm is not None:
        values["tenant_id"] = world.firms[firm].tenant.id
    return values


# --- requests --------------------------------------------------------------------------------


def _request(client, caller, route: Route, values: dict, *, body=None, if_match="*", **kw):
    headers = dict(caller.headers)
    if route.method != "GET":
        headers["If-Match"] = if_match
    if route.method in BODY_METHODS and body is None and "data" not in kw:
        assert route.key in BODIES, f"{route} has no plausible body in tests/test_isolation.py"
        body = BODIES[route.key]
    if body is not None:
        kw["json"] = body
    return client.open(route.path(values), method=route.method, headers=headers, **kw)


class Findings(list):
    def add(self, label: str, response, problems: list[str]) -> None:
        if problems:
            self.append(f"{label} -> {response.status_code}: {'; '.join(problems)}")


def _masked(response) -> tuple:
    """What a caller learns from a response, with the ids it sent (echoed in field errors)
    made alike; `_leaks` separately checks that no id it did not send is there."""
    status, mimetype, body, etag = _shape(response)
    return status, mimetype, _UUID.sub("<id>", json.dumps(body, sort_keys=True)), etag


def _refusal(findings, label, response, baseline, status: int, hidden: set[str], sent: str):
    """A refusal must be `status`, problem+json, and say no more than for ids of nowhere."""
    problems = []
    if response.status_code != status:
        problems.append(f"expected {status}: {_brief(response.get_json(silent=True))}")
    if response.mimetype != PROBLEM_JSON:
        problems.append(f"content type {response.mimetype}")
    if baseline is not None and _masked(response) != _masked(baseline):
        problems.append(
            f"differs from the answer for ids of nowhere: {_brief(_masked(response))} "
            f"vs {_brief(_masked(baseline))}"
        )
    leaked = _leaks(response, hidden, sent)
    if leaked:
        problems.append(f"body or headers contain {leaked}")
    findings.add(label, response, problems)


def _success(findings, label, response, statuses, hidden, shown, sent, identify=True):
    """An allowed call must succeed, show something the caller may see, and nothing else."""
    problems = []
    if response.status_code not in statuses:
        problems.append(
            f"expected {statuses}: {_brief(response.get_json(silent=True) or response.data)}"
        )
    leaked = _leaks(response, hidden, sent)
    if leaked:
        problems.append(f"body or headers contain {leaked}")
    if identify and response.status_code < 300 and not _leaks(response, shown, sent=""):
        problems.append(f"shows none of what it should: {_brief(response.data[:300])}")
    problems += _counted_beyond_items(response)
    findings.add(label, response, problems)


def _counted_beyond_items(response) -> list[str]:
    """A total is data too: a single page must count exactly the items it shows."""
    header = response.headers.get("X-Pagination")
    if response.status_code != 200 or header is None:
        return []
    pagination, items = json.loads(header), response.get_json()
    if "next_page" in pagination or pagination["total"] == len(items):
        return []
    return [f"X-Pagination total {pagination['total']} for {len(items)} items on its only page"]


def _sent(route: Route, values: dict, body=None) -> str:
    return f"{route.path(values)} {body if body is not None else BODIES.get(route.key, '')}"


# --- the matrix of a firm's routes -----------------------------------------------------------


def _parallel(app, calls: list[tuple]) -> list:
    """Send (caller, route, values, kwargs) requests from a few threads, each with its own
    test client: the matrix is thousands of requests that mostly wait on PostgreSQL."""
    local = threading.local()

    def send(call):
        if not hasattr(local, "client"):
            local.client = app.test_client()
        caller, route, values, kwargs = call
        return _request(local.client, caller, route, values, **kwargs)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(send, calls))


def _refused_tenant_cells(app, world, routes, findings) -> int:
    cells, baselines = [], {}
    for name, caller in world.callers.items():
        role = CALLERS[name][0]
        for route in routes:
            for firm in FIRMS:
                reached = world.reaches(name, firm)
                # Where the firm or the role already refuses, whose objects are named cannot
                # matter; where the role is allowed, try the firm's objects and the others'.
                mixed = route.objects and reached and TENANT_ROUTES[route.key] in MAY[role]
                for objects in FIRMS if mixed else (firm,):
                    want = expected(world, name, route, firm, objects)
                    if want == "allowed":
                        continue
                    # A firm out of reach answers as a firm of nowhere does, for anyone.
                    key = (name, route, firm) if reached else (None, route, None)
                    if key not in baselines:
                        nowhere = _nowhere(world, route, firm if reached else None)
                        baselines[key] = (caller, route, nowhere, {})
                    values = _values(world, route, firm, objects)
                    label = f"{name}: {route} [{firm} url, {objects} objects]"
                    cells.append((label, (caller, route, values, {}), want, key))
    keys = list(baselines)
    answers = dict(zip(keys, _parallel(app, [baselines[k] for k in keys]), strict=True))
    responses = _parallel(app, [cell[1] for cell in cells])
    everything = world.everything
    for (label, (_c, route, values, _k), want, key), response in zip(cells, responses, strict=True):
        _refusal(findings, label, response, answers[key], want, everything, _sent(route, values))
    return len(cells)


def _allowed_tenant_reads(app, world, routes, findings) -> int:
    cells = []
    for name, caller in world.callers.items():
        for route in (r for r in routes if r.method == "GET"):
            for firm in FIRMS:
                if expected(world, name, route, firm, firm) == "allowed":
                    values = _values(world, route, firm, firm)
                    cells.append((name, firm, (caller, route, values, {})))
    responses = _parallel(app, [cell[2] for cell in cells])
    for (name, firm, (_c, route, values, _k)), response in zip(cells, responses, strict=True):
        _success(
            findings,
            f"{name}: {route} [{firm}]",
            response,
            (200,),
            world.hidden(name, only_firm=firm),
            world.visible(name, firm),
            _sent(route, values),
            identify=route.endpoint not in NO_IDENTIFIERS,
        )
    return len(cells)


def _fresh_body(route: Route, world: World, caller: str, firm: str) -> dict | None:
    """A body that makes this write go through for this caller in this firm."""
    n = next(_unique)
    f = world.firms[firm]
    body = copy.deepcopy(BODIES.get(route.key))
    if isinstance(body, dict):
        for key in ("name", "title"):
            if key in body:
                body[key] = f"{body[key]} {n}"
        if "email" in body:
            body["email"] = f"new-{n}-{uuid.uuid4().hex[:6]}@example.test"
        if "url" in body:
            body["url"] = f"https://hooks-{n}.example/hook"
    name = route.endpoint.removeprefix("contacts.Contact")
    if route.key == ("contacts.Contacts", "POST") and CALLERS[caller][0] == "agent":
        body |= {"direction": "outbound", "queue_id": str(_own_queue(world, caller, firm))}
    elif name == "Assign":
        body = {"agent_id": str(_holder(world, caller, firm))}
    elif name == "Transfer":
        body = {"queue_id": str(_own_queue(world, caller, firm, other=True))}
    elif name == "Escalate":
        body = {"department_id": str(f.param("department_id")), "note": "To logistics"}
    elif route.key == ("sla_policies.SlaPolicies", "POST"):
        body["is_default"] = False
    elif route.key == ("campaigns.Campaigns", "POST"):
        body["queue_id"] = str(f.param("queue_id"))
        body.pop("blend", None)
    elif route.key == ("campaigns.FirmRegister", "POST"):
        body["value"] = f"+34 6{n:08d}"
    elif route.key == ("campaigns.AttemptDisposition", "POST"):
        body = {"code": "done"}
    elif route.key == ("messages.ContactMessages", "POST"):
        # Each role's own kind: the customer's words, the holding agent's reply, a staff note.
        body["kind"] = {"integration": "inbound", "agent": "reply"}.get(CALLERS[caller][0], "note")
    return body


def _own_queue(world, caller, firm, other=False) -> uuid.UUID:
    q0, q1 = world.firms[firm].param("queue_id"), world.q1[firm]["queue_id"]
    mine = q0 if world.reaches(caller, firm, "q0") else q1
    if not other:
        return mine
    # An agent transfers within its own queues when it serves two; else to the other queue.
    return q1 if mine == q0 else q0


def _holder(world, caller, firm) -> uuid.UUID:
    """The agent a contact of this caller's in this firm is held by."""
    if CALLERS[caller][0] == "agent":
        return world.agent_ids[caller]
    return world.agent_ids["agent_ab"] if firm in "ab" else world.lone_agent[firm]


def _fresh_object(app, client, world, route: Route, caller: str, firm: str) -> dict:
    """Objects only this write touches, so that writes do not depend on one another."""
    f = world.firms[firm]
    values = _values(world, route, firm, firm)
    name = route.endpoint.removeprefix("contacts.Contact")
    if route.endpoint.startswith("contacts.Contact") and name in ACTION_FROM:
        holder = _holder(world, caller, firm)
        queue = _own_queue(world, caller, firm)
        status = ACTION_FROM[name]
        if CALLERS[caller][0] == "agent" and status == "queued":
            status = "assigned"  # what an agent acts on is held by it
        with app.app_context(), tenant_scope(f.tenant.id):
            channel = "email" if name == "Respond" else "chat"
            contact = _contact(queue, f"fresh {name}", status, holder, channel)
            db.session.commit()
            values["contact_id"] = contact.id
    elif route.endpoint.startswith("quality.") and route.method == "POST":
        values = _fresh_quality(app, world, route, caller, firm, values)
    elif route.endpoint in _CAMPAIGN_MOVES or route.key == ("campaigns.AttemptDisposition", "POST"):
        values = _fresh_campaign(app, world, route, caller, firm, values)
    elif route.key == ("webhooks.WebhookDeliveryRetry", "POST"):
        # Only a dead or delivered delivery is sent again.
        with app.app_context(), tenant_scope(f.tenant.id):
            db.session.get(WebhookDelivery, values["delivery_id"]).status = "dead"
            db.session.commit()
    elif route.method == "DELETE" or route.key in (
        ("webhooks.WebhookEndpointRotateSecret", "POST"),
        ("webhooks.WebhookEndpointPing", "POST"),
        ("invoices.UsageVoid", "POST"),
        ("invitations.InvitationResend", "POST"),
    ):
        # Made by the BPO admin through the API (a positive control of its own).
        param = route.objects[-1]
        maker_of = {
            "briefing_id": ("briefings.Briefings", "briefings"),
            "department_id": ("departments.Departments", "departments"),
            "endpoint_id": ("webhooks.WebhookEndpoints", "webhooks"),
            "api_client_id": ("api_clients.ApiClients", "api-clients"),
            "queue_id": ("queues.Queues", "queues"),
            "invitation_id": ("invitations.Invitations", "invitations"),
            "entry_id": ("campaigns.FirmRegister", "do-not-contact"),
        }
        if param == "usage_id":
            values[param] = _fresh_usage(app, world, firm)
        else:
            endpoint, path = maker_of[param]
            maker = Route(f"{PREFIX}/{path}", endpoint, "POST", ("tenant_id",))
            made = _request(
                client,
                world.callers["bpo_admin"],
                maker,
                values,
                body=_fresh_body(maker, world, "bpo_admin", firm),
            )
            assert made.status_code == 201, (maker, made.get_json())
            values[param] = made.get_json()["id"]
    return values


# A campaign's state moves: each takes a fresh campaign in the state it moves from.
_CAMPAIGN_MOVES = {
    "campaigns.CampaignStart": "draft",
    "campaigns.CampaignPause": "running",
    "campaigns.CampaignFinish": "running",
}


def _fresh_campaign(app, world, route: Route, caller: str, firm: str, values: dict) -> dict:
    """A campaign in the state the move takes it from, or an attempt of the firm's campaign
    held by the caller's agent (the one disposition takes)."""
    from app.campaigns.models import Campaign, CampaignRecord

    f = world.firms[firm]
    with app.app_context(), tenant_scope(f.tenant.id):
        template = db.session.get(Campaign, f.param("campaign_id"))
        if route.endpoint in _CAMPAIGN_MOVES:
            fresh = Campaign(
                **{
                    c.key: getattr(template, c.key)
                    for c in Campaign.__table__.columns
                    if c.key not in ("id", "tenant_id", "name", "created_at", "updated_at")
                },
                name=f"fresh {next(_unique)}",
            )
            fresh.state = _CAMPAIGN_MOVES[route.endpoint]
            db.session.add(fresh)
            db.session.flush()
            values["campaign_id"] = fresh.id
        else:
            record = db.session.get(CampaignRecord, f.param("record_id"))
            fresh = CampaignRecord(
                campaign_id=template.id,
                list_id=record.list_id,
                email=f"fresh-{next(_unique)}@customers.test",
                dedupe_key=f"fresh:{uuid.uuid4().hex}",
                time_zone=record.time_zone,
                state="in_progress",
                attempts=1,
            )
            db.session.add(fresh)
            db.session.flush()
            contact = _contact(
                template.queue_id,
                "fresh attempt",
                "assigned",
                _holder(world, caller, firm),
                "email",
            )
            contact.direction = "outbound"
            contact.campaign_id, contact.campaign_record_id = template.id, fresh.id
            fresh.current_contact_id = contact.id
            values["contact_id"] = contact.id
        db.session.commit()
    return values


def _fresh_usage(app, world, firm) -> uuid.UUID:
    from billing.models import UsageRecord

    f = world.firms[firm]
    with app.app_context(), tenant_scope(f.tenant.id):
        contact = _contact(f.param("queue_id"), "fresh usage", "closed", None)
        template = db.session.get(UsageRecord, f.param("usage_id"))
        # A month no test closes (the matrix closes January 2025).
        usage = UsageRecord(
            contact_id=contact.id,
            period="2025-03",
            handled_at=template.handled_at.replace(month=3),
            channel="chat",
            category="complaint",
            direction="inbound",
            rate_card_id=template.rate_card_id,
            currency=template.currency,
            unit_amount=150,
        )
        db.session.add(usage)
        db.session.commit()
        return usage.id


# Lifecycle actions run last, in this order, once per firm each.
_LAST = {
    ("tenants.TenantSuspend", "POST"): 1,
    ("tenants.TenantActivate", "POST"): 2,
    ("tenants.TenantOffboard", "POST"): 3,
}


def _allowed_tenant_writes(app, world, client, routes, findings) -> int:
    cells = 0
    writes = sorted(
        (r for r in routes if r.method != "GET"), key=lambda r: (_LAST.get(r.key, 0), r.rule)
    )
    for route in writes:
        for name, caller in world.callers.items():
            for firm in FIRMS:
                if expected(world, name, route, firm, firm) != "allowed":
                    continue
                cells += 1
                label = f"{name}: {route} [{firm}]"
                if route.key in ETAG_CHECKED:
                    values = _values(world, route, firm, firm)
                    response = _request(client, caller, route, values, if_match=STALE)
                    statuses = (412,)
                    sent = _sent(route, values)
                else:
                    values = _fresh_object(app, client, world, route, name, firm)
                    if route.key == ("campaigns.CampaignLists", "POST"):
                        csv = f"name,email,country\nLead,lead-{next(_unique)}@x.test,PE\n"
                        response = _request(
                            client, caller, route, values, data=csv, content_type="text/csv"
                        )
                        sent = _sent(route, values, csv)
                    elif route.key == ("contacts.ContactImport", "POST"):
                        csv = (
                            "external_id,channel,direction,category,subject,customer_email\n"
                            f"IMP-{next(_unique)},chat,inbound,suggestion,Imported,x@y.test\n"
                        )
                        response = _request(
                            client, caller, route, values, data=csv, content_type="text/csv"
                        )
                        sent = _sent(route, values, csv)
                    else:
                        body = values.pop("__body__", None) or _fresh_body(route, world, name, firm)
                        response = _request(client, caller, route, values, body=body)
                        sent = _sent(route, values, body)
                    statuses = (200, 201, 202, 204)
                    if route.key == ("contacts.ContactAbandon", "POST") and (
                        CALLERS[name][0] == "agent"
                    ):
                        # Only a waiting contact is abandoned, and an agent holds none.
                        statuses = (409,)
                _success(
                    findings,
                    label,
                    response,
                    statuses,
                    world.hidden(name, only_firm=firm),
                    set(),
                    sent,
                    identify=False,
                )
    return cells


# --- the BPO's routes and the caller's own ----------------------------------------------------


def _bpo_values(world: World, route: Route, firm: str | None) -> dict:
    """Path values of a BPO-level route aimed at one firm's staff (or at nothing)."""
    values = {}
    for p in route.params:
        if p == "agent_id":
            values[p] = world.lone_agent[firm] if firm else uuid.uuid4()
        elif p == "user_id":
            values[p] = world.supervisor[firm] if firm else uuid.uuid4()
        elif p == "queue_id":
            # Every firm's lone agent serves its second queue (firm A's, only that one).
            values[p] = world.q1[firm]["queue_id"] if firm else uuid.uuid4()
        elif p == "period":
            values[p] = "2025-01"
        elif p == "entry_id":
            values[p] = world.bpo_entry
        elif p == "invitation_id":
            # One invitation to a BPO role per route: a resend ends the one it resends.
            values[p] = world.platform_invitations[route.endpoint]
        else:
            raise AssertionError(f"{route}: map path parameter <{p}> in _bpo_values")
    return values


BPO_BODIES = {
    ("onboarding.TenantOnboarding", "POST"): lambda world, firm: {
        "slug": f"new-{uuid.uuid4().hex[:8]}",
        "name": "New firm",
        "time_zone": "Europe/Madrid",
        "locale": "es-ES",
        "currency": "EUR",
    },
    ("agents.Agents", "POST"): lambda world, firm: {
        "email": f"agent-{uuid.uuid4().hex[:8]}@example.test",
        "name": "New agent",
        "channels": ["chat"],
    },
    ("agents.AgentById", "PATCH"): lambda world, firm: {"name": "Renamed"},
    ("agents.AgentAssignments", "PUT"): lambda world, firm: {
        "assignments": [{"queue_id": str(world.firms[firm or "a"].param("queue_id"))}]
    },
    # DELETE runs first (methods in order), then this puts the assignment back.
    ("agents.AgentAssignmentByQueue", "PUT"): lambda world, firm: {"priority": 1},
    ("supervisors.SupervisorTenants", "PUT"): lambda world, firm: {
        "tenant_ids": [str(world.firms[firm or "a"].tenant.id)]
    },
    ("me.MyActiveQueues", "PUT"): lambda world, firm: {
        "queue_ids": [str(world.firms[firm].param("queue_id"))] if firm else [str(uuid.uuid4())]
    },
    ("me.MyPresence", "PUT"): lambda world, firm: {"presence": "available"},
    ("me.MyNextContact", "POST"): lambda world, firm: {},
    ("billing_periods.BillingPeriodClose", "POST"): lambda world, firm: {},
    ("platform_invitations.PlatformInvitations", "POST"): lambda world, firm: {
        "email": f"staff-{uuid.uuid4().hex[:8]}@example.test",
        "name": "New supervisor",
        "role": "supervisor",
    },
    ("platform_invitations.PlatformInvitationResend", "POST"): lambda world, firm: {},
    ("bpo_do_not_contact.BpoRegister", "POST"): lambda world, firm: {
        "kind": "email",
        "value": f"nobody-{uuid.uuid4().hex[:8]}@bpo.test",
    },
}
# Routes whose path or body names an object of one firm.
BPO_AIMED = {
    ("agents.AgentById", "GET"),
    ("agents.AgentById", "PATCH"),
    ("agents.AgentAssignments", "GET"),
    ("agents.AgentAssignments", "PUT"),
    ("agents.AgentAssignmentByQueue", "PUT"),
    ("agents.AgentAssignmentByQueue", "DELETE"),
    ("agents.AgentTimeline", "GET"),
    ("supervisors.SupervisorTenants", "GET"),
    ("supervisors.SupervisorTenants", "PUT"),
    ("me.MyActiveQueues", "PUT"),
}


def expected_bpo(world: World, caller: str, route: Route, firm: str | None) -> int | str:
    role = CALLERS[caller][0]
    if BPO_ROUTES[route.key] not in MAY[role]:
        return 403
    if firm is None:
        return "allowed"
    if route.key == ("me.MyActiveQueues", "PUT"):
        # The body names firm's q0: the caller's own queue, or one out of its reach.
        return "allowed" if world.reaches(caller, firm, "q0") else "refused"
    # The staff of a firm the caller does not serve are out of its reach.
    return "allowed" if world.reaches(caller, firm) else 404


def _bpo_cells(app, world, client, routes, findings, *, allowed: bool) -> int:
    cells = 0
    for name, caller in world.callers.items():
        for route in routes:
            aimed = route.key in BPO_AIMED
            for firm in FIRMS if aimed else (None,):
                want = expected_bpo(world, name, route, firm)
                if (want == "allowed") != allowed:
                    continue
                cells += 1
                values = _bpo_values(world, route, firm)
                make = BPO_BODIES.get(route.key)
                body = make(world, firm) if make else None
                label = f"{name}: {route} [{firm or '-'}]"
                sent = _sent(route, values, body)
                if not allowed:
                    base_values = _bpo_values(world, route, None)
                    base_body = make(world, None) if make else None
                    baseline = _request(client, caller, route, base_values, body=base_body)
                    response = _request(client, caller, route, values, body=body)
                    if want == "refused":
                        # A queue named in a body: refused like a queue of nowhere.
                        want = baseline.status_code if baseline.status_code in (404, 422) else 404
                    _refusal(findings, label, response, baseline, want, world.everything, sent)
                    continue
                stale = route.key in ETAG_CHECKED
                response = _request(
                    client, caller, route, values, body=body, if_match=STALE if stale else "*"
                )
                statuses = (412,) if stale else (200, 201, 204)
                if route.key == ("me.MyNextContact", "POST"):
                    statuses = (200, 409)  # 409: nothing to claim (presence, no work)
                _success(
                    findings,
                    label,
                    response,
                    statuses,
                    world.hidden(name),
                    world.visible(name, firm) if firm else set(),
                    sent,
                    # An agent's profile and (empty) day name no firm; its assignments do.
                    identify=route.key == ("agents.AgentAssignments", "GET"),
                )
    return cells


def _staff_snapshot(app) -> frozenset:
    """The BPO's own rows that refused calls could change: agents, users, memberships."""
    with app.app_context():
        # Staff rows span tenants (or none); the comparison covers all of them.
        with unscoped():
            return frozenset(
                tuple(str(v) for v in row)
                for model in (Agent, User, Membership)
                for row in db.session.execute(select(model.__table__))
            )


# --- the test --------------------------------------------------------------------------------


@ON_EACH_DATABASE
def test_every_role_reaches_exactly_what_spec_gives_it_in_firms_a_b_and_c(
    db_app, db_client, db_factory, monkeypatch, orm_filter
):
    app, client, factory = db_app, db_client, db_factory
    # With the ORM filter off, PostgreSQL row-level security alone must give every answer.
    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", orm_filter)
    tenant_routes, bpo_routes = _routes(app)
    world = _world(app, factory)
    tenant_ids = [f.tenant.id for f in world.firms.values()]
    findings = Findings()

    before = _snapshot(app, tenant_ids), _staff_snapshot(app)
    refused = _refused_tenant_cells(app, world, tenant_routes, findings)
    refused += _bpo_cells(app, world, client, bpo_routes, findings, allowed=False)
    after = _snapshot(app, tenant_ids), _staff_snapshot(app)
    changed = sorted(t for t in before[0]["rows"] if before[0]["rows"][t] != after[0]["rows"][t])
    if changed or before[1] != after[1] or after[0]["intruders"]:
        findings.append(f"refused calls changed rows of {changed or 'staff tables'}")

    allowed = _allowed_tenant_reads(app, world, tenant_routes, findings)
    allowed += _bpo_cells(app, world, client, bpo_routes, findings, allowed=True)
    allowed += _allowed_tenant_writes(app, world, client, tenant_routes, findings)

    assert refused > 1500 and allowed > 250, (refused, allowed)
    assert not findings, (
        f"{len(findings)} of {refused} refused + {allowed} allowed cells wrong:\n"
        + "\n".join(findings)
    )
