"""Roles, OAuth scopes and the permissions built from them: what each caller may do.

A permission needs both: the caller's role on the tenant (or across the BPO) must be listed,
and the access token must carry the scope. Scopes narrow a token; the role still bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass

SCOPES: dict[str, str] = {
    "tenants:read": "Read client firms' profiles",
    "tenants:admin": "Onboard, change, suspend and offboard client firms",
    "users:read": "Read a client firm's users and API clients",
    "users:admin": "Manage a client firm's users and API clients",
    "settings:admin": "Manage a client firm's departments, briefings and webhooks",
    "agents:read": "Read agents, their assignments and timelines",
    "agents:admin": "Manage agents and their queue assignments",
    "agent:work": "Work as an agent: switch active queues, set presence, claim contacts",
    "contacts:read": "Read contacts",
    "contacts:write": "Create contacts and act on them",
    "reports:read": "Read reports",
    "billing:read": "Read a client firm's rate card, invoices and usage",
    "billing:admin": "Close billing periods and manage invoices",
    "quality:read": "Read scorecards and quality evaluations",
    "quality:write": "Set up scorecards, score, calibrate and dispute evaluations",
    "campaigns:read": "Read outbound campaigns, their records and the do-not-contact register",
    "campaigns:write": "Set up and run outbound campaigns, load lists, keep the do-not-contact "
    "register",
}

ALL_ROLES = frozenset(
    {"bpo_admin", "supervisor", "agent", "client_admin", "client_viewer", "integration"}
)


@dataclass(frozen=True)
class Permission:
    name: str
    action: str  # completes "Your role may not ..."
    scope: str
    roles: frozenset[str]


def _permission(name: str, action: str, scope: str, *roles: str) -> Permission:
    assert set(roles) <= ALL_ROLES and scope in SCOPES
    return Permission(name, action, scope, frozenset(roles))


TENANT_READ = _permission(
    "tenant.read",
    "read client firms",
    "tenants:read",
    "bpo_admin",
    "supervisor",
    "agent",
    "client_admin",
    "client_viewer",
    "integration",
)
TENANT_ADMIN = _permission(
    "tenant.admin", "onboard or change client firms", "tenants:admin", "bpo_admin"
)
USER_READ = _permission(
    "user.read",
    "read a client firm's users and API clients",
    "users:read",
    "bpo_admin",
    "client_admin",
)
USER_ADMIN = _permission(
    "user.admin",
    "manage a client firm's users and API clients",
    "users:admin",
    "bpo_admin",
    "client_admin",
)
STAFF_ADMIN = _permission(
    "staff.admin",
    "invite BPO staff (BPO admins, supervisors, agents)",
    "users:admin",
    "bpo_admin",
)

SETTINGS_ADMIN = _permission(
    "settings.admin",
    "manage a client firm's departments, briefings and webhooks",
    "settings:admin",
    "bpo_admin",
    "client_admin",
)
EXPORT_READ = _permission(
    "export.read",
    "download a client firm's data export",
    "tenants:read",
    "bpo_admin",
    "client_admin",
)
# The end customer's rights: the firm (the controller) asks, the BPO (its processor) may act.
DATA_SUBJECT_EXPORT = _permission(
    "data_subject.export",
    "export what is held about one end customer",
    "contacts:read",
    "bpo_admin",
    "client_admin",
)
DATA_SUBJECT_ERASE = _permission(
    "data_subject.erase",
    "erase one end customer's personal data",
    "contacts:write",
    "bpo_admin",
    "client_admin",
)
# The audit log: a firm's client admin reads the firm's own entries (app/audit/service.py says
# which); the BPO admin reads every entry, the BPO's own too.
AUDIT_READ = _permission(
    "audit.read",
    "read a client firm's audit log",
    "tenants:read",
    "bpo_admin",
    "client_admin",
)
AUDIT_READ_ALL = _permission(
    "audit.read_all", "read the whole audit log of the BPO", "tenants:read", "bpo_admin"
)
BILLING_READ = _permission(
    "billing.read",
    "read a client firm's prices, invoices and usage",
    "billing:read",
    "bpo_admin",
    "client_admin",
)
BILLING_ADMIN = _permission(
    "billing.admin",
    "close billing periods and void usage",
    "billing:admin",
    "bpo_admin",
)
AGENT_READ = _permission(
    "agent.read", "read agents and their timelines", "agents:read", "bpo_admin", "supervisor"
)
AGENT_ADMIN = _permission(
    "agent.admin", "manage agents and their assignments", "agents:admin", "bpo_admin"
)
AGENT_WORK = _permission("agent.work", "work as an agent (queues, presence)", "agent:work", "agent")
REPORTS_READ = _permission(
    "reports.read",
    "read reports",
    "reports:read",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "client_viewer",
    "integration",
)
SLA_MONITOR = _permission(
    "sla.monitor",
    "watch SLA risk across the client firms you supervise",
    "reports:read",
    "bpo_admin",
    "supervisor",
)
PORTFOLIO_READ = _permission(
    "portfolio.read",
    "compare every client firm's figures side by side",
    "reports:read",
    "bpo_admin",
    "supervisor",
)
WALLBOARD_READ = _permission(
    "wallboard.read",
    "watch the live wallboard of the client firms you supervise",
    "reports:read",
    "bpo_admin",
    "supervisor",
)

CONTACT_READ = _permission(
    "contact.read",
    "read contacts",
    "contacts:read",
    "bpo_admin",
    "supervisor",
    "agent",
    "client_admin",
    "client_viewer",
    "integration",
)
CONTACT_CREATE = _permission(
    "contact.create",
    "create contacts",
    "contacts:write",
    "bpo_admin",
    "supervisor",
    "agent",
    "integration",
)
CONTACT_WORK = _permission(
    "contact.work",
    "act on contacts (answer, respond, hold, escalate, resolve...)",
    "contacts:write",
    "bpo_admin",
    "supervisor",
    "agent",
)
CONTACT_ASSIGN = _permission(
    "contact.assign",
    "assign or reassign contacts to agents",
    "contacts:write",
    "bpo_admin",
    "supervisor",
)
# A contact's thread: who may add to it at all, then who may add each kind of message.
CONTACT_MESSAGE = _permission(
    "contact.message",
    "add messages to contacts' threads",
    "contacts:write",
    "bpo_admin",
    "supervisor",
    "agent",
    "integration",
)
# The end customer's messages reach us through the firm's systems only.
MESSAGE_INBOUND = _permission(
    "message.inbound", "post the end customer's messages", "contacts:write", "integration"
)
# A reply goes to the end customer: the agent working the contact writes it (staff record one
# through `respond`, which they may take too).
MESSAGE_REPLY = _permission("message.reply", "reply to the end customer", "contacts:write", "agent")
MESSAGE_NOTE = _permission(
    "message.note",
    "add internal notes to contacts",
    "contacts:write",
    "bpo_admin",
    "supervisor",
    "agent",
)
# Quality monitoring (issue 18): the BPO sets scorecards up and its supervisors score; the
# firm reads them and calibrates (its client admin, scoring blind); an agent reads and disputes
# its own (the routes narrow an agent to them).
QUALITY_READ = _permission(
    "quality.read",
    "read scorecards and evaluations",
    "quality:read",
    "bpo_admin",
    "supervisor",
    "agent",
    "client_admin",
    "client_viewer",
)
SCORECARD_ADMIN = _permission(
    "quality.scorecards",
    "set up scorecards and the sampling rule",
    "quality:write",
    "bpo_admin",
    "supervisor",
)
QUALITY_REVIEW = _permission(
    "quality.review",
    "review contacts and decide disputes",
    "quality:write",
    "bpo_admin",
    "supervisor",
)
QUALITY_SCORE = _permission(
    "quality.score",
    "score an evaluation you claimed (a review, or the firm's calibration)",
    "quality:write",
    "bpo_admin",
    "supervisor",
    "client_admin",
)
QUALITY_DISPUTE = _permission(
    "quality.dispute", "dispute your own evaluations", "quality:write", "agent"
)
# The review and the firm's calibration side by side: the BPO's staff and the firm's people.
CALIBRATION_READ = _permission(
    "quality.calibration_read",
    "read a review and the firm's calibration side by side",
    "quality:read",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "client_viewer",
)
QUALITY_CALIBRATE = _permission(
    "quality.calibrate",
    "calibrate the BPO's reviews for the firm",
    "quality:write",
    "client_admin",
)
# The quality and calibration reports of a firm (the firm sees its own figures), and the
# coaching of an agent (its weakest questions), read by those who coach.
QUALITY_REPORTS_READ = _permission(
    "quality.reports",
    "read the quality and calibration reports",
    "reports:read",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "client_viewer",
)
COACHING_READ = _permission(
    "quality.coaching",
    "read an agent's coaching (its weakest scorecard questions)",
    "reports:read",
    "bpo_admin",
    "supervisor",
)
# Outbound campaigns (issue 19): the BPO and the firm set them up and run them; only the BPO
# decides how a campaign's records blend with inbound work (its agents' time); the firm's
# integration may load lists and keep the firm's register; agents dispose of their attempts.
CAMPAIGN_READ = _permission(
    "campaign.read",
    "read outbound campaigns",
    "campaigns:read",
    "bpo_admin",
    "supervisor",
    "agent",
    "client_admin",
    "client_viewer",
    "integration",
)
CAMPAIGN_ADMIN = _permission(
    "campaign.admin",
    "set up, start, pause and finish outbound campaigns",
    "campaigns:write",
    "bpo_admin",
    "supervisor",
    "client_admin",
)
CAMPAIGN_BLEND = _permission(
    "campaign.blend",
    "set how a campaign's records blend with inbound work",
    "campaigns:write",
    "bpo_admin",
    "supervisor",
)
CAMPAIGN_LISTS = _permission(
    "campaign.lists",
    "load lists of records into campaigns and read the records",
    "campaigns:write",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "integration",
)
DNC_READ = _permission(
    "dnc.read",
    "read the do-not-contact register",
    "campaigns:read",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "integration",
)
DNC_ADMIN = _permission(
    "dnc.admin",
    "add to and remove from the do-not-contact register",
    "campaigns:write",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "integration",
)
# The BPO's own register covers every firm: its admins keep it.
BPO_DNC_ADMIN = _permission(
    "dnc.bpo_admin", "keep the BPO's do-not-contact register", "campaigns:write", "bpo_admin"
)
CAMPAIGN_DISPOSE = _permission(
    "campaign.dispose",
    "record the disposition of a campaign attempt you hold",
    "agent:work",
    "agent",
)
CAMPAIGN_REPORTS_READ = _permission(
    "campaign.reports",
    "read the campaign reports",
    "reports:read",
    "bpo_admin",
    "supervisor",
    "client_admin",
    "client_viewer",
)
EVENTS_READ = _permission(
    "events.read",
    "follow a client firm's event stream",
    "contacts:read",
    "bpo_admin",
    "client_admin",
    "integration",
)

PERMISSIONS = (
    TENANT_READ,
    TENANT_ADMIN,
    USER_READ,
    USER_ADMIN,
    STAFF_ADMIN,
    SETTINGS_ADMIN,
    EXPORT_READ,
    DATA_SUBJECT_EXPORT,
    DATA_SUBJECT_ERASE,
    AUDIT_READ,
    AUDIT_READ_ALL,
    BILLING_READ,
    BILLING_ADMIN,
    AGENT_READ,
    AGENT_ADMIN,
    AGENT_WORK,
    REPORTS_READ,
    SLA_MONITOR,
    PORTFOLIO_READ,
    WALLBOARD_READ,
    CONTACT_READ,
    CONTACT_CREATE,
    CONTACT_WORK,
    CONTACT_ASSIGN,
    CONTACT_MESSAGE,
    MESSAGE_INBOUND,
    MESSAGE_REPLY,
    MESSAGE_NOTE,
    EVENTS_READ,
    QUALITY_READ,
    SCORECARD_ADMIN,
    QUALITY_REVIEW,
    QUALITY_SCORE,
    QUALITY_DISPUTE,
    CALIBRATION_READ,
    QUALITY_CALIBRATE,
    QUALITY_REPORTS_READ,
    COACHING_READ,
    CAMPAIGN_READ,
    CAMPAIGN_ADMIN,
    CAMPAIGN_BLEND,
    CAMPAIGN_LISTS,
    DNC_READ,
    DNC_ADMIN,
    BPO_DNC_ADMIN,
    CAMPAIGN_DISPOSE,
    CAMPAIGN_REPORTS_READ,
)

# Scopes a role may hold at all: those of the permissions it appears in, plus what later
# domains (contacts, reports, billing) will grant; a token can never carry more.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "bpo_admin": frozenset(SCOPES),
    "supervisor": frozenset(
        {
            "tenants:read",
            "contacts:read",
            "contacts:write",
            "reports:read",
            "agents:read",
            "quality:read",
            "quality:write",
            "campaigns:read",
            "campaigns:write",
        }
    ),
    "agent": frozenset(
        {
            "tenants:read",
            "contacts:read",
            "contacts:write",
            "agent:work",
            "quality:read",
            "quality:write",
            "campaigns:read",
        }
    ),
    "client_admin": frozenset(
        {
            "tenants:read",
            "users:read",
            "users:admin",
            "settings:admin",
            "billing:read",
            "contacts:read",
            "contacts:write",
            "reports:read",
            "quality:read",
            "quality:write",
            "campaigns:read",
            "campaigns:write",
        }
    ),
    "client_viewer": frozenset(
        {"tenants:read", "contacts:read", "reports:read", "quality:read", "campaigns:read"}
    ),
    "integration": frozenset(
        {
            "tenants:read",
            "contacts:read",
            "contacts:write",
            "reports:read",
            "campaigns:read",
            "campaigns:write",
        }
    ),
}

for _p in PERMISSIONS:
    for _role in _p.roles:
        assert _p.scope in ROLE_SCOPES[_role], (_p.name, _role)


def scopes_for_roles(roles: set[str] | frozenset[str]) -> frozenset[str]:
    """Every scope any of these roles may hold."""
    allowed: set[str] = set()
    for role in roles:
        allowed |= ROLE_SCOPES.get(role, frozenset())
    return frozenset(allowed)
