"""A signed-in browser: the server-side half of a web session, holding its OAuth tokens.

The browser holds only an opaque random key in an HttpOnly cookie; the row stores its SHA-256
digest, so a leaked table does not hand out live cookies. The tokens were issued to the web app
(a confidential client, app/auth/first_party.py) and never leave the server. Not tenant-owned:
keyed by person, read only to authenticate a request, like the authorization server's tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, utcnow


class WebSession(UUIDPrimaryKey, Base):
    __tablename__ = "web_sessions"

    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The sign-in's token family: revoking it (sign-out, replay) ends this session too.
    family_id: Mapped[uuid.UUID | None]
    access_token: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime]
    refresh_token: Mapped[str | None] = mapped_column(Text)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Idle expiry, pushed forward as the person works; the refresh token bounds it absolutely.
    expires_at: Mapped[datetime] = mapped_column(index=True)
