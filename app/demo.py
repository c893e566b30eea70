"""The demo a first run gets: a BPO admin, two client firms, an admin and an API client each.

Idempotent: a second run changes nothing and prints the same credentials, which are kept in
the instance folder (they are demo credentials: never seed a production database).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.agents import queue_assignments
from app.agents import service as agents_service
from app.agents import supervisors as supervisors_service
from app.auth.passwords import hash_password
from app.auth.permissions import SCOPES
from app.auth.server import DOCS_CLIENT_ID, docs_redirect_uri
from app.campaigns import lists as campaign_lists
from app.campaigns import service as campaigns_service
from app.contacts import intake as contacts_intake
from app.db import db, utcnow
from app.onboarding import service as onboarding_service
from app.quality import service as quality_service
from app.queues.models import Queue
from app.webhooks import service as webhooks_service
from tenants import service as tenants_service
from tenants.models import ApiClient, Tenant
from tenants.scoping import tenant_scope, unscoped

DEMO_PASSWORD = "switchboard-demo"  # noqa: S105 - printed on purpose; demo only

FIRMS = (
    {
        "tenant": {
            "slug": "acme-retail",
            "name": "Acme Retail",
            "time_zone": "Europe/Madrid",
            "locale": "es-ES",
            "currency": "EUR",
        },
        "admin": "admin@acme-retail.example",
        "parts": {
            "queues": [
                {"name": "Atención al cliente", "channels": ["voice", "chat", "email"]},
                {
                    "name": "Reclamaciones",
                    "channels": ["email", "web"],
                    "categories": ["complaint", "claim"],
                },
            ],
            "calendar": {
                "weekly_hours": {
                    day: [{"start": "09:00", "end": "14:00"}, {"start": "16:00", "end": "19:00"}]
                    for day in ("mon", "tue", "wed", "thu", "fri")
                },
                "holiday_country": "ES",
                "holiday_subdivision": "MD",
            },
        },
    },
    {
        "tenant": {
            "slug": "globex-telecom",
            "name": "Globex Telecom",
            "time_zone": "America/Mexico_City",
            "locale": "es-MX",
            "currency": "MXN",
        },
        "admin": "admin@globex-telecom.example",
    },
)
BPO_ADMIN = "admin@bpo.example"
SUPERVISOR = "supervisor@bpo.example"
# (email, name, slugs of the firms whose queues the agent serves)
AGENTS = (
    ("lucia@bpo.example", "Lucía Martín", ("acme-retail", "globex-telecom")),
    ("diego@bpo.example", "Diego Ramos", ("acme-retail",)),
)

# What make run's demo endpoints subscribe to: the contact lifecycle and the SLA alerts.
DEMO_EVENT_TYPES = (
    "contact.created",
    "contact.assigned",
    "contact.escalated",
    "contact.department_answered",
    "contact.message.created",
    "contact.resolved",
    "sla.at_risk",
    "sla.breached",
)


def seed() -> Iterator[str]:
    """Create what is missing of the demo, commit, and describe how to sign in."""
    actor = tenants_service.SYSTEM
    credentials_file = Path(current_app.instance_path) / "demo-credentials.json"
    credentials = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}

    if tenants_service.find_user(email=BPO_ADMIN) is None:
        # The BPO admin belongs to no tenant.
        with unscoped():
            tenants_service.create_user(
                email=BPO_ADMIN,
                name="BPO Admin",
                role="bpo_admin",
                password_hash=hash_password(DEMO_PASSWORD),
                tenant_id=None,
                actor=actor,
            )
    _ensure_docs_client()

    for firm in FIRMS:
        tenant = tenants_service.get_by_slug(slug=firm["tenant"]["slug"])
        if tenant is None:
            # Onboarded as a BPO admin would: parts not given get the domains' defaults.
            tenant = onboarding_service.onboard(
                onboarding_in={
                    **firm["tenant"],
                    **firm.get("parts", {}),
                    "first_admin": {
                        "email": firm["admin"],
                        "name": f"{firm['tenant']['name']} admin",
                        "password": DEMO_PASSWORD,
                    },
                },
                actor=actor,
            ).tenant
        with tenant_scope(tenant.id):
            known = credentials.get(tenant.slug, {}).get("client_id")
            if known is None or _client(known) is None:
                client, secret = tenants_service.create_api_client(
                    name=f"{tenant.name} CRM integration",
                    tenant_id=tenant.id,
                    actor=actor,
                    scope="contacts:read contacts:write reports:read tenants:read "
                    "campaigns:read campaigns:write",
                )
                credentials[tenant.slug] = {
                    "tenant_id": str(tenant.id),
                    "client_id": client.client_id,
                    "client_secret": secret,
                }
    _ensure_staff(actor)
    _ensure_contacts(actor)
    _ensure_quality(actor)
    _ensure_campaigns(actor)
    receiver = current_app.config.get("DEMO_WEBHOOK_URL")
    if receiver:
        _ensure_webhooks(receiver.rstrip("/"), credentials, actor)
    db.session.commit()
    _write_private(credentials_file, json.dumps(credentials, indent=2))

    issuer = current_app.config["OAUTH_ISSUER"].rstrip("/")
    yield f"Web app: {issuer}/ (sign in as any person below)"
    yield f"BPO admin: {BPO_ADMIN} / {DEMO_PASSWORD}"
    for firm in FIRMS:
        slug = firm["tenant"]["slug"]
        c = credentials[slug]
        yield f"{slug}: admin {firm['admin']} / {DEMO_PASSWORD}"
        yield f"{slug}: tenant_id {c['tenant_id']}"
        yield f"{slug}: API client_id {c['client_id']} client_secret {c['client_secret']}"
    for email, name, _serves in AGENTS:
        yield f"agent: {email} / {DEMO_PASSWORD} ({name})"
    yield f"supervisor of both firms: {SUPERVISOR} / {DEMO_PASSWORD}"
    if receiver:
        yield f"SLA webhooks of each firm go to {receiver.rstrip('/')}/<slug> (the demo receiver)"
    yield f"(credentials kept in {credentials_file})"


def _ensure_staff(actor) -> None:
    """Two agents shared between the firms' queues, and a supervisor of both firms."""
    for email, name, serves in AGENTS:
        if tenants_service.find_user(email=email) is not None:
            continue
        agent = agents_service.create(
            agent_in={
                "email": email,
                "name": name,
                "channels": ["voice", "chat", "email"],
                "concurrency": {"voice": 1, "chat": 3, "email": 5},
                "languages": ["es", "en"],
                "skills": [
                    {"name": "lang:es", "level": 5},
                    {"name": "billing-disputes", "level": 3},
                ],
            },
            password_hash=hash_password(DEMO_PASSWORD),
            actor=actor,
        )
        # The demo staffs every queue of the firms it names, whichever tenant they belong to.
        with unscoped():
            queues = db.session.scalars(
                select(Queue)
                .join(Tenant, Tenant.id == Queue.tenant_id)
                .where(Tenant.slug.in_(serves))
            ).all()
        queue_assignments.set_assignments(
            agent=agent,
            assignments_in=[{"queue_id": q.id, "priority": 1} for q in queues],
            actor=actor,
        )
    if tenants_service.find_user(email=SUPERVISOR) is None:
        firms = [tenants_service.get_by_slug(slug=f["tenant"]["slug"]) for f in FIRMS]
        with tenant_scope(firms[0].id):
            supervisor = tenants_service.create_user(
                email=SUPERVISOR,
                name="Sara Supervisor",
                role="supervisor",
                password_hash=hash_password(DEMO_PASSWORD),
                tenant_id=firms[0].id,
                actor=actor,
            ).user
        supervisors_service.set_supervised_tenants(
            user=supervisor, tenant_ids=[f.id for f in firms], actor=actor
        )


