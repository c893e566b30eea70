"""A fake Stripe for tests: the subset of its API that billing uses, over real HTTP.

Speaks form-encoded POST /v1/customers (and /v1/customers/{id}), /v1/invoices, /v1/invoiceitems,
/v1/invoices/{id}/finalize and GET of one customer or invoice; keeps state; honours
`Idempotency-Key` as Stripe does (same key and parameters: the first answer replayed; other
parameters: 400 idempotency_error); and fails on demand for the Nth matching request: answer
500 (nothing done), or do the work (or replay it) and then answer slowly, hang past the
client's timeout or drop the connection without answering. `chaos()` instead fails a seeded
random fraction of all requests that way. Drive it with the real stripe-python client.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

# "slow" answers within the client's timeout; "hang" past it (after doing the work).
FAULTS = ("500", "slow", "hang", "drop_after_commit")


@dataclass
class Fault:
    """Fail the `nth` (1-based) request whose method and path match."""

    method: str
    path: str  # a regular expression matched against the whole path
    nth: int
    action: str
    seen: int = 0


@dataclass
class Request:
    method: str
    path: str
    params: dict
    idempotency_key: str | None


@dataclass
class FakeStripe:
    """State and behaviour of the fake; `url` is what STRIPE_API_BASE points at."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    customers: dict[str, dict] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)
    invoice_items: dict[str, dict] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    hang_seconds: float = 3.0
    slow_seconds: float = 0.2
    # What was injected, by action (scheduled faults and chaos alike).
    injected: Counter = field(default_factory=Counter)
    _chaos: tuple[float, random.Random, tuple[str, ...]] | None = None
    # key -> (method, path, params, status, body)
    _replies: dict[str, tuple] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    def fail(self, method: str, path: str, *, action: str, nth: int = 1) -> None:
        """Make the `nth` request matching `method` and `path` (a regex) fail with `action`."""
        assert action in FAULTS
        self.faults.append(Fault(method, path, nth, action))

    def chaos(self, *, rate: float, seed: int, actions: tuple[str, ...] = FAULTS) -> None:
        """Fail a `rate` fraction of requests, drawn from `random.Random(seed)`, each with an
        action drawn from `actions` (on top of the faults scheduled with `fail`)."""
        assert 0 <= rate <= 1 and set(actions) <= set(FAULTS)
        self._chaos = (rate, random.Random(seed), tuple(actions))

    def calm(self) -> None:
        """Stop the chaos: every request from now on succeeds (scheduled faults still apply)."""
        with self.lock:
            self._chaos = None

    def items_of(self, invoice_id: str) -> list[dict]:
        """The invoice items attached to one invoice."""
        return [i for i in self.invoice_items.values() if i["invoice"] == invoice_id]

    # --- request handling ----------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict, key: str | None) -> tuple:
        """Return (status, body, fault action or None) for one authenticated request."""
        with self.lock:
            self.requests.append(Request(method, path, params, key))
            action = self._fault_for(method, path)
            if action is not None:
                self.injected[action] += 1
            if action == "500":
                # Stripe saves no idempotent result for a request that never ran.
                return 500, _error("api_error", "Injected server error."), None
            if key is not None and key in self._replies:
                first = self._replies[key]
                if first[:3] != (method, path, params):
                    message = (
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with."
                    )
                    return 400, _error("idempotency_error", message), None
                # A replayed answer can be lost on its way too.
                return first[3], first[4], action
            status, body = self._route(method, path, params)
            if key is not None and method == "POST":
                self._replies[key] = (method, path, params, status, body)
            return status, body, action

    def _fault_for(self, method: str, path: str) -> str | None:
        action = None
        for fault in self.faults:
            if fault.method == method and re.fullmatch(fault.path, path):
                fault.seen += 1
                if fault.seen == fault.nth:
                    action = action or fault.action
        if action is None and self._chaos is not None:
            rate, rng, actions = self._chaos
            if rng.random() < rate:
                action = rng.choice(actions)
        return action

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/customers":
            customer = {
                "id": self._new_id("cus"),
                "object": "customer",
                "name": params.get("name"),
                "metadata": params.get("metadata", {}),
            }
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and path == "/v1/invoiceitems":
            return self._create_item(params)
        if method == "POST" and path == "/v1/invoices":
            return self._create_invoice(params)
        match = re.fullmatch(r"/v1/invoices/([^/]+)/finalize", path)
        if method == "POST" and match:
            return self._finalize(match.group(1))
        match = re.fullmatch(r"/v1/customers/([^/]+)", path)
        if method == "POST" and match:
            customer = self.customers.get(match.group(1))
            if customer is None:
                return 404, _error("invalid_request_error", "No such customer.", "resource_missing")
            customer["name"] = params.get("name", customer["name"])
            customer["metadata"] = {**customer["metadata"], **params.get("metadata", {})}
            return 200, customer
        match = re.fullmatch(r"/v1/(customers|invoices)/([^/]+)", path)
        if method == "GET" and match:
            store = self.customers if match.group(1) == "customers" else self.invoices
            found = store.get(match.group(2))
            if found is None:
                return 404, _error("invalid_request_error", "No such object.", "resource_missing")
            return 200, found
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({path}).")

    def _create_item(self, params: dict) -> tuple[int, dict]:
        if params.get("customer") not in self.customers:
            return 400, _error("invalid_request_error", "No such customer.", "resource_missing")
        invoice_id = params.get("invoice")
        if invoice_id is not None:
            invoice = self.invoices.get(invoice_id)
            if invoice is None or invoice["status"] != "draft":
                return 400, _error("invalid_request_error", "The invoice is not a draft.")
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            return 400, _error("invalid_request_error", "Missing or invalid amount.")
        item = {
            "id": self._new_id("ii"),
            "object": "invoiceitem",
            "customer": params["customer"],
            "amount": amount,
            "currency": params.get("currency"),
            "description": params.get("description"),
            "invoice": invoice_id,
            "metadata": params.get("metadata", {}),
        }
        self.invoice_items[item["id"]] = item
        return 200, item

    def _create_invoice(self, params: dict) -> tuple[int, dict]:
        customer = params.get("customer")
        if customer not in self.customers:
            return 400, _error("invalid_request_error", "No such customer.", "resource_missing")
        invoice = {
            "id": self._new_id("in"),
            "object": "invoice",
            "customer": customer,
            "currency": params.get("currency"),
            "status": "draft",
            "auto_advance": params.get("auto_advance") == "true",
            "metadata": params.get("metadata", {}),
            "total": 0,
        }
        self.invoices[invoice["id"]] = invoice
        if params.get("pending_invoice_items_behavior", "exclude") == "include":
            for item in self.invoice_items.values():
                if item["customer"] == customer and item["invoice"] is None:
                    item["invoice"] = invoice["id"]
        return 200, invoice

    def _finalize(self, invoice_id: str) -> tuple[int, dict]:
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            return 404, _error("invalid_request_error", "No such invoice.", "resource_missing")
        if invoice["status"] != "draft":
            return 400, _error("invalid_request_error", "This invoice is already finalized.")
        invoice["status"] = "open"
        invoice["total"] = sum(i["amount"] for i in self.items_of(invoice_id))
        return 200, dict(invoice)


