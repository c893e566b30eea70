"""The words of the trade as people read them: one translated label per vocabulary word.

The domain stores raw words (`voice`, `waiting_customer`, `client_admin`); a page never shows
them nor passes them to `_()` (a variable cannot be extracted into the catalog). Each dictionary
is checked against the tuple it labels when this module loads, so a word added to a vocabulary
without a label fails at start-up rather than showing up raw in Spanish.
"""

from __future__ import annotations

# Lazy (each label is read in the reader's language when shown), under the name the extractor
# knows: every label has its vocabulary as context, so "Closed" of a contact, of an invoice and
# the "Closed" heading of a date column each get their own translation (their genders differ).
from flask_babel import lazy_pgettext as pgettext

from app.agents.models import PRESENCES
from app.campaigns.models import CAMPAIGN_STATES, RECORD_STATES
from app.campaigns.models import PURPOSES as CAMPAIGN_PURPOSES
from app.contacts.lifecycle import MOVES
from app.contacts.models import CONTACT_STATUSES, DEPARTMENT_KINDS
from app.contacts.schemas import OUTCOMES
from app.quality.models import (
    DISPUTE_OUTCOMES,
    DISPUTE_STATES,
    EVALUATION_STATES,
    PURPOSES,
    REASONS,
)
from app.reports.sla import GRANULARITIES
from app.sla.models import ABANDON_TREATMENTS, CLOCK_STATES
from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS, PRIORITIES
from app.webhooks.models import DELIVERY_STATUSES
from billing.models import INVOICE_STATUSES
from tenants.models import ROLES, TENANT_STATUSES


def _covering(words, labels: dict) -> dict:
    missing = set(words) - set(labels)
    if missing:
        raise RuntimeError(f"no label for {sorted(missing)}")
    return labels


