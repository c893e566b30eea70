"""Command-line interface: `flask --app wsgi <group> <command>`; each command owns its
transaction and commits once at the end."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app import idempotency, migrate
from app.auth import housekeeping
from app.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from app.auth.principal import principal_for_user
from app.db import db, utcnow
from app.errors import Conflict, DomainError
from app.web import sessions as web_sessions
from tenants import service as tenants_service
from tenants.models import BPO_ROLES, CLIENT_ROLES
from tenants.scoping import tenant_scope, unscoped

db_cli = AppGroup("db", help="Database schema migrations (Alembic).")
users_cli = AppGroup("users", help="Manage people who sign in.")
api_clients_cli = AppGroup("api-clients", help="Manage OAuth clients.")
demo_cli = AppGroup("demo", help="Demo data for a first run.")
tenants_cli = AppGroup("tenants", help="Client firms: purge those past their retention.")
sla_cli = AppGroup("sla", help="SLA clocks: mark what went at risk or breached with no event.")
billing_cli = AppGroup("billing", help="Billing: close a month, suspend firms long past due.")
contacts_cli = AppGroup("contacts", help="Contacts: wipe personal data past a firm's retention.")

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    groups = (db_cli, users_cli, api_clients_cli, demo_cli, tenants_cli, sla_cli, billing_cli)
    for group in (*groups, contacts_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the schema up to REVISION (default: head)."""
    migrate.upgrade(current_app, revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision", default="base")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION (default: base, i.e. empty)."""
    migrate.downgrade(current_app, revision)
    click.echo(f"database at {revision}")


@db_cli.command("current")
def db_current() -> None:
    """Print the schema's current revision and the head."""
    with db.engine.connect() as connection:
        current = migrate.current_revisions(connection)
    click.echo(f"current: {', '.join(sorted(current)) or '(empty)'}")
    click.echo(f"head:    {', '.join(sorted(migrate.head_revisions(current_app)))}")


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in email.")
@click.option("--name", default=None, help="Display name (default: the email).")
@click.option(
    "--role",
    required=True,
    type=click.Choice(BPO_ROLES + CLIENT_ROLES),
    help="bpo_admin and agent hold across the BPO; supervisor and client roles need --tenant.",
)
@click.option("--tenant", "tenant_slug", default=None, help="Slug of the client firm.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email, name, role, tenant_slug, password_stdin) -> None:
    """Create a user with a role, optionally on one client firm."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(
            f"at least {MIN_PASSWORD_LENGTH} characters", param_hint="password"
        )
    tenant = _tenant_for_role(role, tenant_slug)
    try:
        _create_user(email, name or email, role, tenant, password)
    except Conflict as exc:
        raise click.ClickException(exc.detail) from exc
    db.session.commit()
    click.echo(f"created {role} {email}" + (f" on {tenant.slug}" if tenant else ""))


def _tenant_for_role(role: str, slug: str | None):
    needs_tenant = role in CLIENT_ROLES or role == "supervisor"
    if needs_tenant and not slug:
        raise click.UsageError(f"--tenant is required for role {role}")
    if not needs_tenant and slug:
        raise click.UsageError(f"role {role} holds across the BPO; drop --tenant")
    if slug is None:
        return None
    tenant = tenants_service.get_by_slug(slug=slug)
    if tenant is None:
        raise click.UsageError(f"no tenant with slug {slug!r}")
    return tenant


def _create_user(email, name, role, tenant, password):
    password_hash = hash_password(password) if password else None
    if tenant is None:
        # A BPO-wide role belongs to no tenant.
        with unscoped():
            return tenants_service.create_user(
                email=email,
                name=name,
                role=role,
                password_hash=password_hash,
                tenant_id=None,
                actor=tenants_service.SYSTEM,
            )
    with tenant_scope(tenant.id):
        return tenants_service.create_user(
            email=email,
            name=name,
            role=role,
            password_hash=password_hash,
            tenant_id=tenant.id,
            actor=tenants_service.SYSTEM,
        )


@api_clients_cli.command("create")
@click.option("--user", "email", required=True, help="Email of the user the client acts as.")
@click.option("--name", default=None, help="A label for the client.")
@click.option("--scope", default=None, help="Space-separated scopes (default: all the role has).")
@click.option("--json", "as_json", is_flag=True, help="Print {client_id, client_secret} as JSON.")
def api_clients_create(email, name, scope, as_json) -> None:
    """Create a confidential client (client_credentials) that acts as a user."""
    user = tenants_service.find_user(email=email)
    if user is None:
        raise click.UsageError(f"no user with email {email!r}")
    principal = principal_for_user(user)
    allowed = principal.allowed_scopes()
    wanted = set(scope.split()) if scope else set(allowed)
    refused = wanted - allowed
    if refused:
        raise click.BadParameter(
            f"not allowed for this user's role: {' '.join(sorted(refused))}", param_hint="--scope"
        )
    # A client admin's script is listed with the firm's API clients; staff scripts belong
    # to the BPO itself.
    tenant_ids = set(principal.tenant_roles)
    home = tenant_ids.pop() if not principal.platform_roles and len(tenant_ids) == 1 else None
    with tenant_scope(home) if home else unscoped():
        client, secret = tenants_service.create_api_client(
            name=name or f"script for {user.email}",
            scope=" ".join(sorted(wanted)),
            user=user,
            tenant_id=home,
            actor=tenants_service.SYSTEM,
        )
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
    else:
        click.echo(f"client_id:     {client.client_id}\nclient_secret: {secret}")


@tenants_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; change nothing.")
def tenants_purge(dry_run: bool) -> None:
    """Delete offboarded client firms whose retention period has passed, expired
    Idempotency-Key answers, and sign-in rows (codes, refresh tokens, revoked token ids,
    token families, throttle counts, web sessions) that have expired for good.

    A firm's rows go with it and so do its users left with no other membership; the audit
    log stays. Safe to run repeatedly (e.g. daily from cron): a purged firm is gone.
    """
    now = utcnow()
    if not dry_run:
        hours = int(current_app.config["IDEMPOTENCY_RETENTION_HOURS"])
        pruned = idempotency.prune(older_than=now - timedelta(hours=hours))
        click.echo(f"pruned {pruned} idempotency record(s) older than {hours} h")
        signed_in = housekeeping.prune(
            now=now,
            access_token_ttl=int(current_app.config["ACCESS_TOKEN_TTL"]),
            failure_window=int(current_app.config["LOGIN_FAILURE_WINDOW"]),
        )
        signed_in["web sessions"] = web_sessions.purge_expired()
        click.echo(
            "pruned expired sign-in rows: "
            + ", ".join(f"{count} {what}" for what, count in signed_in.items())
        )
    due = tenants_service.list_due_for_purge(now=now)
    if not due:
        db.session.commit()
        click.echo("nothing to purge")
        return
    for tenant in due:
        label = f"{tenant.slug} ({tenant.id}, purge after {tenant.purge_after.isoformat()})"
        if dry_run:
            rows = tenants_service.count_rows(tenant=tenant)
            click.echo(f"would purge {label}: {_describe_rows(rows)}")
            continue
        purged = tenants_service.purge(tenant=tenant, actor=tenants_service.SYSTEM)
        if purged is None:
            click.echo(f"skipped {label}: purged meanwhile by another run")
            continue
        click.echo(
            f"purged {label}: {_describe_rows(purged['rows'])}; "
            f"{purged['users_deleted']} user(s) deleted"
        )
    if not dry_run:
        db.session.commit()


def _describe_rows(rows: dict[str, int]) -> str:
    total = sum(rows.values())
    detail = ", ".join(f"{table} {n}" for table, n in sorted(rows.items()))
    return f"{total} row(s)" + (f" ({detail})" if detail else "")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Load the demo: a BPO admin, two client firms with an admin and an API client each."""
    from app.demo import seed

    for line in seed():
        click.echo(line)


@demo_cli.command("receiver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, required=True, help="Port to listen on.")
def demo_receiver(host: str, port: int) -> None:
    """Stand in for the demo firms' webhook servers: print each event, checking its signature.

    `make run` runs it beside the API; `demo seed` with SWITCHBOARD_DEMO_WEBHOOK_URL set points
    each demo firm's endpoint here. Stops on SIGINT/SIGTERM.
    """
    from app import demo_receiver
    from app import worker as background

    credentials = Path(current_app.instance_path) / "demo-credentials.json"
    server = demo_receiver.make_server(
        host=host, port=port, credentials_file=credentials, echo=click.echo
    )
    click.echo(f"demo receiver: webhooks at http://{host}:{port}{demo_receiver.PATH_PREFIX}<slug>")
    stop = threading.Event()
    restore = background.stop_on_signals(stop)
    try:
        demo_receiver.serve(server, stop=stop)
    finally:
        restore()


@sla_cli.command("scan")
@click.option("--batch-size", default=1000, show_default=True, help="Contacts per transaction.")
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Scan again every SECONDS until stopped (SIGINT/SIGTERM): `make run`'s demo loop. "
    "In production a scheduler runs one scan a minute instead.",
)
def sla_scan(batch_size: int, every: float | None) -> None:
    """Mark SLA clocks that went at risk or breached since their contact last changed.

    Each breach is recorded once as a contact event and queued for the tenant's webhooks.
    Safe to run repeatedly and in several processes at once (contacts are locked with SKIP
    LOCKED; a clock already marked is left alone). Commits after every batch. With --every,
    a scan that marked nothing prints nothing, and a failed one is logged and tried again.
    """
    if every is None:
        click.echo(_sla_scan_summary(_scan_everything_due(batch_size)))
        return
    _scan_every(every, batch_size)


def _scan_everything_due(batch_size: int) -> dict[str, int]:
    from app.sla import scan

    totals = {"at_risk": 0, "breached": 0}
    while True:
        counts = scan.scan_batch(now=utcnow(), limit=batch_size)
        db.session.commit()
        for key in totals:
            totals[key] += counts[key]
        # A short batch means nothing more that is due could be locked: the rest is held by
        # another scan (which marks it) or by a request (whose action re-reads the clocks, and
        # the next scan catches what it leaves). A full batch that marked nothing is no
        # progress (clocks due but paused, say), so the loop ends rather than spins.
        if counts["contacts"] < batch_size or not (counts["at_risk"] or counts["breached"]):
            return totals


def _sla_scan_summary(totals: dict[str, int]) -> str:
    return f"sla scan: {totals['at_risk']} at risk, {totals['breached']} breached"


def _scan_every(seconds: float, batch_size: int) -> None:
    from app import worker as background

    stop = threading.Event()
    restore = background.stop_on_signals(stop)
    click.echo(f"sla scan: every {seconds:g} s until stopped")
    try:
        while not stop.is_set():
            try:
                totals = _scan_everything_due(batch_size)
            except Exception:
                # A lost database, or SQLite busy with the demo's other processes: the demo
                # loop goes on, and the next scan finds whatever this one missed.
                db.session.rollback()
                log.exception("sla scan failed")
                click.echo("sla scan failed; see the log. Retrying.")
            else:
                if any(totals.values()):
                    click.echo(_sla_scan_summary(totals))
            stop.wait(seconds)
    finally:
        restore()


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Do what is due now, then exit (CronJobs, tests).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
def worker(once: bool, interval: float) -> None:
    """Deliver what waits in the background: new domain events to their consumers, webhook
    deliveries (retried with backoff) and closed invoices to push to Stripe.

    Safe to run in several processes at once: each delivery and each push is leased to one
    worker. With SWITCHBOARD_WORKER_HEARTBEAT_FILE set, that file is touched at start and after
    every unit of work and every pass, for a liveness probe to check its age.
    """
    from app import worker as background

    heartbeat_file = current_app.config.get("WORKER_HEARTBEAT_FILE")
    heartbeat_file = str(heartbeat_file) if heartbeat_file else None
    if heartbeat_file:
        try:
            background.heartbeat(heartbeat_file)()
        except OSError as exc:
            raise click.ClickException(f"cannot write the heartbeat file: {exc}") from exc
    background.run(once=once, interval=interval, echo=click.echo, heartbeat_file=heartbeat_file)


@billing_cli.command("close")
@click.argument("period")
def billing_close(period: str) -> None:
    """Freeze every active client firm's invoice for PERIOD (YYYY-MM) and queue it for Stripe.

    Closing a month twice changes nothing: a firm's invoice for a month is made once.
    """
    from billing import service as billing_service

    try:
        result = billing_service.close_billing_period(period=period, actor=tenants_service.SYSTEM)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    db.session.commit()
    click.echo(
        f"billing close {period}: {result['closed']} invoice(s) closed, "
        f"{result['already_closed']} already closed"
    )


@billing_cli.command("suspend-past-due")
def billing_suspend_past_due() -> None:
    """Suspend client firms whose invoice payment failed longer ago than their grace period."""
    from billing import stripe_sync

    suspended = stripe_sync.suspend_past_due(now=utcnow(), actor=tenants_service.SYSTEM)
    db.session.commit()
    click.echo(f"suspended {len(suspended)} client firm(s) past due")


@contacts_cli.command("purge-personal-data")
@click.option("--batch-size", default=500, show_default=True, help="Contacts per transaction.")
def contacts_purge_personal_data(batch_size: int) -> None:
    """Wipe the end customers' personal data from contacts finished longer ago than their
    firm's retention period (`personal_data_retention_months`; firms without one keep it).

    The same wiping as an erasure: names, e-mails, phones, the firm's customer ids, subjects,
    bodies, messages and notes go; every figure of the SLA reports and invoices stays. Commits
    after every batch (each audited); safe to run repeatedly (e.g. daily from cron): a wiped
    contact is not wiped again.
    """
    from app.contacts import retention

    with unscoped():
        # Which firms keep less: the firms themselves are no tenant's rows.
        firms = [(t.id, t.slug) for t in retention.firms_keeping_less()]
    if not firms:
        click.echo("no client firm has a personal data retention period")
        return
    for tenant_id, slug in firms:
        totals: dict[str, int] = {}
        after = None
        while True:
            with tenant_scope(tenant_id):
                tenant = tenants_service.get(tenant_id=tenant_id)
                counts, after = retention.purge_batch(
                    tenant=tenant, now=utcnow(), limit=batch_size, after=after
                )
                db.session.commit()
            for kind, n in counts.items():
                totals[kind] = totals.get(kind, 0) + n
            if after is None:
                break
        click.echo(f"{slug}: " + ", ".join(f"{n} {kind}" for kind, n in totals.items()))