def _error(type_: str, message: str, code: str | None = None) -> dict:
    error = {"type": type_, "message": message}
    if code:
        error["code"] = code
    return {"error": error}


def decode_form(body: str) -> dict:
    """Stripe's form encoding to nested dicts: `metadata[line_id]=x` -> {"metadata": {...}}."""
    result: dict = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", name)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return result


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client died mid-body (a worker killed mid-send): like any HTTP server, Stripe
            # never runs a request it did not receive whole, so nothing is done or kept under
            # its key. (Running the partial request once made its key refuse the full one.)
            self.close_connection = True
            return
        body = raw.decode()
        path, _, query = self.path.partition("?")
        if not self.headers.get("Authorization", "").startswith("Bearer sk_"):
            self._answer(401, _error("invalid_request_error", "Invalid API Key provided."))
            return
        params = decode_form(body if method == "POST" else query)
        key = self.headers.get("Idempotency-Key")
        status, document, action = fake.handle(method, path, params, key)
        if action == "drop_after_commit":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "hang":
            fake.closing.wait(fake.hang_seconds)
        elif action == "slow":
            fake.closing.wait(fake.slow_seconds)
        try:
            self._answer(status, document)
        except OSError:
            pass  # the client gave up waiting

    def _answer(self, status: int, document: dict) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_{time.monotonic_ns()}")
        if status >= 500:
            self.send_header("Stripe-Should-Retry", "false")
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripe


@contextmanager
def serve_fake_stripe() -> Iterator[FakeStripe]:
    """Run a fake Stripe on a loopback port for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeStripe(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.fake.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sign_webhook(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with `payload`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