CHANNEL_LABELS = _covering(
    CHANNELS,
    {
        "voice": pgettext("channel", "Voice"),
        "email": pgettext("channel", "E-mail"),
        "chat": pgettext("channel", "Chat"),
        "web": pgettext("channel", "Web form"),
        "social": pgettext("channel", "Social media"),
    },
)
CATEGORY_LABELS = _covering(
    CATEGORIES,
    {
        "complaint": pgettext("category", "Complaint"),
        "claim": pgettext("category", "Claim"),
        "information_request": pgettext("category", "Information request"),
        "suggestion": pgettext("category", "Suggestion"),
        "compliment": pgettext("category", "Compliment"),
        "order_request": pgettext("category", "Order request"),
        "incident": pgettext("category", "Incident"),
    },
)
PRIORITY_LABELS = _covering(
    PRIORITIES,
    {
        "low": pgettext("priority", "Low"),
        "normal": pgettext("priority", "Normal"),
        "high": pgettext("priority", "High"),
        "urgent": pgettext("priority", "Urgent"),
    },
)
DIRECTION_LABELS = _covering(
    DIRECTIONS,
    {"inbound": pgettext("direction", "Inbound"), "outbound": pgettext("direction", "Outbound")},
)
CONTACT_STATUS_LABELS = _covering(
    CONTACT_STATUSES,
    {
        "queued": pgettext("contact status", "Queued"),
        "assigned": pgettext("contact status", "Assigned"),
        "active": pgettext("contact status", "Active"),
        "waiting_customer": pgettext("contact status", "Waiting for the customer"),
        "escalated": pgettext("contact status", "Escalated"),
        "on_hold": pgettext("contact status", "On hold"),
        "resolved": pgettext("contact status", "Resolved"),
        "closed": pgettext("contact status", "Closed"),
        "reopened": pgettext("contact status", "Reopened"),
        "abandoned": pgettext("contact status", "Abandoned"),
    },
)
# What happened to a contact, as its timeline tells it: the lifecycle's moves plus its arrivals.
ACTION_LABELS = _covering(
    MOVES,
    {
        "create": pgettext("contact action", "Created"),
        "import": pgettext("contact action", "Imported"),
        "claim": pgettext("contact action", "Claimed"),
        "assign": pgettext("contact action", "Assigned"),
        "release": pgettext("contact action", "Released"),
        "answer": pgettext("contact action", "Answered"),
        "respond": pgettext("contact action", "Responded"),
        "hold": pgettext("contact action", "Put on hold"),
        "resume": pgettext("contact action", "Resumed"),
        "wait-customer": pgettext("contact action", "Waiting for the customer"),
        "escalate": pgettext("contact action", "Escalated"),
        "transfer": pgettext("contact action", "Transferred"),
        "resolve": pgettext("contact action", "Resolved"),
        "close": pgettext("contact action", "Closed"),
        "reopen": pgettext("contact action", "Reopened"),
        "abandon": pgettext("contact action", "Abandoned"),
        "unreached": pgettext("contact action", "Not reached"),
    },
)
OUTCOME_LABELS = _covering(
    OUTCOMES,
    {
        "granted": pgettext("outcome", "Granted"),
        "partially_granted": pgettext("outcome", "Partially granted"),
        "denied": pgettext("outcome", "Denied"),
    },
)
SLA_STATE_LABELS = _covering(
    CLOCK_STATES,
    {
        "ok": pgettext("SLA state", "On time"),
        "at_risk": pgettext("SLA state", "At risk"),
        "breached": pgettext("SLA state", "Breached"),
        "met": pgettext("SLA state", "Met"),
        "cancelled": pgettext("SLA state", "Cancelled"),
    },
)
INVOICE_STATUS_LABELS = _covering(
    INVOICE_STATUSES,
    {
        "closed": pgettext("invoice status", "Closed"),
        "finalized": pgettext("invoice status", "Finalized"),
        "paid": pgettext("invoice status", "Paid"),
        "payment_failed": pgettext("invoice status", "Payment failed"),
        "void": pgettext("invoice status", "Void"),
    },
)
TENANT_STATUS_LABELS = _covering(
    TENANT_STATUSES,
    {
        "active": pgettext("firm status", "Active"),
        "suspended": pgettext("firm status", "Suspended"),
        "offboarded": pgettext("firm status", "Offboarded"),
    },
)
ROLE_LABELS = _covering(
    ROLES,
    {
        "bpo_admin": pgettext("role", "BPO administrator"),
        "supervisor": pgettext("role", "Supervisor"),
        "agent": pgettext("role", "Agent"),
        "client_admin": pgettext("role", "Administrator"),
        "client_viewer": pgettext("role", "Viewer"),
        "integration": pgettext("role", "Integration"),
    },
)
GRANULARITY_LABELS = _covering(
    GRANULARITIES,
    {
        "hour": pgettext("granularity", "Hour"),
        "day": pgettext("granularity", "Day"),
        "week": pgettext("granularity", "Week"),
        "month": pgettext("granularity", "Month"),
    },
)
PERIOD_LABELS = {
    "today": pgettext("period", "Today"),
    "week": pgettext("period", "This week"),
    "month": pgettext("period", "This month"),
}
TREATMENT_LABELS = _covering(
    ABANDON_TREATMENTS,
    {
        "exclude_short": pgettext("abandon treatment", "Leave out short abandons"),
        "ignore": pgettext("abandon treatment", "Leave out every abandon"),
        "count_within_threshold_as_met": pgettext(
            "abandon treatment", "Count abandons within the threshold as met"
        ),
    },
)
DEPARTMENT_KIND_LABELS = _covering(
    DEPARTMENT_KINDS,
    {
        "logistics": pgettext("department kind", "Logistics"),
        "finance": pgettext("department kind", "Finance"),
        "marketing": pgettext("department kind", "Marketing"),
        "technical": pgettext("department kind", "Technical"),
        "legal": pgettext("department kind", "Legal"),
        "custom": pgettext("department kind", "Other"),
    },
)
DELIVERY_STATUS_LABELS = _covering(
    DELIVERY_STATUSES,
    {
        "pending": pgettext("webhook delivery status", "Pending"),
        "delivered": pgettext("webhook delivery status", "Delivered"),
        "dead": pgettext("webhook delivery status", "Failed"),
    },
)
PRESENCE_LABELS = _covering(
    PRESENCES,
    {
        "available": pgettext("presence", "Available"),
        "busy": pgettext("presence", "Busy"),
        "after_contact_work": pgettext("presence", "After-contact work"),
        "break": pgettext("presence", "On a break"),
        "offline": pgettext("presence", "Offline"),
    },
)

