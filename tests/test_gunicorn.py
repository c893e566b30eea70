"""The production server: real gunicorn with gunicorn.conf.py and two workers, serving the test
database; its JSON access log, metrics added up over both workers, and a clean stop; and live
streams under it, ended with `bye` when it stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.live_helpers import Stream
from tests.test_contacts_intake import contact_in, contacts_url, queue_of

ROOT = Path(__file__).resolve().parent.parent
CONTACTS_ROUTE = "/v1/tenants/<uuid:tenant_id>/contacts"
GRACEFUL_TIMEOUT = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(app, database, port: int, instance: Path) -> dict[str, str]:
    """What the container gets: SWITCHBOARD_* variables, here pointing at the test database
    and sharing the test app's signing key, so tokens the factories issue are valid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "PROMETHEUS"))}
    key = Path(app.instance_path, f"jwt-{app.config['JWT_ALGORITHM'].lower()}.pem").read_text()
    env.update(
        PORT=str(port),
        SWITCHBOARD_WEB_WORKERS="2",
        SWITCHBOARD_WEB_THREADS="2",
        SWITCHBOARD_WEB_GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT),
        SWITCHBOARD_DATABASE_URL=database["app"],
        SWITCHBOARD_MIGRATION_DATABASE_URL=database["owner"],
        SWITCHBOARD_SECRET_KEY="test-secret",
        SWITCHBOARD_OAUTH_ISSUER=app.config["OAUTH_ISSUER"],
        SWITCHBOARD_JWT_PRIVATE_KEY=key,
        SWITCHBOARD_INSTANCE_PATH=str(instance),
    )
    return env


def _wait_until_up(base: str, server: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited while starting"
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or no worker booted yet
            pass
        time.sleep(0.1)
    raise AssertionError("gunicorn did not answer /healthz in time")


def _access_lines(path: Path) -> list[dict]:
    """Every line the server wrote to this stream, each one JSON object."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _requests_total(text: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "switchboard_http_requests_total" and sample.labels == labels:
                return sample.value
    return 0.0


def test_gunicorn_logs_json_adds_up_both_workers_metrics_and_stops_cleanly(
    app, database, factory, tmp_path
):
    tenant = factory.tenant()
    queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("w") as out, stderr.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=_server_env(app, database, port, tmp_path / "instance"),
            stdout=out,
            stderr=err,
        )
    try:
        _wait_until_up(base, server, time.monotonic() + 15)

        # Concurrent requests on fresh connections, until both workers have served some.
        sent = 0
        pids: set[int] = set()
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(pids) < 2 and sent < 160:
                batch = [f"trace-gunicorn-{sent + i:04d}" for i in range(16)]
                answers = list(
                    pool.map(
                        lambda request_id: requests.get(
                            base + contacts_url(tenant) + "?email=ana%40example.com",
                            headers={**integration.headers, "X-Request-ID": request_id},
                            timeout=10,
                        ),
                        batch,
                    )
                )
                assert [a.status_code for a in answers] == [200] * len(batch)
                sent += len(batch)
                time.sleep(0.2)  # the access log line is written after the response
                served = [
                    line
                    for line in _access_lines(stdout)
                    if line["request_id"].startswith("trace-gunicorn-")
                ]
                pids = {line["pid"] for line in served}
        assert len(pids) == 2, "one worker served every request"

        scrapes = [requests.get(f"{base}/metrics", timeout=10) for _ in range(4)]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            returncode = server.wait(timeout=GRACEFUL_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise

    assert returncode == 0, stderr.read_text()
    # Whichever worker answers the scrape, it reports what both served.
    for scrape in scrapes:
        assert scrape.status_code == 200
        labels = {"method": "GET", "route": CONTACTS_ROUTE, "status": "200"}
        assert _requests_total(scrape.text, **labels) == sent
    lines = _access_lines(stdout)
    (first,) = [line for line in lines if line["request_id"] == "trace-gunicorn-0000"]
    assert first["logger"] == "access"
    assert (first["method"], first["route"], first["status"]) == ("GET", CONTACTS_ROUTE, 200)
    assert first["path"] == f"/v1/tenants/{tenant.id}/contacts"
    assert first["tenant_id"] == str(tenant.id)
    assert first["principal"] == integration.client_id
    assert isinstance(first["duration_ms"], int)
    assert "query" not in first and "example.com" not in stdout.read_text()
    # gunicorn's own messages are JSON lines too; and the access log is the request's one line:
    # the app writes none of its own.
    messages = _access_lines(stderr)
    gunicorn_says = [m["message"] for m in messages if m["logger"] == "gunicorn.error"]
    assert gunicorn_says[0].startswith("Starting gunicorn")
    assert gunicorn_says[-1] == "Shutting down: Master"
    assert not [m for m in messages if m["logger"] == "switchboard.request"]


def test_a_stream_under_gunicorn_hears_an_event_and_says_bye_when_the_server_stops(
    app, database, factory, tmp_path
):
    tenant = factory.tenant()
    queue_id = queue_of(app, tenant)
    integration = factory.caller("integration", tenant)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _server_env(app, database, port, tmp_path / "instance")
    # Threads come from the cap of streams (4 + the reserve of 8), not a setting of their own.
    env.update(SWITCHBOARD_WEB_WORKERS="1", SWITCHBOARD_LIVE_MAX_STREAMS="4")
    env.pop("SWITCHBOARD_WEB_THREADS")
    with (tmp_path / "out.log").open("w") as out, (tmp_path / "err.log").open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    streams = []
    try:
        _wait_until_up(base, server, time.monotonic() + 15)
        url = f"{base}/v1/tenants/{tenant.id}/events/stream"
        streams = [Stream(url, headers=integration.headers) for _ in range(4)]
        assert [s.status for s in streams] == [200] * 4
        # The fifth is over the cap; ordinary requests still have threads of their own.
        over = requests.get(url, headers=integration.headers, timeout=10)
        assert over.status_code == 503 and over.headers["Retry-After"]
        created = requests.post(
            base + contacts_url(tenant),
            json=contact_in(queue_id=str(queue_id)),
            headers=integration.headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        for stream in streams:
            event = stream.next(lambda e: e.event == "contact.created", 30.0)
            assert event is not None, stream.seen
            assert event.json["payload"]["contact_id"] == created.json()["id"]

        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for stream in streams:
            assert stream.next(lambda e: e.event == "bye", GRACEFUL_TIMEOUT) is not None
            assert stream.ended(timeout=GRACEFUL_TIMEOUT)
        # The streams ended at once rather than holding the worker to its graceful timeout.
        assert server.wait(timeout=GRACEFUL_TIMEOUT + 5) == 0
        assert time.monotonic() - stopping < GRACEFUL_TIMEOUT
    finally:
        for stream in streams:
            stream.close()
        if server.poll() is None:
            server.kill()
            server.wait()


def test_each_worker_freezes_the_loaded_app_out_of_the_garbage_collector(monkeypatch, tmp_path):
    """gunicorn calls post_worker_init in each worker after it has imported the app."""
    import gc
    import runpy

    # Reading the settings would otherwise make (and name in the environment) a metrics dir.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
