"""Configuration: defaults here, then SWITCHBOARD_* environment variables, then test overrides."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS: dict[str, object] = {
    # The embedded default for a first run; production and tests use PostgreSQL.
    "DATABASE_URL": None,  # filled in from the instance folder when unset
    # Migrations run as the role that owns the tables; the app connects as one that does not,
    # so PostgreSQL row-level security applies to it. Both default to DATABASE_URL.
    "MIGRATION_DATABASE_URL": None,
    "SQLALCHEMY_ECHO": False,
    # Connections per process (each gunicorn worker, each CLI run): pods x workers x
    # (pool + overflow) must stay under PostgreSQL's or pgbouncer's limit (docs/scaling.md).
    "DATABASE_POOL_SIZE": 5,
    "DATABASE_MAX_OVERFLOW": 10,
    # Seconds a request waits for a free connection of its process's pool before it is
    # answered 503 (SQLAlchemy's default).
    "DATABASE_POOL_TIMEOUT": 30,
    # psycopg prepares a statement on the server after it ran this many times on a connection.
    # Behind pgbouncer older than 1.21 (or with max_prepared_statements = 0) in transaction
    # mode, prepared statements break: set SWITCHBOARD_DATABASE_PREPARE_THRESHOLD=null.
    "DATABASE_PREPARE_THRESHOLD": 5,
    # The `flask worker` loop touches this file at start and after every pass; the Kubernetes
    # liveness probe restarts a worker whose file stops being touched (a hung pass).
    "WORKER_HEARTBEAT_FILE": None,
    "SECRET_KEY": None,  # generated into the instance folder when unset
    # OAuth 2.0 / JWT access tokens (RFC 9068).
    # The public URL of this service; unset, http://127.0.0.1 on $PORT (gunicorn's, 8000).
    "OAUTH_ISSUER": None,
    "OAUTH_AUDIENCE": None,  # defaults to "<issuer>/v1"
    "JWT_ALGORITHM": "ES256",
    "JWT_PRIVATE_KEY": None,  # PEM text; or a file:
    "JWT_PRIVATE_KEY_FILE": None,
    # Public keys of retired signing keys, still published so tokens they signed stay valid.
    "JWT_PREVIOUS_PUBLIC_KEYS_FILE": None,
    "ACCESS_TOKEN_TTL": 900,
    "REFRESH_TOKEN_TTL": 30 * 24 * 3600,
    "AUTHORIZATION_CODE_TTL": 300,
    "JWT_LEEWAY": 30,
    # Sign-in attempts (README, "Signing in"): free attempts per account from one client
    # address, then an exponentially growing wait, capped. A client address also has a larger
    # budget across all accounts (one office behind one NAT address shares it).
    "LOGIN_FREE_ATTEMPTS": 3,
    "LOGIN_FREE_ATTEMPTS_PER_ADDRESS": 100,
    # Proxies in front of the app that append to X-Forwarded-For (1 behind an ingress): the
    # client address the sign-in throttle counts is the one the outermost of them saw. 0 trusts
    # no header and takes the TCP peer.
    "TRUSTED_PROXY_HOPS": 0,
    "LOGIN_MAX_DELAY": 900,
    # Failures further apart than this (seconds) start the count again.
    "LOGIN_FAILURE_WINDOW": 3600,
    # The sign-in page's session cookie: not readable by scripts, not sent cross-site.
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # set true behind HTTPS
    # A web sign-in ends after this long without a page (the refresh token bounds it too).
    "WEB_SESSION_IDLE_SECONDS": 8 * 3600,
    # Days an offboarded client firm's data is kept (read-only, exportable) before
    # `flask tenants purge` deletes it.
    "OFFBOARDING_RETENTION_DAYS": 30,
    # How long a POST's first answer is replayed for its Idempotency-Key (pruned by
    # `flask tenants purge`).
    "IDEMPOTENCY_RETENTION_HOURS": 24,
    # Webhooks (app/webhooks, delivered by `flask worker`). Plain http:// endpoints are for
    # local demos only; production receivers must use https.
    "WEBHOOK_ALLOW_INSECURE_URLS": False,
    # Endpoints on loopback, private, link-local or cloud-metadata addresses are refused (SSRF);
    # tests and demos that receive on 127.0.0.1 turn this on.
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False,
    # Seconds to connect, and then to wait for each read of the response.
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    # Tries before a delivery is given up (dead); retries wait 30 s doubling, capped below.
    "WEBHOOK_MAX_ATTEMPTS": 12,
    "WEBHOOK_BACKOFF_BASE_SECONDS": 30,
    "WEBHOOK_BACKOFF_MAX_SECONDS": 6 * 3600,
    # After a secret rotation the replaced secret signs beside the new one this long (unless
    # the rotation asks otherwise), so the receiver switches without refusing a delivery.
    "WEBHOOK_SECRET_ROTATION_WINDOW_SECONDS": 24 * 3600,
    # Agents' after-contact work: after this many seconds the worker returns an agent still
    # wrapping up to available (SWITCHBOARD_MAX_WRAP_UP_SECONDS; 0: no maximum).
    "MAX_WRAP_UP_SECONDS": 120,
    # Domain events (app/events). A worker pass first waits up to this many seconds for the
    # transactions still open when it starts to end, so the events committed before it are
    # handed on in this pass rather than the next (app/events/service.py says why it must).
    "EVENTS_SETTLE_SECONDS": 2.0,
    # Check every recorded event's payload against the catalogue's schema (tests turn it on).
    "EVENTS_CHECK_PAYLOADS": False,
    # Live updates (app/live, docs/scaling.md "Live updates"). Open event streams per process;
    # over it a stream answers 503 and pages poll. gunicorn.conf.py reads the same variable
    # to give each worker a thread per stream plus a reserve for ordinary requests.
    "LIVE_MAX_STREAMS": 200,
    # A comment line this often keeps proxies from closing a quiet stream, and finds clients
    # that went away.
    "LIVE_HEARTBEAT_SECONDS": 15.0,
    # A stream ends (`bye`, the client reconnects) after this long, so that long-lived
    # connections spread again over pods that came up since.
    "LIVE_MAX_STREAM_SECONDS": 600.0,
    # The one LISTEN connection per process needs a direct connection to PostgreSQL: behind
    # pgbouncer in transaction pooling, point this at PostgreSQL itself. None: DATABASE_URL.
    "LIVE_DATABASE_URL": None,
    # SQLite (`make run`) has no LISTEN: the listener polls the event tables this often.
    "LIVE_POLL_SECONDS": 1.0,
    # Shared readings (app/readings.py): the wallboard and the at-risk list's total, read once
    # for every viewer of the same firms in a process. A reading this young is served as is...
    "SHARED_READ_FRESH_SECONDS": 1.0,
    # ... one younger than this is served at once while the next is read in the background;
    # an older one is read while the viewer waits. Both 0: every viewer reads its own.
    "SHARED_READ_STALE_SECONDS": 10.0,
    # Scopes kept per process (the least recently read forgotten first).
    "SHARED_READ_KEYS": 256,
    # Demo only: `flask demo seed` gives each demo firm an endpoint at <this>/<firm slug>, and
    # `flask demo receiver` listens there (`make run` sets both). None: the demo has no endpoint.
    "DEMO_WEBHOOK_URL": None,
    # Stripe (billing/stripe_sync.py). Without an API key invoices stay internal: the worker
    # pushes nothing and nothing tries the network.
    "STRIPE_API_KEY": None,
    # The endpoint's signing secret (whsec_...) that `POST /v1/billing/stripe/webhook` checks.
    "STRIPE_WEBHOOK_SECRET": None,
    # None is Stripe's own API; tests point it at a local fake.
    "STRIPE_API_BASE": None,
    # Seconds to wait for Stripe per request, and stripe-python's own retries of one call
    # (with the same idempotency key); the outbox retries after those, with a backoff.
    "STRIPE_TIMEOUT_SECONDS": 30,
    "STRIPE_MAX_NETWORK_RETRIES": 2,
    "STRIPE_BACKOFF_BASE_SECONDS": 60,
    "STRIPE_BACKOFF_MAX_SECONDS": 3600,
    # A push still pending after this long is logged at ERROR: Stripe keeps idempotency keys
    # for about 24 h, so a row this old must be looked at before a resend stops being safe.
    "STRIPE_OUTBOX_ALERT_AGE_SECONDS": 12 * 3600,
    # Mail (app/mail.py): invitations and password resets. smtp://[user:password@]host:587
    # upgrades to TLS with STARTTLS when the server offers it (`?starttls=required` refuses a
    # server that does not); smtps:// speaks TLS from the start. None: no mail goes out, an
    # invitation's link is shown once to the admin who sent it, self-service resets are off.
    "SMTP_URL": None,
    "MAIL_FROM": "Switchboard <switchboard@localhost>",
    # Seconds to connect to the mail server and to wait for each of its answers.
    "SMTP_TIMEOUT_SECONDS": 10,
    # A person is sent at most one password-reset mail per this many seconds, however often
    # it is asked for.
    "PASSWORD_RESET_INTERVAL_SECONDS": 300,
    # Days the link of an escalation's mail lets the department answer (once).
    "DEPARTMENT_LINK_TTL_DAYS": 7,
    # Logs (app/logs.py): "json" lines for collectors, or "text" for reading in a terminal.
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    # The app's own line per request: "auto" leaves it to gunicorn's access log when gunicorn
    # serves the request (one line per request, not two); "always" or "never" decide outright.
    # Turn gunicorn's access log off and this must be "always" to keep a line per request.
    "LOG_REQUESTS": "auto",
    # /metrics (app/metrics.py) is open unless a token is set; either way keep it off the
    # Ingress and let Prometheus scrape the pods' IPs. With a token, scrapes must send
    # `Authorization: Bearer <token>`.
    "METRICS_TOKEN": None,
    # Seconds a process reuses the figures /metrics reads from the database (outbox, webhook
    # deliveries, SLA breaches), so frequent scrapes cost the database little.
    "METRICS_DB_CACHE_SECONDS": 15,
    # Largest accepted request body, in bytes.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # flask-smorest / OpenAPI
    "API_TITLE": "Switchboard",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": True},
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "Switchboard runs the customer service of many client firms (tenants) on one "
                "contact-center platform. Authenticate with OAuth 2.0 at `/oauth/token` "
                "(client credentials for integrations; authorization code with PKCE in a "
                "browser) and send the JWT as `Authorization: Bearer <token>`. Another "
                "tenant's object answers 404, an action your role may not take answers 403. "
                "Every error is `application/problem+json` (RFC 9457)."
            )
        }
    },
}


def load(app, overrides: dict | None = None) -> None:
    """Fill app.config from defaults, SWITCHBOARD_* environment variables and overrides."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("SWITCHBOARD")
    if overrides:
        app.config.from_mapping(overrides)

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'switchboard.db'}"
    if not app.config["MIGRATION_DATABASE_URL"]:
        app.config["MIGRATION_DATABASE_URL"] = app.config["DATABASE_URL"]
    if not app.config["OAUTH_ISSUER"]:
        # Served on another port, tokens and the /docs sign-in follow it (make run, the image).
        app.config["OAUTH_ISSUER"] = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
    if not app.config["OAUTH_AUDIENCE"]:
        app.config["OAUTH_AUDIENCE"] = app.config["OAUTH_ISSUER"].rstrip("/") + "/v1"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret-key")


def _instance_secret(path: Path) -> str:
    """Read, or create once, a random secret kept in the instance folder (demo and dev only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex())
    return path.read_text().strip()
