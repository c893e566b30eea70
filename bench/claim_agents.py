"""bench.claim's agents, each in a process of its own: ours through `claim_next` or over HTTP,
the reference's raw `SKIP LOCKED` loop, and the drains that start them together and gather what
each claimed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_module
import threading
import time
import uuid
from collections import Counter

import psycopg

from bench.common import HOST, basic_auth

REFERENCE_TABLE = "bench_ref_claims"
# An agent told "nothing for you" while contacts still wait (all locked by other agents at
# that instant) looks again, up to this many times in a row, before it stops.
EMPTY_RETRIES = 50

# The bare loop takes the best contact of all the agent's queues at once: no firm takes turns.
REFERENCE_CLAIM = f"""
    SELECT id FROM {REFERENCE_TABLE}
    WHERE queue_id = ANY(%(queue_ids)s)
      AND status IN ('queued', 'reopened') AND channel = ANY(%(channels)s)
    ORDER BY priority_rank DESC, sla_due_at ASC NULLS LAST, queued_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - a constant table name
REFERENCE_ASSIGN = f"""
    UPDATE {REFERENCE_TABLE}
    SET status = 'assigned', agent_id = %(agent_id)s, assigned_at = now(), status_since = now(),
        queued_seconds = queued_seconds
            + greatest(0, extract(epoch FROM now() - status_since))::int,
        updated_at = now()
    WHERE id = %(id)s
"""  # noqa: S608 - a constant table name
REFERENCE_WAITING = (
    f"SELECT count(*) FROM {REFERENCE_TABLE} "  # noqa: S608 - a constant table name
    "WHERE queue_id = ANY(%(queue_ids)s) AND status IN ('queued', 'reopened')"
)


# --- the agents (each in its own process) ----------------------------------------------------


def service_agent(overrides, agent_id, user_id, ready, start, stop, results) -> None:
    """Claim through `claim_next` until nothing is left (or `stop`); report what this agent
    got."""
    from sqlalchemy import func, select

    from app import create_app
    from app.agents.models import Agent
    from app.contacts import routing
    from app.contacts.models import Contact
    from app.db import db
    from tenants.scoping import unscoped
    from tenants.service import Actor

    application = create_app(overrides)
    actor = Actor(user_id=user_id, client_id="bench-claim")
    with application.app_context():  # connect before the clock starts
        db.session.get(Agent, agent_id)
    claimed, errors, empty = [], Counter(), 0
    ready.put(agent_id)
    start.wait()
    while not stop.is_set():
        with application.app_context():
            try:
                agent = db.session.get(Agent, agent_id)
                contact = routing.claim_next(agent=agent, actor=actor)
                contact_id = contact.id if contact is not None else None
                db.session.commit()
            except Exception as exc:  # report, roll back, carry on: the drain must finish
                db.session.rollback()
                errors[type(exc).__name__] += 1
                if sum(errors.values()) > 100:
                    break
                continue
            if contact_id is not None:
                claimed.append(contact_id)
                empty = 0
                continue
            # Nothing for us: done, unless contacts still wait (locked by others just now).
            with unscoped():
                waiting = db.session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(Contact.status.in_(routing.WAITING_STATUSES))
                )
            db.session.rollback()
        empty += 1
        if not waiting or empty > EMPTY_RETRIES:
            break
        time.sleep(0.001)
    results.put((agent_id, claimed, time.monotonic(), dict(errors)))


def reference_agent(dsn, params, agent_id, ready, start, stop, results) -> None:
    """Claim with SELECT ... FOR UPDATE SKIP LOCKED + UPDATE until nothing is left (or
    `stop`)."""
    claimed, errors, empty = [], Counter(), 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        ready.put(agent_id)
        start.wait()
        while not stop.is_set():
            try:
                with conn.transaction():
                    row = conn.execute(REFERENCE_CLAIM, params).fetchone()
                    if row is not None:
                        conn.execute(REFERENCE_ASSIGN, {"agent_id": agent_id, "id": row[0]})
            except psycopg.Error as exc:
                errors[type(exc).__name__] += 1
                if sum(errors.values()) > 100:
                    break
                continue
            if row is not None:
                claimed.append(row[0])
                empty = 0
                continue
            empty += 1
            waiting = conn.execute(REFERENCE_WAITING, params).fetchone()[0]
            if not waiting or empty > EMPTY_RETRIES:
                break
            time.sleep(0.001)
    results.put((agent_id, claimed, time.monotonic(), dict(errors)))


