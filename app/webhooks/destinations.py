"""Where a webhook may be sent (SSRF rules): an endpoint URL normalised and checked, its host's
addresses resolved and judged, and the HTTP session that connects only to judged addresses.

The same rules run when a URL is saved and before each delivery; at delivery the addresses
judged are the ones connected to. A refused destination and a failed connection each get one
fixed message (`REFUSED`, `no_answer`), so the delivery log never tells an open port from a
closed one nor names an address. May import: flask (config), idna, requests, urllib3.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

import idna
import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED = "Refused to send: the endpoint's URL is not an allowed destination."
# Without private networks, receivers listen on the web's usual ports: the worker is no
# scanner of other ports of other people's machines.
ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})

# Names that always mean this machine, its network or a cloud's metadata service, whatever
# DNS says (RFC 6761, 6762, 8375 and common private suffixes).
_LOCAL_SUFFIXES = (
    "localhost",
    "localdomain",
    "local",
    "internal",
    "intranet",
    "lan",
    "home.arpa",
    "invalid",
)
_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# A label a resolver reads as (part of) an IPv4 address: 127, 0177, 0x7f.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
# IPv6 ranges that are never a receiver, whatever Python's tables say: IPv4-compatible
# (deprecated, ::/96, which holds :: and ::1), NAT64 local use, site-local, multicast, discard.
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in ("::/96", "64:ff9b:1::/48", "fec0::/10", "ff00::/8", "100::/64")
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


class UrlProblem(ValueError):
    """What is wrong with an endpoint URL, in words for the client admin."""


def no_answer(timeout: float) -> str:
    """The one message for every attempt that got no HTTP answer."""
    return f"No HTTP answer: could not connect, or no answer within {timeout:g} s."


# --- the URL ---------------------------------------------------------------------------------


def checked(url: str, *, resolve: bool) -> str:
    """Return the URL with its host normalised, or raise UrlProblem. Unless private networks
    are allowed, the host must be a public address, or (with `resolve`) a name whose every
    address is public, on an allowed port."""
    config = current_app.config
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlProblem(f"Not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlProblem("Use an https:// URL.")
    if scheme == "http" and not config["WEBHOOK_ALLOW_INSECURE_URLS"]:
        raise UrlProblem("Use https://; plain http:// endpoints are not accepted.")
    if not parts.hostname:
        raise UrlProblem("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UrlProblem("Leave credentials out of the URL; verify the signature instead.")
    if parts.fragment:
        raise UrlProblem("The URL must not have a #fragment.")
    if port == 0:
        raise UrlProblem("Not a valid URL (port 0).")
    host, address = _host(parts)
    shown = parts.hostname  # as typed: the client admin recognises it
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    normalised = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    if config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"]:
        return normalised
    if port is not None and port not in ALLOWED_PORTS:
        ports = ", ".join(str(p) for p in sorted(ALLOWED_PORTS))
        raise UrlProblem(f"Use the scheme's default port or one of {ports}.")
    if address is not None:
        if not is_public_address(address):
            raise UrlProblem(
                f"{shown} is not a public address (loopback, private, link-local, metadata, "
                "or one embedding such an address)."
            )
        return normalised
    if "." not in host or any(host == s or host.endswith("." + s) for s in _LOCAL_SUFFIXES):
        # A single label is found through the resolver's search domains: an internal name.
        raise UrlProblem(f"{shown} names a local or internal host; use a public address.")
    if resolve and not public_addresses(host, port or (443 if scheme == "https" else 80)):
        # One answer whether the name is unknown or points inside: no map of internal DNS.
        raise UrlProblem(f"{shown} does not resolve to public internet addresses only.")
    return normalised


def _host(parts) -> tuple[str, IPAddress | None]:
    """The URL's host, normalised (ASCII, lower case, no trailing dot), and its address when
    it is a literal in any form a resolver accepts."""
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    raw = parts.hostname
    if bracketed:
        if "%" in raw:
            raise UrlProblem("IPv6 zone ids are not accepted.")
        try:
            address = ipaddress.IPv6Address(raw)
        except ValueError:
            raise UrlProblem("Not a valid URL (bad IPv6 address).") from None
        return str(address), address
    try:
        host = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise UrlProblem("The host is not a valid domain name.") from None
    if "%" in host:
        raise UrlProblem("The host is percent-encoded more than once.")
    if not host.isascii():
        # UTS 46, as browsers do: full-width letters, digits and dots (U+FF0E, U+3002, U+FF61)
        # become their ASCII forms, other scripts become punycode.
        try:
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise UrlProblem("The host is not a valid domain name.") from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_NAME.match(label) for label in labels):
        raise UrlProblem("The host is not a valid domain name or address.")
    if _NUMERIC_LABEL.match(labels[-1]):
        # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: what resolvers read as IPv4 addresses.
        address = _ipv4(labels)
        if address is None:
            raise UrlProblem("The host is not a valid IPv4 address.")
        return str(address), address
    return host, None


def _ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    if len(labels) > 4 or not all(_NUMERIC_LABEL.match(label) for label in labels):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(".".join(labels)))
    except OSError:
        return None


# --- addresses -------------------------------------------------------------------------------


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local,
    shared, reserved or multicast, nor an IPv6 address embedding such an IPv4 address
    (IPv4-mapped or -translated, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global and not address.is_multicast
    if address.scope_id or any(address in network for network in _REFUSED_V6):
        return False
    embedded = _embedded_ipv4(address)
    if embedded:
        return all(is_public_address(inner) for inner in embedded)
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for a host, in its order, without duplicates."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and len(sockaddr) > 3 and sockaddr[3]:
            address = ipaddress.IPv6Address(f"{address}%{sockaddr[3]}")
        if address not in found:
            found.append(address)
    return found


def public_addresses(host: str, port: int) -> list[IPAddress]:
    """The host's addresses if it resolves and every one is public; else none."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        return []
    if not addresses or not all(is_public_address(a) for a in addresses):
        return []
    return addresses