# (firm slug, external id, channel, category, priority, subject, customer email, remedy)
CONTACTS = (
    (
        "acme-retail",
        "ACME-1001",
        "voice",
        "information_request",
        "normal",
        "¿Dónde está mi pedido?",
        "ana.garcia@example.com",
        None,
    ),
    (
        "acme-retail",
        "ACME-1002",
        "email",
        "complaint",
        "high",
        "Producto llegó dañado",
        "luis.perez@example.com",
        None,
    ),
    (
        "acme-retail",
        "ACME-1003",
        "web",
        "claim",
        "high",
        "Reclamación por cobro duplicado",
        "marta.ruiz@example.com",
        "Reembolso de 49,90 EUR",
    ),
    (
        "acme-retail",
        "ACME-1004",
        "chat",
        "order_request",
        "normal",
        "Quiero cambiar la talla",
        "pablo.diaz@example.com",
        None,
    ),
    (
        "globex-telecom",
        "GLX-2001",
        "voice",
        "incident",
        "urgent",
        "Sin servicio de internet",
        "carla.mendez@example.com",
        None,
    ),
    (
        "globex-telecom",
        "GLX-2002",
        "email",
        "suggestion",
        "low",
        "Sugerencia para la app",
        "jorge.lopez@example.com",
        None,
    ),
)


