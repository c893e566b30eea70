"""Webhook destinations (SSRF): a client admin cannot point the worker at the BPO's own network,
however the address is spelled or whatever a name resolves to, and the delivery log never
tells an open port from a closed one. On PostgreSQL and SQLite.

DNS is the one thing outside this machine: `dns` answers from a table instead (names in it
resolve as listed, IP literals as themselves, anything else does not exist).
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from sqlalchemy import select

from app.db import db
from app.webhooks import destinations
from app.webhooks.models import WebhookAttempt, WebhookEndpoint
from tenants.scoping import tenant_scope
from tests.http_helpers import assert_problem
from tests.test_webhook_delivery import REFUSED, deliver, enqueue, serve_receiver

PUBLIC = "93.184.216.34"


class FakeDNS:
    """A resolver answering from a table; changing the table mid-test is DNS rebinding."""

    def __init__(self):
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        self.asked.append(host)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            if host not in self.table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            addresses = self.table[host]
        answers = []
        for address in addresses:
            if ":" in address:
                answers.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                answers.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return answers


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def register(client, caller, tenant, url):
    return client.post(
        f"/v1/tenants/{tenant.id}/webhooks",
        json={"url": url, "event_types": ["sla.breached"]},
        headers=caller.headers,
    )


def stored_urls(app, tenant) -> list[str]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(db.session.scalars(select(WebhookEndpoint.url)))


# --- at save time ----------------------------------------------------------------------------

NOT_PUBLIC = "is not a public address"
LOCAL_NAME = "names a local or internal host"
RESOLVES_INSIDE = "does not resolve to public internet addresses only"
PORT = "Use the scheme's default port or one of 80, 443, 8080, 8443."

# Every spelling of "this machine or its network" a client admin might try.
ATTACKS = [
    ("https://postgres:5432/h", PORT),
    ("https://redis.internal.example:6379/h", PORT),
    ("https://intranet/h", LOCAL_NAME),
    ("https://LOCALHOST./h", LOCAL_NAME),
    ("https://db.svc.cluster.local/h", LOCAL_NAME),
    ("https://127%2e0%2e0%2e1/h", NOT_PUBLIC),
    ("https://%31%32%37.0.0.1/h", NOT_PUBLIC),
    ("https://127.0.0.1./h", NOT_PUBLIC),
    ("https://127.1/h", NOT_PUBLIC),
    ("https://0x7f.1/h", NOT_PUBLIC),
    ("https://0177.0.0.1/h", NOT_PUBLIC),
    ("https://0x7f000001/h", NOT_PUBLIC),
    ("https://169.254.169.254./latest/meta-data", NOT_PUBLIC),
    ("https://127\u30020\u30020\u30021/h", NOT_PUBLIC),  # ideographic full stops
    ("https://127\uff0e0\uff0e0\uff0e1/h", NOT_PUBLIC),  # full-width full stops
    ("https://127\uff610\uff610\uff611/h", NOT_PUBLIC),  # half-width ideographic full stops
    ("https://\uff11\uff12\uff17.0.0.1/h", NOT_PUBLIC),  # full-width digits
    ("https://[::127.0.0.1]/h", NOT_PUBLIC),  # IPv4-compatible
    ("https://[::ffff:0:7f00:1]/h", NOT_PUBLIC),  # IPv4-translated
    ("https://[64:ff9b::7f00:1]/h", NOT_PUBLIC),  # NAT64 of 127.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/h", NOT_PUBLIC),  # NAT64 of the metadata service
    ("https://[64:ff9b:1::a00:1]/h", NOT_PUBLIC),  # NAT64, local-use prefix
    ("https://[2002:7f00:1::]/h", NOT_PUBLIC),  # 6to4 of 127.0.0.1
    ("https://[2002:a00:1::1]/h", NOT_PUBLIC),  # 6to4 of 10.0.0.1
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/h", NOT_PUBLIC),  # Teredo, client 127.0.0.1
    ("https://[fec0::1]/h", NOT_PUBLIC),  # site-local
    ("https://[fe80::1%25eth0]/h", "IPv6 zone ids are not accepted."),
    ("https://127.0.0.1.nip.io/h", RESOLVES_INSIDE),  # public wildcard DNS
    ("https://10-0-0-1.sslip.io/h", RESOLVES_INSIDE),
    ("https://localtest.me/h", RESOLVES_INSIDE),
    ("https://half.example.com/h", RESOLVES_INSIDE),  # one public, one private address
    ("https://hooks.acme.example:22/h", PORT),
]


def test_no_spelling_of_an_inside_address_can_be_saved_as_an_endpoint(
    db_app, db_client, db_factory, dns
):
    dns.table |= {
        "127.0.0.1.nip.io": ["127.0.0.1"],
        "10-0-0-1.sslip.io": ["10.0.0.1"],
        "localtest.me": ["127.0.0.1", "::1"],
        "half.example.com": [PUBLIC, "10.1.2.3"],
        "postgres": ["10.0.0.7"],
        "intranet": ["10.0.0.8"],
    }
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)

    # One firm tries them all (one app per database: the cases share its setup).
    answers = {}
    for url, _ in ATTACKS:
        response = register(db_client, admin, tenant, url)
        answers[url] = (response.status_code, (response.get_json().get("errors") or {}))

    wrong = {
        url: answers[url]
        for url, fragment in ATTACKS
        if answers[url][0] != 422 or fragment not in answers[url][1]["json"]["url"][0]
    }
    assert wrong == {}
    assert stored_urls(db_app, tenant) == []


def test_an_unknown_name_and_a_name_pointing_inside_get_the_same_answer(db_client, db_factory, dns):
    dns.table["inside.example.com"] = ["10.20.30.40"]
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)

    inside = register(db_client, admin, tenant, "https://inside.example.com/h")
    unknown = register(db_client, admin, tenant, "https://unknown.example.com/h")

    [inside_message] = assert_problem(inside, 422)["errors"]["json"]["url"]
    [unknown_message] = assert_problem(unknown, 422)["errors"]["json"]["url"]
    assert inside_message.replace("inside", "unknown") == unknown_message
    assert "10.20.30.40" not in inside.get_data(as_text=True)


NORMALISED = [
    ("https://Hooks.ACME.example./switchboard?k=1", "https://hooks.acme.example/switchboard?k=1"),
    ("https://hooks\uff0eacme\u3002example/switchboard", "https://hooks.acme.example/switchboard"),
    ("https://b\u00fccher.example:8443/h", "https://xn--bcher-kva.example:8443/h"),
    ("https://[2001:4860:4860::8888]/h", "https://[2001:4860:4860::8888]/h"),
    ("https://[64:ff9b::5db8:d822]/h", "https://[64:ff9b::5db8:d822]/h"),  # NAT64 of a public one
]


def test_a_public_endpoint_is_saved_with_its_host_normalised(db_app, db_client, db_factory, dns):
    dns.table |= {"hooks.acme.example": [PUBLIC], "xn--bcher-kva.example": [PUBLIC]}
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)

    saved = []
    for url, _ in NORMALISED:
        response = register(db_client, admin, tenant, url)
        assert response.status_code == 201, (url, response.get_json())
        saved.append(response.get_json()["url"])

    assert saved == [stored for _, stored in NORMALISED]
    assert sorted(stored_urls(db_app, tenant)) == sorted(saved)


def test_changing_the_url_to_a_name_that_points_inside_is_refused(
    db_app, db_client, db_factory, dns
):
    dns.table |= {"hooks.acme.example": [PUBLIC], "sneaky.example.com": ["192.168.1.1"]}
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)
    created = register(db_client, admin, tenant, "https://hooks.acme.example/h").get_json()
    url = f"/v1/tenants/{tenant.id}/webhooks/{created['id']}"
    etag = db_client.get(url, headers=admin.headers).headers["ETag"]

    response = db_client.patch(
        url,
        json={"url": "https://sneaky.example.com/h"},
        headers={**admin.headers, "If-Match": etag},
    )

    assert RESOLVES_INSIDE in assert_problem(response, 422)["errors"]["json"]["url"][0]
    assert stored_urls(db_app, tenant) == ["https://hooks.acme.example/h"]


# --- at delivery time ------------------------------------------------------------------------


@pytest.fixture
def receiver():
    yield from serve_receiver()


def test_the_delivery_log_tells_no_open_port_from_a_closed_one_and_names_no_address(
    db_app, db_factory, dns, receiver, monkeypatch
):
    # Two names saved while they resolved to a public address; then DNS points them at this
    # machine: one at a port where a server listens, one at a port where nothing does.
    monkeypatch.setitem(db_app.config, "WEBHOOK_ALLOW_INSECURE_URLS", True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    open_port = listener.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setattr(
        destinations, "ALLOWED_PORTS", frozenset({open_port, closed_port, receiver_port(receiver)})
    )
    dns.table |= {"open.example.com": [PUBLIC], "closed.example.com": [PUBLIC]}
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)
    client = db_app.test_client()
    for name, port in (("open", open_port), ("closed", closed_port)):
        response = register(client, admin, tenant, f"http://{name}.example.com:{port}/h")
        assert response.status_code == 201, response.get_json()
    enqueue(db_app, tenant)
    dns.table |= {"open.example.com": ["127.0.0.1"], "closed.example.com": ["127.0.0.1"]}

    assert deliver(db_app) == {"delivered": 0, "retrying": 2, "dead": 0}

    with db_app.app_context(), tenant_scope(tenant.id):
        logged = [
            (a.status_code, a.error, a.duration_ms)
            for a in db.session.scalars(select(WebhookAttempt))
        ]
    assert logged == [(None, REFUSED, 0), (None, REFUSED, 0)]
    # Refused before connecting: not even a TCP handshake reached the listening port.
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def receiver_port(receiver) -> int:
    return receiver.server.server_address[1]


def test_a_name_with_any_inside_address_is_refused_at_delivery_without_connecting(
    db_app, db_factory, dns, receiver, monkeypatch
):
    monkeypatch.setitem(db_app.config, "WEBHOOK_ALLOW_INSECURE_URLS", True)
    port = receiver_port(receiver)
    monkeypatch.setattr(destinations, "ALLOWED_PORTS", frozenset({port}))
    dns.table["hooks.acme.example"] = [PUBLIC]
    tenant = db_factory.tenant()
    admin = db_factory.caller("client_admin", tenant)
    response = register(db_app.test_client(), admin, tenant, f"http://hooks.acme.example:{port}/h")
    assert response.status_code == 201, response.get_json()
    enqueue(db_app, tenant)
    # Rebinding: the receiver's own address first, a public one after it.
    dns.table["hooks.acme.example"] = ["127.0.0.1", PUBLIC]

    assert deliver(db_app)["retrying"] == 1

    assert receiver.requests == []
    with db_app.app_context(), tenant_scope(tenant.id):
        [attempt] = db.session.scalars(select(WebhookAttempt)).all()
    assert attempt.error == REFUSED


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "::127.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "2002:7f00:1::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address judged, not bound
    ],
)
def test_addresses_inside_or_embedding_inside_are_not_public(address):
    assert not destinations.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [PUBLIC, "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"],
)
def test_public_addresses_and_their_embeddings_are_public(address):
    assert destinations.is_public_address(ipaddress.ip_address(address))
