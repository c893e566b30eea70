"""Signing a person into the web app with Flask's test client, the way a browser does: the
redirect to the sign-in page, the form with its CSRF token, the code back to the callback."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask.testing import FlaskClient

from tests.factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebClient(FlaskClient):
    """Flask's test client, on the issuer's host (where sign-in sends the browser back)."""

    base_url = "http://localhost"

    def open(self, *args, **kwargs):
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", self.base_url)
        return super().open(*args, **kwargs)

    def cookie(self, name: str):
        return self.get_cookie(name, domain=urlsplit(self.base_url).hostname)

    def put_cookie(self, name: str, value: str) -> None:
        self.set_cookie(name, value, domain=urlsplit(self.base_url).hostname)


def web_client(app) -> WebClient:
    """A test client that talks to the app under the issuer's host, as the browser would."""
    client = WebClient(app, app.response_class, use_cookies=True)
    client.base_url = app.config["OAUTH_ISSUER"].rstrip("/")
    return client


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(app, email: str, password: str = PASSWORD, next_path: str = "/"):
    """A client signed in as `email`; asserts each step of the flow on the way."""
    client = web_client(app)
    started = client.get(f"/signin?next={next_path}")
    assert started.status_code == 302, started.status_code
    page = client.get(_local(started.headers["Location"]))
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    csrf = _CSRF.search(page.get_data(as_text=True)).group(1)
    posted = client.post(
        _local(started.headers["Location"]),
        data={"email": email, "password": password, "csrf_token": csrf},
    )
    assert posted.status_code == 302, posted.get_data(as_text=True)[:500]
    back = client.get(_local(posted.headers["Location"]))
    assert back.status_code == 302, back.get_data(as_text=True)[:500]
    return client


def csrf_of(response) -> str:
    """The CSRF token a page's forms carry."""
    return _CSRF.search(response.get_data(as_text=True)).group(1)
