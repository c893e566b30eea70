"""Web sign-in, from the first redirect to sign-out: the authorization code flow with PKCE run by
the app for the browser, and the server-side session that keeps the resulting tokens.

The browser gets an opaque key in an HttpOnly cookie and nothing else. Each request turns the key
into the person's principal through the same access-token checks as the API (revocation, token
family, deactivation), refreshing the access token when it is about to expire.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app, session
from sqlalchemy import delete, select

from app.auth.first_party import WEB_CLIENT_ID, web_redirect_uri
from app.auth.models import digest
from app.auth.principal import (
    AuthError,
    Principal,
    check_access_token,
    decode_access_token,
    load_principal,
)
from app.db import db, utcnow
from app.web import tokens
from app.web.models import WebSession

COOKIE = "switchboard_session"
# Seconds before its expiry at which an access token is refreshed rather than used.
REFRESH_MARGIN = timedelta(seconds=60)
_PENDING = "web_signin"  # the Flask (signed cookie) session key of a sign-in under way


class SignInFailed(Exception):
    """The callback does not belong to a sign-in this browser started, or the code is bad."""


def begin(*, next_path: str) -> str:
    """Start a sign-in: remember state, PKCE verifier and where to return; the authorize URL."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    session[_PENDING] = {"state": state, "verifier": verifier, "next": next_path}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": WEB_CLIENT_ID,
            "redirect_uri": web_redirect_uri(),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"/oauth/authorize?{query}"


def finish(*, code: str, state: str) -> tuple[str, str]:
    """Redeem the callback's code; a new web session. Returns its cookie key and next path."""
    pending = session.pop(_PENDING, None)
    if not isinstance(pending, dict) or not secrets.compare_digest(
        str(pending.get("state", "")), state
    ):
        raise SignInFailed("This sign-in was not started here, or it was already completed.")
    try:
        issued = tokens.redeem_code(code=code, code_verifier=pending["verifier"])
    except tokens.TokenRefused as exc:
        raise SignInFailed(str(exc)) from exc
    claims = decode_access_token(issued.access_token)
    key = secrets.token_urlsafe(32)
    db.session.add(
        WebSession(
            key_hash=digest(key),
            user_id=uuid.UUID(claims["sub"]),
            family_id=_family(claims),
            access_token=issued.access_token,
            access_expires_at=issued.expires_at,
            refresh_token=issued.refresh_token,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=utcnow() + _idle(),
        )
    )
    db.session.flush()
    return key, str(pending.get("next") or "/")


def find(*, key: str | None) -> WebSession | None:
    """The live web session a cookie key names, if any."""
    if not key or len(key) > 128:
        return None
    found = db.session.scalar(select(WebSession).where(WebSession.key_hash == digest(key)))
    if found is None or found.expires_at <= utcnow():
        return None
    return found


def principal(*, web_session: WebSession) -> Principal | None:
    """The signed-in person as a caller, refreshing the access token when due; None when the
    sign-in has ended (signed out elsewhere, revoked, person deactivated)."""
    now = utcnow()
    if web_session.access_expires_at - REFRESH_MARGIN <= now and not _refresh(web_session):
        return None
    try:
        claims = decode_access_token(web_session.access_token)
        client, user = check_access_token(claims)
    except AuthError:
        return None
    # Working keeps a session alive; written at most once a minute, not on every page.
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
        web_session.expires_at = now + _idle()
    scopes = frozenset(str(claims.get("scope") or "").split())
    return load_principal(client, user, scopes)


def end(*, web_session: WebSession) -> None:
    """Sign out: revoke the sign-in's tokens at the authorization server, drop the session."""
    if web_session.refresh_token:
        # Its whole token family goes with it, the access tokens of the sign-in included.
        tokens.revoke(token=web_session.refresh_token, hint="refresh_token")
    else:
        tokens.revoke(token=web_session.access_token, hint="access_token")
    db.session.execute(delete(WebSession).where(WebSession.id == web_session.id))


def purge_expired() -> int:
    """Delete sessions past their idle expiry (the worker's housekeeping)."""
    result = db.session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return result.rowcount or 0


def _refresh(web_session: WebSession) -> bool:
    # Two requests of one page (htmx) may both find the token due: the row lock makes the second
    # wait and then see the first one's new token, instead of replaying a spent refresh token,
    # which the server would answer by revoking the whole sign-in.
    locked = db.session.scalar(
        select(WebSession)
        .where(WebSession.id == web_session.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        return False
    if locked.access_expires_at - REFRESH_MARGIN > utcnow():
        return True
    if not locked.refresh_token:
        return False
    try:
        issued = tokens.refresh(refresh_token=locked.refresh_token)
    except tokens.TokenRefused:
        db.session.delete(locked)
        return False
    locked.access_token = issued.access_token
    locked.access_expires_at = issued.expires_at
    locked.refresh_token = issued.refresh_token or locked.refresh_token
    return True


def _family(claims: dict) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(claims["sid"])) if "sid" in claims else None
    except ValueError:
        return None


def _idle() -> timedelta:
    return timedelta(seconds=int(current_app.config["WEB_SESSION_IDLE_SECONDS"]))
