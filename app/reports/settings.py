"""A firm's report settings (its default SLA policy's, else the policy defaults), and the
fingerprint of those its daily roll-ups depend on.

May import: app.db, the SLA models, tenants.models and app.reports (measures, targets).
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from app.db import db
from app.reports import targets
from app.reports.measures import DEFAULT_SETTINGS
from app.sla.models import SlaPolicy
from tenants.models import Tenant


def report_settings() -> dict:
    """The abandon treatment, short-abandon threshold, FCR window and service-level target of
    the tenant in scope: its default SLA policy's, else the policy defaults."""
    policy = db.session.scalars(
        select(SlaPolicy).where(SlaPolicy.is_default.is_(True)).order_by(SlaPolicy.created_at)
    ).first()
    if policy is None:
        return {**DEFAULT_SETTINGS, "targets": targets.of_policy(None)}
    return {
        "policy_id": policy.id,
        "abandon_treatment": policy.abandon_treatment,
        "short_abandon_seconds": policy.short_abandon_seconds,
        "fcr_window_days": policy.fcr_window_days,
        "service_level_target_bps": policy.service_level_target_bps,
        "targets": targets.of_policy(policy),
    }


def rollup_fingerprint(*, tenant: Tenant, settings: dict) -> str:
    """What a firm's daily roll-ups were summed under: its zone (what a local day is), the
    short-abandon threshold and the FCR window. The abandon treatment and the targets apply
    when a report is read, so changing them keeps the roll-ups; the queues' answer thresholds
    count too, and a change to one drops the firm's roll-ups (app/reports/marks.py)."""
    basis = {
        "time_zone": tenant.time_zone,
        "short_abandon_seconds": settings["short_abandon_seconds"],
        "fcr_window_days": settings["fcr_window_days"],
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()
