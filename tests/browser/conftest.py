"""The browser tests' harness: Debian's Chromium driven by Playwright (sync API) against the app
served over real HTTP on PostgreSQL (tests/conftest.py's `live_server`).

Every test that takes `page` is watched: a request to any host but the live server's is aborted
and recorded, and so are console errors (CSP violations among them), uncaught page errors,
assets that fail to load and server errors. After the test body, anything recorded fails it.

Chromium missing: the tests skip, except in CI (`CI=true`), where they fail: CI always runs them.
Playwright's own browser download does not work here; Debian's `chromium` is the browser.
"""

from __future__ import annotations

import gc
import os
import shutil
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

# The flags this machine needs: no sandbox (containers), no GPU, and nothing Chromium would
# fetch from elsewhere on its own (QUIC probes, component updates, sync, field trials).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Loading an asset that fails is a broken page; an htmx/fetch answer of 4xx is the app talking
# (a form's errors), so only these kinds are held to loading.
_ASSET_TYPES = frozenset({"script", "stylesheet", "image", "font", "media"})
# Chromium logs every 4xx/5xx load as a console error; a page the test opens on purpose may be
# a 403 or 404 (and loads are judged by `_on_response` instead).
_LOAD_FAILED = "Failed to load resource"


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the run (each test gets its own context: fresh cookies)."""
    executable = chromium_path()
    if executable is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the browser tests", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Watch:
    """What went wrong in the browser during one test."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [f"requested another host: {url}" for url in self.foreign] + self.errors


@pytest.fixture
def watch(live_server) -> Watch:
    return Watch(origin=_origin(live_server))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def context(browser, live_server, watch):
    """A fresh browser profile's context on the live server, every request routed through the
    host guard."""
    context = browser.new_context(
        base_url=live_server,
        accept_downloads=True,
        locale="en-GB",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(10_000)

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or _origin(url) == watch.origin:
            route.continue_()
        else:
            watch.foreign.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    yield context
    context.close()
    gc.collect()  # what the server left open is collected here, under this test's filter


@pytest.fixture
def page(context, watch):
    """A page whose console errors, page errors and failed loads are recorded in `watch`."""
    page = context.new_page()

    def on_console(message):
        if message.type == "error" and not message.text.startswith(_LOAD_FAILED):
            watch.errors.append(f"console error: {message.text} ({message.location.get('url')})")

    def on_response(response):
        kind = response.request.resource_type
        if _refused_stream(response):
            return
        if response.status >= 500 or (response.status >= 400 and kind in _ASSET_TYPES):
            watch.errors.append(f"{kind} {response.url} answered {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(f"page error: {error}"))
    page.on("response", on_response)
    page.on("requestfailed", lambda request: _failed(watch, request))
    return page


def _refused_stream(response) -> bool:
    """A live stream refused over the server's cap (503 with Retry-After) is the app talking:
    the page polls instead (app/web/static/live.js)."""
    return (
        response.request.resource_type == "eventsource"
        and response.status == 503
        and "retry-after" in response.headers
    )


def _failed(watch: Watch, request) -> None:
    # The guard's own aborts are recorded already; a download ends its navigation on purpose.
    if _origin(request.url) == watch.origin and request.failure not in ("net::ERR_ABORTED",):
        watch.errors.append(f"{request.resource_type} {request.url} failed: {request.failure}")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in item.nodeid:
            # The browser abandons an asset's download when it leaves a page (a click before
            # everything loaded); Werkzeug's development server behind `live_server` then never
            # closes that response's file, and its garbage collection warns. Not the app's.
            item.add_marker(pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a browser test whose pages requested another host or logged an error."""
    result = yield
    watched = item.funcargs.get("watch")
    if watched is not None and watched.problems():
        shown = "\n".join(dict.fromkeys(watched.problems()))
        pytest.fail(f"the browser saw problems:\n{shown}", pytrace=False)
    return result