# --- HTTP that connects only to judged addresses ---------------------------------------------


class DestinationRefused(OSError):
    """The endpoint's host is not (or no longer) on the public internet."""


def refused(exc: BaseException) -> bool:
    """Whether a requests error was the guard refusing the destination."""
    cause: BaseException | None = exc
    for _ in range(10):
        if cause is None:
            return False
        if isinstance(cause, DestinationRefused):
            return True
        cause = cause.__context__ or cause.__cause__ or _reason(cause)
    return False


def _reason(exc: BaseException) -> BaseException | None:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    args = getattr(exc, "args", ())
    return next((a for a in args if isinstance(a, BaseException)), None)


def _connect_public(conn: HTTPConnection, connect):
    # Resolve once, judge every address, then connect to a judged address itself: a name
    # that resolved to a public address when saved and to a private one now (DNS rebinding)
    # is refused before any packet goes out. TLS still checks the certificate for the name.
    name = conn._dns_host
    addresses = public_addresses(name.rstrip("."), conn.port)
    if not addresses:
        raise DestinationRefused(REFUSED)
    failure: Exception | None = None
    for address in addresses:
        conn._dns_host = str(address)
        try:
            sock = connect()
        except NewConnectionError as exc:  # refused or unreachable: try the next address
            failure = exc
            continue
        finally:
            conn._dns_host = name
        peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
        if not is_public_address(peer):
            sock.close()
            raise DestinationRefused(REFUSED)
        return sock
    raise failure


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        return _connect_public(self, super()._new_conn)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        return _connect_public(self, super()._new_conn)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def http_session(*, allow_private: bool) -> requests.Session:
    """A session for deliveries: no proxies or .netrc, and (unless private networks are
    allowed) connections only to public addresses."""
    http = requests.Session()
    # No proxies from the environment: the address judged must be the receiver itself.
    http.trust_env = False
    if not allow_private:
        adapter = _GuardedAdapter(max_retries=0)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
    return http