def _ensure_contacts(actor) -> None:
    """A few waiting contacts per firm, so agents have work to claim (idempotent on external id)."""
    for slug, external_id, channel, category, priority, subject, email, remedy in CONTACTS:
        tenant = tenants_service.get_by_slug(slug=slug)
        contact_in = {
            "external_id": external_id,
            "channel": channel,
            "direction": "inbound",
            "category": category,
            "priority": priority,
            "language": "es",
            "subject": subject,
            "body": subject,
            "customer": {"name": email.split("@")[0].replace(".", " ").title(), "email": email},
        }
        if remedy:
            contact_in["remedy_requested"] = remedy
        with tenant_scope(tenant.id):
            contacts_intake.create(contact_in=contact_in, tenant=tenant, actor=actor)


# The firms' scorecard: what a Spanish customer-care contract typically checks.
DEMO_SCORECARD = {
    "name": "Atención al cliente",
    "description": "Ficha de calidad de la demo: saludo, gestión y cierre.",
    "passing_score_bps": 8000,
    "sections": [
        {
            "key": "saludo",
            "title": "Saludo",
            "weight": 20,
            "questions": [
                {
                    "key": "se_presenta",
                    "text": "Se presenta y saluda",
                    "kind": "yes_no",
                    "points": 5,
                },
                {
                    "key": "tono",
                    "text": "Tono amable",
                    "kind": "scale",
                    "scale_max": 5,
                    "points": 5,
                },
            ],
        },
        {
            "key": "gestion",
            "title": "Gestión",
            "weight": 60,
            "questions": [
                {
                    "key": "identifica",
                    "text": "Verifica la identidad del cliente",
                    "kind": "yes_no",
                    "points": 10,
                    "critical": True,
                },
                {
                    "key": "resuelve",
                    "text": "Resuelve o deriva correctamente",
                    "kind": "yes_no",
                    "points": 10,
                },
                {
                    "key": "promocion",
                    "text": "Ofrece la promoción vigente",
                    "kind": "yes_no",
                    "points": 5,
                    "allows_na": True,
                },
            ],
        },
        {
            "key": "cierre",
            "title": "Cierre",
            "weight": 20,
            "questions": [
                {"key": "resume", "text": "Resume lo acordado", "kind": "yes_no", "points": 5},
            ],
        },
    ],
}


def _ensure_quality(actor) -> None:
    """Each firm's scorecard and a sampling rule, so resolving a contact in the demo may queue
    it for review (three per agent a week, a fifth of the rest, half of complaints)."""
    for firm in FIRMS:
        tenant = tenants_service.get_by_slug(slug=firm["tenant"]["slug"])
        with tenant_scope(tenant.id):
            if db.session.scalar(quality_service.list_scorecards()) is None:
                quality_service.create_scorecard(scorecard_in=dict(DEMO_SCORECARD), actor=actor)
            if quality_service.sampling_rule() is None:
                quality_service.set_sampling_rule(
                    rule_in={
                        "per_agent_per_week": 3,
                        "percent_bps": 2000,
                        "complaint_percent_bps": 5000,
                        "is_active": True,
                    },
                    actor=actor,
                )


# Customers around the Spanish-speaking world: at most hours one of them is inside the window.
DEMO_LEADS = (
    "name,phone,time_zone,country,plan\n"
    "Lucía Romero,+34 611 200 301,Europe/Madrid,ES,fibre 300\n"
    "Jorge Medina,+51 1 555 0302,America/Lima,PE,mobile 20 GB\n"
    "Valeria Soto,+52 55 5555 0303,America/Mexico_City,MX,fibre 600\n"
    "Camilo Ríos,+57 601 555 0304,America/Bogota,CO,mobile 50 GB\n"
    "Ana Lima,+55 11 5555 0305,America/Sao_Paulo,BR,fibre 1 GB\n"
    "Hiro Tanaka,+81 3 5555 0306,Asia/Tokyo,JP,roaming\n"
)


