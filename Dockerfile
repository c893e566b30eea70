# syntax=docker/dockerfile:1
# Switchboard's API image. The same image runs every process, with the commands the tests run:
#   gunicorn -c gunicorn.conf.py wsgi:app     (the default CMD: the API)
#   flask --app wsgi db upgrade               (the migration Job)
#   flask --app wsgi worker                   (webhook deliveries and the Stripe outbox)
#   flask --app wsgi sla scan | ...           (the CronJobs)

# --- builder: resolve and install the dependencies into a virtual environment ---------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# What building the project needs: its metadata and its packages (setuptools finds them).
COPY pyproject.toml README.md ./
COPY app/ app/
COPY tenants/ tenants/
COPY billing/ billing/
# The project's dependencies plus the `server` extra (gunicorn), as pyproject.toml pins them.
# Every dependency ships manylinux wheels (psycopg[binary], argon2-cffi), so no compiler is
# needed even here. The switchboard distribution itself is then removed: the app runs from its
# source tree in /app (wsgi.py and migrations/ are not part of the package, and app/migrate.py
# finds migrations/ next to the app/ it was imported from), and a second copy in site-packages
# would only be a trap.
RUN pip install ".[server]" \
    && pip uninstall --yes switchboard

# --- final: the runtime only -----------------------------------------------------------------
FROM python:3.11-slim

# No .pyc files to write (the root filesystem is read-only in the cluster); logs unbuffered so
# they reach the container runtime at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PORT=8000

# A fixed, non-root uid/gid, so Kubernetes' runAsNonRoot can check it and volumes can be
# granted to it. No home directory contents, no shell login.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin switchboard

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY app/ app/
COPY tenants/ tenants/
COPY billing/ billing/
COPY migrations/ migrations/
COPY wsgi.py gunicorn.conf.py ./
# The app makes sure its instance folder exists at start-up; it is created here so that works
# on a read-only root filesystem. In production nothing is written to it: SWITCHBOARD_SECRET_KEY
# and the JWT signing key come from the environment (a Secret), never from generated files,
# which would differ per pod.
RUN mkdir -p /app/instance && chown 10001:10001 /app/instance
ENV SWITCHBOARD_INSTANCE_PATH=/app/instance

USER 10001:10001
EXPOSE 8000

# Liveness of the process only (/healthz never touches the database). slim has no curl, so
# Python's urllib; a non-2xx answer raises, which exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
