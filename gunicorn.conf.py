"""gunicorn settings for Switchboard: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every knob a deployment changes is read from the environment, so the container image and the
Helm chart run one fixed command and differ only in variables. gunicorn reads this file in the
arbiter before any worker starts; nothing in it imports the app.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.glogging import Logger, SafeAtoms

# --- metrics ---------------------------------------------------------------------------------

# Each worker is a process with its own counters. prometheus_client's multi-process mode has
# every worker write its values to files in one directory, and a scrape (served by any worker)
# adds them all up. It must know the directory when it is first imported, in the worker, so
# it is set here, in the arbiter, before any worker exists (preload_app is False below, so the
# arbiter never imports the app). A fresh directory per server: a tmpfs (/dev/shm) where there
# is one, which also works on a read-only root filesystem; PROMETHEUS_MULTIPROC_DIR overrides.
_METRICS_DIR_PREFIX = "switchboard-prometheus-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix=_METRICS_DIR_PREFIX,
        dir="/dev/shm" if os.path.isdir("/dev/shm") else None,  # noqa: S108 - a tmpfs
    )


def on_starting(server):
    """Start the counters from zero: files left by an earlier server in a reused directory
    would be added to this one's."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker is gone: drop its live gauges (its counters stay in the sums, as they must)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The worker has imported the app: ready it for a long life.

    Its live streams end as soon as it is told to stop (SIGTERM on a rolling update, SIGINT,
    SIGQUIT): each gets `bye` and reconnects to another worker or pod, rather than holding the
    worker until graceful_timeout runs out; gunicorn's own handling follows.

    Everything it holds so far (modules, the SQLAlchemy metadata and compiled-statement caches,
    the app) moves out of the garbage collector's reach (gc.freeze): those objects live as long
    as the worker, and without this every full collection walks all of them, which made a
    request that happened to trigger one (the wallboard, which builds a few thousand dicts,
    often did) 2x slower at the p95."""
    import gc
    import signal

    def chained(previous):
        def handler(signum, frame):
            # Imported here: this file is read by the arbiter, which never imports the app.
            from app.live import hub

            hub.close_all()
            if callable(previous):
                previous(signum, frame)

        return handler

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, chained(signal.getsignal(sig)))
    gc.freeze()


def on_exit(server):
    """Remove the directory made above (never one named by PROMETHEUS_MULTIPROC_DIR)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.name.startswith(_METRICS_DIR_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cpus() -> int:
    """CPUs this process may use: the cgroup quota (a Kubernetes CPU limit) when there is one,
    else the CPUs it is pinned to. os.cpu_count() would count the node's CPUs, so a pod limited
    to 1 CPU on a 64-CPU node would start 129 workers."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]  # cgroup v2
        if quota != "max":
            return max(1, -(-int(quota) // int(period)))  # round up: 1.5 CPUs -> 2
    except (OSError, ValueError):
        pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- processes -------------------------------------------------------------------------------

bind = f"0.0.0.0:{_int('PORT', 8000)}"  # all interfaces: the pod's IP, not only loopback

# The usual 2 x CPUs + 1, capped: every worker holds its own SQLAlchemy pool (5 connections,
# plus overflow), so pods x workers x pool must stay under PostgreSQL's (or pgbouncer's)
# connection limit. Scale out with more pods (the HPA), not with ever more workers per pod.
workers = _int("SWITCHBOARD_WEB_WORKERS", min(2 * _cpus() + 1, 8))

# Threads per worker. With threads > 1 gunicorn uses the gthread worker, which also keeps
# idle keep-alive connections off the threads. Each open live stream (app/live: /live and the
# API's event stream) holds a thread for as long as it is open, though no database connection
# while it waits; so a worker gets one thread per stream it may hold
# (SWITCHBOARD_LIVE_MAX_STREAMS, the app's cap, over which streams answer 503) plus a reserve
# for ordinary requests. Ordinary requests beyond the SQLAlchemy pool (5 + 10 overflow) wait
# for a connection rather than for a thread; an idle thread costs about 100 KB of memory.
# docs/scaling.md ("Live updates") has the figures.
STREAM_RESERVE = 8
threads = _int(
    "SWITCHBOARD_WEB_THREADS", _int("SWITCHBOARD_LIVE_MAX_STREAMS", 200) + STREAM_RESERVE
)
worker_class = os.environ.get("SWITCHBOARD_WEB_WORKER_CLASS", "gthread")

# A worker silent for `timeout` seconds is killed and replaced (a stuck request must not hold a
# slot forever). On SIGTERM (a rolling update, a drained node) workers stop accepting and get
# `graceful_timeout` seconds to finish their requests; keep it below the pod's
# terminationGracePeriodSeconds (30 s by default) so Kubernetes never SIGKILLs mid-request.
timeout = _int("SWITCHBOARD_WEB_TIMEOUT", 30)
graceful_timeout = _int("SWITCHBOARD_WEB_GRACEFUL_TIMEOUT", 25)

# Seconds an idle keep-alive connection stays open. Behind a proxy that reuses upstream
# connections, set it above the proxy's idle timeout, or the proxy may send a request on a
# connection gunicorn is closing (sporadic 502s).
keepalive = _int("SWITCHBOARD_WEB_KEEPALIVE", 5)

# Every worker imports the app itself: the SQLAlchemy engine (and its connection pool) must not
# be created before fork and shared between processes, and a code reload (SIGHUP) then reloads
# the app too. The cost is a little more memory and start-up time per worker.
preload_app = False

# The heartbeat file each worker touches. /dev/shm is a tmpfs in every container, so this works
# with a read-only root filesystem, and a worker never blocks on a slow disk when it touches it
# (which gunicorn would read as a hung worker).
worker_tmp_dir = os.environ.get("SWITCHBOARD_WEB_TMP_DIR") or (
    "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a tmpfs, by design
)

# gunicorn >= 25.1 opens a control socket under $HOME by default; on a read-only root filesystem
# that fails, and nothing here uses it (Kubernetes scales pods, not workers). Older gunicorn
# ignores the setting.
control_socket_disable = True

# Which proxies may tell gunicorn that the original request was HTTPS (X-Forwarded-Proto),
# which makes Flask build https:// URLs (OAuth redirects, metadata). Default: only loopback.
# In a cluster set it to the ingress controller's pod CIDR, or "*" when only the ingress can
# reach the pods (a NetworkPolicy); never "*" when clients can reach a pod directly.
forwarded_allow_ips = os.environ.get("SWITCHBOARD_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# --- logs ------------------------------------------------------------------------------------

# Access log on stdout and gunicorn's own messages on stderr: the container runtime collects
# both; no file to rotate and nothing to write on a read-only filesystem.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("SWITCHBOARD_WEB_LOG_LEVEL", "info")

# One JSON object per request. Every value is a quoted JSON string except status and
# duration_ms, which gunicorn always fills with numbers. The values are escaped for JSON by
# JsonAccessLogger below (gunicorn's own escaping handles only double quotes, so a backslash
# or control character in a path or header would otherwise break the line).
# request_id is the *response* header: the app echoes a well-formed incoming X-Request-ID and
# makes one up otherwise, so every line has one. route (the URL template, "unmatched" for no
# route), tenant_id and principal (a user id or an OAuth client id) are what the app put in the
# WSGI environ for this line (app/logs.py); since this line exists, the app writes none of its
# own. The query string is left out: it can carry a customer's email or phone number; so is the
# secret of an invitation or password-reset link in the path (path is the app's, redacted).
# remote_addr is the TCP peer (the ingress in a cluster); forwarded_for is what the proxy says
# the client was. pid is the worker that served the request.
access_log_format = (
    "{"
    '"time": "%(time)s", '
    '"level": "INFO", '
    '"logger": "access", '
    '"method": "%(m)s", '
    '"route": "%({switchboard.route}e)s", '
    '"path": "%({switchboard.path}e)s", '
    '"status": %(s)s, '
    '"duration_ms": %(M)s, '
    '"bytes": "%(b)s", '
    '"request_id": "%({x-request-id}o)s", '
    '"tenant_id": "%({switchboard.tenant_id}e)s", '
    '"principal": "%({switchboard.principal}e)s", '
    '"remote_addr": "%(h)s", '
    '"forwarded_for": "%({x-forwarded-for}i)s", '
    '"user_agent": "%(a)s", '
    '"pid": %(pid)s'
    "}"
)


class _JsonSafeAtoms(SafeAtoms):
    """gunicorn's atom lookup (case-insensitive headers, "-" when missing) with values escaped
    as the inside of a JSON string rather than only having their double quotes escaped."""

    def __init__(self, atoms):
        dict.__init__(self)
        for key, value in atoms.items():
            self[key] = json.dumps(value)[1:-1] if isinstance(value, str) else value


class _JsonErrorFormatter(logging.Formatter):
    """gunicorn's own messages (starting, booting a worker, a worker timing out) as JSON lines
    like the app's, so that everything the pod writes parses the same way."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class JsonAccessLogger(Logger):
    """gunicorn's logger with JSON-safe access-log values, an ISO 8601 UTC `time` atom, the
    worker's `pid` as a number, and its own messages as JSON too."""

    atoms_wrapper_class = _JsonSafeAtoms

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_JsonErrorFormatter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        atoms["pid"] = os.getpid()
        return atoms


logger_class = JsonAccessLogger