def _ensure_campaigns(actor) -> None:
    """A running renewals campaign per firm (voice, its first voice queue), with a few
    customers loaded in several zones, so the demo's agents get outbound work too."""
    for firm in FIRMS:
        tenant = tenants_service.get_by_slug(slug=firm["tenant"]["slug"])
        with tenant_scope(tenant.id):
            if db.session.scalar(campaigns_service.list_campaigns()) is not None:
                continue
            queue = next(
                (q for q in db.session.scalars(select(Queue)) if "voice" in q.channels), None
            )
            if queue is None:
                continue
            campaign = campaigns_service.create_campaign(
                campaign_in={
                    "name": "Contract renewals",
                    "purpose": "sales",
                    "channel": "voice",
                    "category": "order_request",
                    "queue_id": queue.id,
                    "script": "Good morning {name}. Your {plan} contract ends this month: "
                    "may I offer you the renewal with a loyalty discount?",
                    "dispositions": [
                        {"code": "renewed", "label": "Renewed", "reached": True, "success": True},
                        {"code": "declined", "label": "Declined", "reached": True},
                        {"code": "no_answer", "label": "No answer", "retry": True},
                        {"code": "busy", "label": "Busy", "retry": True, "retry_after_minutes": 15},
                        {
                            "code": "call_back",
                            "label": "Call back later",
                            "reached": True,
                            "retry": True,
                        },
                        {
                            "code": "do_not_call",
                            "label": "Do not call again",
                            "reached": True,
                            "do_not_contact": True,
                        },
                    ],
                    "weekdays": [1, 2, 3, 4, 5, 6, 7],
                    "window_start": "08:00",
                    "window_end": "22:00",
                    "skip_holidays": True,
                    "max_attempts": 3,
                    "retry_delay_minutes": 60,
                    "starts_on": utcnow().date(),
                    "ends_on": None,
                },
                actor=actor,
            )
            campaign_lists.load(
                campaign=campaign,
                name="renewals.csv",
                rows=contacts_intake.rows_from_csv(DEMO_LEADS),
                actor=actor,
            )
            campaigns_service.change_state(campaign=campaign, action="start", actor=actor)


def _ensure_webhooks(receiver: str, credentials: dict, actor) -> None:
    """An endpoint per firm at the demo receiver, for both SLA events; its secret is kept with
    the credentials, where the receiver reads it to check signatures."""
    for firm in FIRMS:
        tenant = tenants_service.get_by_slug(slug=firm["tenant"]["slug"])
        url = f"{receiver}/{tenant.slug}"
        kept = credentials[tenant.slug]
        with tenant_scope(tenant.id):
            endpoint = next(
                (e for e in db.session.scalars(webhooks_service.list_()) if e.url == url), None
            )
            if endpoint is None:
                endpoint = webhooks_service.create(
                    endpoint_in={
                        "url": url,
                        "description": "make run's demo receiver",
                        # The lifecycle a firm's systems follow, and the SLA alerts.
                        "event_types": list(DEMO_EVENT_TYPES),
                    },
                    actor=actor,
                )
            elif kept.get("webhook_secret") != endpoint.secret:
                # The credentials file was lost: a new secret, kept this time.
                endpoint = webhooks_service.rotate_secret(endpoint=endpoint, actor=actor)
            kept["webhook_secret"] = endpoint.secret


def _client(client_id: str) -> ApiClient | None:
    return db.session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def _ensure_docs_client() -> None:
    """The public client the API docs page signs in with (authorization code + PKCE)."""
    # The docs client belongs to the BPO, not to any tenant.
    with unscoped():
        existing = _client(DOCS_CLIENT_ID)
        if existing is not None:
            # The server follows the configured issuer anyway (app/auth/server.py); the row
            # says the same, so a listing of clients shows where it redirects today.
            existing.redirect_uris = [docs_redirect_uri()]
            return
        client, _ = tenants_service.create_api_client(
            name="Switchboard API docs",
            scope=" ".join(SCOPES),
            grant_types=["authorization_code", "refresh_token"],
            redirect_uris=[docs_redirect_uri()],
            confidential=False,
            actor=tenants_service.SYSTEM,
        )
        client.client_id = DOCS_CLIENT_ID


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