EVALUATION_STATE_LABELS = _covering(
    EVALUATION_STATES,
    {
        "queued": pgettext("evaluation_state", "To review"),
        "in_progress": pgettext("evaluation_state", "Being scored"),
        "submitted": pgettext("evaluation_state", "Scored"),
    },
)
PURPOSE_LABELS = _covering(
    PURPOSES,
    {
        "review": pgettext("evaluation_purpose", "Review"),
        "calibration": pgettext("evaluation_purpose", "Calibration"),
    },
)
REASON_LABELS = _covering(
    REASONS,
    {
        "sampled": pgettext("evaluation_reason", "Sampled"),
        "complaint": pgettext("evaluation_reason", "Complaint or claim"),
        "chosen": pgettext("evaluation_reason", "Chosen by a supervisor"),
        "calibration": pgettext("evaluation_reason", "Calibration"),
        "dispute": pgettext("evaluation_reason", "Scored again after a dispute"),
    },
)
DISPUTE_STATE_LABELS = _covering(
    DISPUTE_STATES,
    {
        "open": pgettext("dispute_state", "Open"),
        "decided": pgettext("dispute_state", "Decided"),
    },
)
DISPUTE_OUTCOME_LABELS = _covering(
    DISPUTE_OUTCOMES,
    {
        "score_stands": pgettext("dispute_outcome", "The score stands"),
        "rescored": pgettext("dispute_outcome", "Scored again"),
    },
)
CAMPAIGN_STATE_LABELS = _covering(
    CAMPAIGN_STATES,
    {
        "draft": pgettext("campaign_state", "Draft"),
        "running": pgettext("campaign_state", "Running"),
        "paused": pgettext("campaign_state", "Paused"),
        "finished": pgettext("campaign_state", "Finished"),
    },
)
RECORD_STATE_LABELS = _covering(
    RECORD_STATES,
    {
        "pending": pgettext("record_state", "Pending"),
        "in_progress": pgettext("record_state", "In progress"),
        "done": pgettext("record_state", "Done"),
        "exhausted": pgettext("record_state", "Out of attempts"),
        "do_not_contact": pgettext("record_state", "Do not contact"),
        "closed": pgettext("record_state", "Closed"),
    },
)
CAMPAIGN_PURPOSE_LABELS = _covering(
    CAMPAIGN_PURPOSES,
    {
        "sales": pgettext("campaign_purpose", "Sales"),
        "survey": pgettext("campaign_purpose", "Survey"),
        "collections": pgettext("campaign_purpose", "Collections"),
        "reminder": pgettext("campaign_purpose", "Reminder"),
        "callback": pgettext("campaign_purpose", "Call-back"),
    },
)
ANSWER_LABELS = {
    "yes": pgettext("answer", "Yes"),
    "no": pgettext("answer", "No"),
    "na": pgettext("answer", "Not applicable"),
}

VOCABULARIES = {
    "channel": CHANNEL_LABELS,
    "category": CATEGORY_LABELS,
    "priority": PRIORITY_LABELS,
    "direction": DIRECTION_LABELS,
    "contact_status": CONTACT_STATUS_LABELS,
    "action": ACTION_LABELS,
    "outcome": OUTCOME_LABELS,
    "sla_state": SLA_STATE_LABELS,
    "invoice_status": INVOICE_STATUS_LABELS,
    "tenant_status": TENANT_STATUS_LABELS,
    "role": ROLE_LABELS,
    "granularity": GRANULARITY_LABELS,
    "period": PERIOD_LABELS,
    "treatment": TREATMENT_LABELS,
    "department_kind": DEPARTMENT_KIND_LABELS,
    "delivery_status": DELIVERY_STATUS_LABELS,
    "presence": PRESENCE_LABELS,
    "evaluation_state": EVALUATION_STATE_LABELS,
    "evaluation_purpose": PURPOSE_LABELS,
    "evaluation_reason": REASON_LABELS,
    "dispute_state": DISPUTE_STATE_LABELS,
    "dispute_outcome": DISPUTE_OUTCOME_LABELS,
    "answer": ANSWER_LABELS,
    "campaign_state": CAMPAIGN_STATE_LABELS,
    "record_state": RECORD_STATE_LABELS,
    "campaign_purpose": CAMPAIGN_PURPOSE_LABELS,
}


def label(value, vocabulary: str) -> str:
    """The word in the reader's language; an unknown word as itself, underscores as spaces."""
    if value is None or value == "":
        return ""
    known = VOCABULARIES[vocabulary].get(str(value))
    return str(known) if known is not None else str(value).replace("_", " ").replace("-", " ")


def options(vocabulary: str, words=None) -> list[tuple[str, str]]:
    """(word, label) pairs for a select or a list of boxes: the given words, or the whole
    vocabulary in its own order."""
    chosen = VOCABULARIES[vocabulary] if words is None else words
    return [(word, label(word, vocabulary)) for word in chosen]