def drain(target, per_agent_args: list[tuple], *, max_seconds: float) -> dict:
    """Start one process per agent, start the clock once all are connected, collect. At
    `max_seconds` the agents are told to stop and report what they claimed so far: a drain cut
    short still shows its rate (and fails its exactly-once check)."""
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited pools
    ready, results = context.Queue(), context.Queue()
    start, stop = context.Event(), context.Event()
    processes = [
        context.Process(target=target, args=(*extra, ready, start, stop, results), daemon=True)
        for extra in per_agent_args
    ]
    try:
        for process in processes:
            process.start()
        for _ in processes:
            ready.get(timeout=120)
        began = time.monotonic()
        start.set()
        reports = []
        deadline = began + max_seconds
        timed_out = False
        while len(reports) < len(processes):
            try:
                reports.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue_module.Empty:
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
        if timed_out:
            stop.set()  # each agent ends its claim in hand and reports
            with contextlib.suppress(queue_module.Empty):
                while len(reports) < len(processes):
                    reports.append(results.get(timeout=30))
        for process in processes:
            process.join(timeout=10)
    finally:
        for process in processes:  # only our own children, by handle
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    finished = max((r[2] for r in reports), default=time.monotonic())
    return {
        "seconds": finished - began,
        "claimed": {r[0]: r[1] for r in reports},
        "errors": sum((Counter(r[3]) for r in reports), Counter()),
        "timed_out": timed_out or len(reports) < len(processes),
    }


def drain_http(base: str, tokens: list[tuple], *, waiting_dsn: str, max_seconds: float) -> dict:
    """One thread per agent, each on its own keep-alive session, POSTing /v1/me/next."""
    import requests

    if not base.startswith(f"http://{HOST}:"):
        raise ValueError("the agents talk to 127.0.0.1 only")
    start = threading.Event()
    lock = threading.Lock()
    claimed: dict = {}
    ended: list[float] = []
    errors: Counter = Counter()
    deadline = [0.0]

    def agent(agent_id, token) -> None:
        mine, empty = [], 0
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        with psycopg.connect(waiting_dsn, autocommit=True) as conn:
            start.wait()
            try:
                while time.monotonic() < deadline[0]:
                    try:
                        response = session.post(f"{base}/v1/me/next", timeout=30)
                    except requests.RequestException as exc:
                        with lock:
                            errors[type(exc).__name__] += 1
                        continue
                    if response.status_code == 200:
                        mine.append(uuid.UUID(response.json()["id"]))
                        empty = 0
                        continue
                    # Nothing to claim is a 409 problem whose `reason` says why.
                    nothing = response.status_code == 409 and response.json().get("reason") in (
                        "nothing_waiting",
                        "needs_unmet",
                        "taken",
                    )
                    if not nothing:
                        with lock:
                            errors[f"HTTP {response.status_code}"] += 1
                        if sum(errors.values()) > 100:
                            break
                        continue
                    empty += 1
                    waiting = conn.execute(
                        "SELECT count(*) FROM contacts WHERE status IN ('queued', 'reopened')"
                    ).fetchone()[0]
                    if not waiting or empty > EMPTY_RETRIES:
                        break
                    time.sleep(0.001)
            finally:
                session.close()
                with lock:
                    claimed[agent_id] = mine
                    ended.append(time.monotonic())

    threads = [
        threading.Thread(target=agent, args=(agent_id, token), daemon=True)
        for agent_id, token in tokens
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # let every thread connect before the clock starts
    began = time.monotonic()
    deadline[0] = began + max_seconds
    start.set()
    for thread in threads:
        thread.join()
    return {
        "seconds": max(ended) - began,
        "claimed": claimed,
        "errors": errors,
        "timed_out": time.monotonic() >= deadline[0],
    }


def access_tokens(base: str, clients: list[tuple]) -> list[tuple]:
    """Each agent's access token, from the real token endpoint (client credentials)."""
    import requests

    tokens = []
    for agent_id, client_id, secret in clients:
        response = requests.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(client_id, secret),
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"/oauth/token answered {response.status_code}: {response.text}")
        tokens.append((agent_id, response.json()["access_token"]))
    return tokens
