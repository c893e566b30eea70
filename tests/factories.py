"""Factories: build tenants, people and clients through the real services, committed."""

from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass

from app.auth.passwords import hash_password
from app.auth.permissions import ROLE_SCOPES
from app.db import db
from tenants import service as tenants_service
from tenants.models import CLIENT_ROLES, ApiClient, Tenant, User
from tenants.scoping import tenant_scope, unscoped

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


@dataclass
class Caller:
    """Someone who calls the API: their token and what it was issued for."""

    token: str
    client_id: str
    client_secret: str
    user_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None
    role: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, app) -> None:
        self.app = app

    def tenant(self, **fields) -> Tenant:
        n = next(_seq)
        tenant_in = {
            "slug": f"firm-{n}-{uuid.uuid4().hex[:6]}",
            "name": f"Firm {n}",
            "time_zone": "Europe/Madrid",
            "locale": "es-ES",
            "currency": "EUR",
            **fields,
        }
        with self.app.app_context():
            tenant = tenants_service.create(tenant_in=tenant_in, actor=tenants_service.SYSTEM)
            db.session.commit()
            return tenant

    def user(
        self,
        role: str,
        tenant: Tenant | None = None,
        *,
        email: str | None = None,
        password: str | None = PASSWORD,
    ) -> User:
        email = email or f"{role}-{next(_seq)}-{uuid.uuid4().hex[:6]}@example.test"
        with self.app.app_context():
            kwargs = dict(
                email=email,
                name=email.split("@")[0],
                role=role,
                password_hash=hash_password(password) if password else None,
                actor=tenants_service.SYSTEM,
            )
            if tenant is None:
                with unscoped():
                    membership = tenants_service.create_user(tenant_id=None, **kwargs)
            else:
                with tenant_scope(tenant.id):
                    membership = tenants_service.create_user(tenant_id=tenant.id, **kwargs)
            user = membership.user
            db.session.commit()
            return user

    def user_client(self, user: User, scope: str | None = None) -> tuple[str, str]:
        """A confidential client acting as the user, as `flask api-clients create` makes."""
        from app.auth.principal import principal_for_user

        with self.app.app_context():
            user = db.session.get(User, user.id)
            allowed = principal_for_user(user).allowed_scopes()
            with unscoped():
                client, secret = tenants_service.create_api_client(
                    name="test script",
                    scope=scope or " ".join(sorted(allowed)),
                    user=user,
                    actor=tenants_service.SYSTEM,
                )
            db.session.commit()
            return client.client_id, secret

    def integration_client(self, tenant: Tenant, scope: str | None = None) -> tuple[str, str]:
        with self.app.app_context(), tenant_scope(tenant.id):
            client, secret = tenants_service.create_api_client(
                name="integration",
                tenant_id=tenant.id,
                scope=scope or " ".join(sorted(ROLE_SCOPES["integration"])),
                actor=tenants_service.SYSTEM,
            )
            db.session.commit()
            return client.client_id, secret

    def browser_client(self, redirect_uri: str) -> str:
        """A public client for the authorization code flow with PKCE."""
        with self.app.app_context(), unscoped():
            client, _ = tenants_service.create_api_client(
                name="browser app",
                scope=" ".join(sorted(ROLE_SCOPES["bpo_admin"])),
                grant_types=["authorization_code", "refresh_token"],
                redirect_uris=[redirect_uri],
                confidential=False,
                actor=tenants_service.SYSTEM,
            )
            db.session.commit()
            return client.client_id

    def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        response = self.app.test_client().post(
            "/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    def caller(self, role: str, tenant: Tenant | None = None, scope: str | None = None) -> Caller:
        """A person with `role` (on `tenant` for tenant roles) holding a fresh token."""
        if role == "integration":
            client_id, secret = self.integration_client(tenant)
            return Caller(
                self.token(client_id, secret, scope),
                client_id,
                secret,
                tenant_id=tenant.id,
                role=role,
            )
        on = tenant if (role in CLIENT_ROLES or role == "supervisor") else None
        user = self.user(role, on)
        client_id, secret = self.user_client(user)
        return Caller(
            self.token(client_id, secret, scope),
            client_id,
            secret,
            user_id=user.id,
            tenant_id=on.id if on else None,
            role=role,
        )

    def api_client_record(self, client_id: str) -> ApiClient:
        with self.app.app_context(), unscoped():
            from sqlalchemy import select

            return db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def one_row_of_everything(app, tenant: Tenant) -> dict:
    """One row in every tenant-owned table of operations, for tests that need them all."""
    from datetime import timedelta

    from app.accounts.models import AccountToken
    from app.agents.models import Agent, AgentTimeSegment, Assignment
    from app.campaigns.models import Campaign, CampaignList, CampaignRecord, DoNotContact
    from app.contacts import events as contact_log
    from app.contacts.models import (
        Contact,
        ContactEvent,
        ContactMessage,
        Department,
        Escalation,
    )
    from app.db import utcnow
    from app.idempotency import IdempotencyRecord
    from app.quality.models import (
        Dispute,
        Evaluation,
        EvaluationAnswer,
        SamplingRule,
        Scorecard,
        ScorecardVersion,
    )
    from app.queues.models import Briefing, Queue
    from app.reports.models import (
        ReportAgentDay,
        ReportDay,
        ReportDeparture,
        ReportDuration,
        ReportMark,
        ReportRollup,
    )
    from app.sla.models import BusinessCalendar, SlaClock, SlaPolicy
    from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
    from billing.models import (
        BillingAccount,
        Invoice,
        InvoiceLine,
        OutboxMessage,
        RateCard,
        UsageRecord,
    )
    from tenants.models import TenantExport

    now = utcnow()
    with app.app_context():
        staff = _agent_user(app)
        with unscoped():
            agent = Agent(user_id=staff.id, channels=["voice"], concurrency={"voice": 1})
            db.session.add(agent)
        with tenant_scope(tenant.id):
            queue = Queue(name=f"General {tenant.slug}", channels=["voice", "email"])
            db.session.add(queue)
            db.session.flush()
            rows = {
                "queue": queue,
                "briefing": Briefing(title="Outage", body="Fibre down", effective_from=now),
                "department": Department(name="Logistics", kind="logistics"),
                "calendar": BusinessCalendar(
                    effective_from=now - timedelta(days=1),
                    time_zone=tenant.time_zone,
                    weekly_hours={"mon": [{"start": "09:00", "end": "17:00"}]},
                ),
                "sla_policy": SlaPolicy(name="Standard", is_default=True),
                "rate_card": RateCard(
                    effective_from=now - timedelta(days=1),
                    currency=tenant.currency,
                    default_unit_amount=150,
                ),
                "assignment": Assignment(agent_id=agent.id, queue_id=queue.id),
                "segment": AgentTimeSegment(
                    agent_id=agent.id, started_at=now - timedelta(hours=1), presence="available"
                ),
                "export": TenantExport(row_count=0, size_bytes=0, sha256="0" * 64, content=b""),
                "idempotency": IdempotencyRecord(
                    caller="test", key=uuid.uuid4().hex, fingerprint="0"
                ),
                "account_token": AccountToken(
                    token_hash=uuid.uuid4().hex * 2,
                    purpose="invitation",
                    user_id=staff.id,
                    role="client_viewer",
                    expires_at=now + timedelta(days=1),
                ),
            }
            db.session.add_all(v for k, v in rows.items() if k != "queue")
            contact = Contact(
                channel="email",
                direction="inbound",
                category="complaint",
                priority="normal",
                priority_rank=2,
                queue_id=queue.id,
                status="queued",
                status_since=now,
                received_at=now,
                queued_at=now,
            )
            db.session.add(contact)
            db.session.flush()
            rows["contact"] = contact
            rows["contact_event"] = ContactEvent(
                contact_id=contact.id, action="create", to_status="queued"
            )
            rows["contact_message"] = ContactMessage(
                contact_id=contact.id,
                kind="inbound",
                channel="email",
                body="Where is my parcel?",
                body_format="text",
            )
            db.session.flush()  # the department, that the escalation names
            rows["escalation"] = Escalation(
                contact_id=contact.id,
                department_id=rows["department"].id,
                note="Please check",
                token_hash=uuid.uuid4().hex * 2,
                started_at=now,
                expires_at=now + timedelta(days=7),
                next_attempt_at=now,
            )
            rows["sla_clock"] = SlaClock(
                contact_id=contact.id, kind="resolution", target_seconds=3600, started_at=now
            )
            rows["domain_event"] = contact_log.created(contact, at=now)
            rows["webhook_endpoint"] = WebhookEndpoint(
                url="https://hooks.example.test/sla", secret="s" * 32, event_types=["sla.breached"]
            )
            db.session.add_all(
                [
                    rows["contact_event"],
                    rows["contact_message"],
                    rows["escalation"],
                    rows["sla_clock"],
                    rows["webhook_endpoint"],
                ]
            )
            db.session.flush()
            rows["webhook_delivery"] = WebhookDelivery(
                endpoint_id=rows["webhook_endpoint"].id,
                event_id=uuid.uuid4(),
                event_type="sla.breached",
                payload={},
                next_attempt_at=now,
            )
            db.session.add(rows["webhook_delivery"])
            db.session.flush()
            rows["webhook_attempt"] = WebhookAttempt(
                delivery_id=rows["webhook_delivery"].id, attempted_at=now, duration_ms=1
            )
            db.session.add(rows["webhook_attempt"])
            rows["billing_account"] = BillingAccount()
            rows["usage_record"] = UsageRecord(
                contact_id=contact.id,
                period=now.strftime("%Y-%m"),
                handled_at=now,
                channel="email",
                category="complaint",
                direction="inbound",
                rate_card_id=rows["rate_card"].id,
                currency=tenant.currency,
                unit_amount=150,
            )
            rows["invoice"] = Invoice(period="2020-01", currency=tenant.currency, closed_at=now)
            db.session.add_all([rows["billing_account"], rows["usage_record"], rows["invoice"]])
            db.session.flush()
            rows["invoice_line"] = InvoiceLine(
                invoice_id=rows["invoice"].id, position=1, kind="usage", description="x", amount=0
            )
            rows["outbox"] = OutboxMessage(
                kind="stripe.push_invoice", invoice_id=rows["invoice"].id, next_attempt_at=now
            )
            db.session.add_all([rows["invoice_line"], rows["outbox"]])
            day = now.date()
            on = {"day": day, "channel": "email", "queue_id": queue.id}
            rows["report_day"] = ReportDay(**on, received=1)
            rows["report_duration"] = ReportDuration(
                **on, kind="resolution", distribution=[[60, 1]]
            )
            rows["report_departure"] = ReportDeparture(**on, done_day=day, contacts=1)
            rows["report_agent_day"] = ReportAgentDay(
                day=day, finished_day=day, work={str(agent.id): [1, 60, 0, 0]}
            )
            rows["report_mark"] = ReportMark(hour=now.replace(minute=0, second=0, microsecond=0))
            rows["report_rollup"] = ReportRollup(fingerprint="0" * 64, built_at=now)
            db.session.add_all(
                [
                    rows[name]
                    for name in (
                        "report_day",
                        "report_duration",
                        "report_departure",
                        "report_agent_day",
                    )
                ]
                + [rows["report_mark"], rows["report_rollup"]]
            )
            rows["scorecard"] = Scorecard(name="Calls")
            rows["sampling_rule"] = SamplingRule(per_agent_per_week=3)
            db.session.add_all([rows["scorecard"], rows["sampling_rule"]])
            db.session.flush()
            rows["scorecard_version"] = ScorecardVersion(
                scorecard_id=rows["scorecard"].id,
                number=1,
                sections=[],
                passing_score_bps=8000,
            )
            db.session.add(rows["scorecard_version"])
            db.session.flush()
            rows["evaluation"] = Evaluation(
                contact_id=contact.id,
                agent_id=agent.id,
                queue_id=queue.id,
                scorecard_version_id=rows["scorecard_version"].id,
                purpose="review",
                reason="sampled",
            )
            db.session.add(rows["evaluation"])
            db.session.flush()
            rows["evaluation_answer"] = EvaluationAnswer(
                evaluation_id=rows["evaluation"].id,
                section_key="s",
                question_key="q",
                answer="yes",
            )
            rows["dispute"] = Dispute(
                evaluation_id=rows["evaluation"].id,
                raised_by_user_id=staff.id,
                reason="I did verify",
                state="open",
            )
            db.session.add_all([rows["evaluation_answer"], rows["dispute"]])
            rows["campaign"] = Campaign(
                name="Renewals",
                purpose="sales",
                channel="voice",
                category="order_request",
                queue_id=queue.id,
                dispositions=[{"code": "sold", "label": "Sold", "reached": True}],
                weekdays=[1, 2, 3, 4, 5],
                window_start="09:00",
                window_end="20:00",
                max_attempts=3,
                retry_delay_minutes=60,
                starts_on=day,
            )
            rows["do_not_contact"] = DoNotContact(
                kind="phone", value="34600000000", source="manual"
            )
            db.session.add_all([rows["campaign"], rows["do_not_contact"]])
            db.session.flush()
            rows["campaign_list"] = CampaignList(
                campaign_id=rows["campaign"].id,
                name="june.csv",
                rows=1,
                added=1,
                merged=0,
                blocked=0,
            )
            db.session.add(rows["campaign_list"])
            db.session.flush()
            rows["campaign_record"] = CampaignRecord(
                campaign_id=rows["campaign"].id,
                list_id=rows["campaign_list"].id,
                phone="+34 611 000 000",
                phone_digits="34611000000",
                dedupe_key="phone:34611000000",
                time_zone="Europe/Madrid",
                country="ES",
            )
            db.session.add(rows["campaign_record"])
        db.session.commit()
        return {k: v.id for k, v in rows.items()} | {"agent": agent.id}


def dispatch_events(app) -> dict[str, int]:
    """The worker's events job, once: what the services recorded reaches its consumers (the
    webhook deliveries), as in every worker pass before webhooks are delivered."""
    import threading

    from app import worker

    with app.app_context():
        return worker.dispatch_events(stop=threading.Event())


def _agent_user(app) -> User:
    email = f"agent-{next(_seq)}-{uuid.uuid4().hex[:6]}@example.test"
    with unscoped():
        membership = tenants_service.create_user(
            email=email,
            name=email,
            role="agent",
            password_hash=None,
            tenant_id=None,
            actor=tenants_service.SYSTEM,
        )
    return membership.user


# --- quality ---------------------------------------------------------------------------------

# A small scorecard: a greeting (one question) and a resolution with a critical question and
# one that may not apply; equal weights.
QUALITY_SECTIONS = [
    {
        "key": "greeting",
        "title": "Greeting",
        "weight": 1,
        "questions": [{"key": "named", "text": "Named", "kind": "yes_no", "points": 10}],
    },
    {
        "key": "resolution",
        "title": "Resolution",
        "weight": 1,
        "questions": [
            {
                "key": "verified",
                "text": "Verified",
                "kind": "yes_no",
                "points": 20,
                "critical": True,
            },
            {
                "key": "offered",
                "text": "Offered",
                "kind": "yes_no",
                "points": 10,
                "allows_na": True,
            },
        ],
    },
]


def quality_scorecard(app, tenant: Tenant, *, name: str = "Calls", passing_score_bps: int = 8000):
    """A scorecard of the firm with one version of QUALITY_SECTIONS: (scorecard id, version id)."""
    from app.quality.models import Scorecard, ScorecardVersion

    with app.app_context(), tenant_scope(tenant.id):
        card = Scorecard(name=name)
        db.session.add(card)
        db.session.flush()
        version = ScorecardVersion(
            scorecard_id=card.id,
            number=1,
            sections=QUALITY_SECTIONS,
            passing_score_bps=passing_score_bps,
        )
        db.session.add(version)
        db.session.commit()
        return card.id, version.id


def quality_review(
    app,
    tenant: Tenant,
    *,
    version_id: uuid.UUID,
    queue_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    answers: dict[str, str],
    submitted_at,
    purpose: str = "review",
    calibration_of_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    passing_score_bps: int = 8000,
) -> uuid.UUID:
    """A submitted evaluation of a new handled contact, scored by app.quality.scoring with its
    answer rows: question key -> "yes" | "no" | "na"."""
    from app.contacts.models import PRIORITY_RANK, Contact
    from app.quality.models import Evaluation, EvaluationAnswer
    from app.quality.scoring import score

    result = score(
        QUALITY_SECTIONS,
        {key: {"answer": answer} for key, answer in answers.items()},
        passing_score_bps=passing_score_bps,
    )
    with app.app_context(), tenant_scope(tenant.id):
        if calibration_of_id is not None:
            contact_id = db.session.get(Evaluation, calibration_of_id).contact_id
        if contact_id is None:
            contact = Contact(
                queue_id=queue_id,
                channel="voice",
                direction="inbound",
                category="information_request",
                priority="normal",
                priority_rank=PRIORITY_RANK["normal"],
                status="resolved",
                received_at=submitted_at,
                queued_at=submitted_at,
                status_since=submitted_at,
                resolved_at=submitted_at,
            )
            db.session.add(contact)
            db.session.flush()
            contact_id = contact.id
        evaluation = Evaluation(
            contact_id=contact_id,
            agent_id=agent_id,
            queue_id=queue_id,
            scorecard_version_id=version_id,
            purpose=purpose,
            reason="calibration" if purpose == "calibration" else "sampled",
            state="submitted",
            calibration_of_id=calibration_of_id,
            submitted_at=submitted_at,
            score_bps=result.score_bps,
            passed=result.passed,
            critical_failed=result.critical_failed,
        )
        db.session.add(evaluation)
        db.session.flush()
        db.session.add_all(
            EvaluationAnswer(
                evaluation_id=evaluation.id,
                section_key=a.section_key,
                question_key=a.question_key,
                answer=a.answer,
                points=a.points,
                earned_bps=a.earned_bps,
                critical_failed=a.critical_failed,
            )
            for a in result.answers
        )
        db.session.commit()
        return evaluation.id


def quality_rescore(app, tenant: Tenant, *, review_id: uuid.UUID, answers: dict[str, str], at):
    """A decided dispute of a review, rescored: the new review supersedes the old one."""
    from app.quality.models import Dispute, Evaluation

    with app.app_context(), tenant_scope(tenant.id):
        old = db.session.get(Evaluation, review_id)
        version_id, queue_id, agent_id = old.scorecard_version_id, old.queue_id, old.agent_id
        contact_id = old.contact_id
        # The old one leaves the current reviews first (one current review per contact).
        old.superseded_by_id = uuid.uuid4()
        db.session.commit()
    new_id = quality_review(
        app,
        tenant,
        version_id=version_id,
        queue_id=queue_id,
        agent_id=agent_id,
        answers=answers,
        submitted_at=at,
        contact_id=contact_id,
    )
    with app.app_context(), tenant_scope(tenant.id):
        old = db.session.get(Evaluation, review_id)
        old.superseded_by_id = new_id
        new = db.session.get(Evaluation, new_id)
        new.supersedes_id = review_id
        db.session.add(
            Dispute(
                evaluation_id=review_id,
                raised_by_user_id=uuid.uuid4(),
                reason="Unfair",
                state="decided",
                outcome="rescored",
                rescored_evaluation_id=new_id,
                decided_at=at,
                created_at=at,
            )
        )
        db.session.commit()
        return new_id
