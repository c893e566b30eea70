"""webhook secrets the standard way with a rotation window

Issue 17 ("Every lifecycle event as a webhook, signed the standard way"): deliveries are signed
as the Standard Webhooks specification says (app/webhooks/signing.py), whose libraries take a
secret as `whsec_` + standard base64 and use the decoded bytes as the HMAC key. Until now a
secret was `whsec_` + `secrets.token_urlsafe(32)` (URL-safe base64 of 32 bytes, no padding)
and `Switchboard-Signature` was keyed with the whole string's UTF-8: such a secret fails in
those libraries (they drop `-` and `_`, then the padding is wrong or the bytes differ).

Rotating a secret now keeps the replaced one signing beside the new one for a window: each
endpoint gets `previous_secret` and `previous_secret_expires_at`.

Existing secrets cannot simply be re-issued: the firms' receivers hold them, and a new secret
would be one nobody has seen (a secret is shown once). So each is re-spelled: the same 32 bytes,
now in standard base64 (`whsec_` + base64.b64encode(base64.urlsafe_b64decode(old[6:] + "="))),
which a firm can compute from the secret it holds, with no rotation; and the old string is kept
as the previous secret for 30 days, during which deliveries still carry `Switchboard-Signature`
signed with it, so receivers written for that header keep working until they move to
`webhook-signature` (or rotate the secret to get a fresh one). A secret that does not decode so
(hand-made, never issued by the product) is replaced by a fresh one, the old kept the same way.

Downgrade puts each old secret kept as previous back as the secret, then drops the columns.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 09:00:00
"""

import base64
import binascii
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "whsec_"
# Time for the firms to move their receivers to the standard headers.
TRANSITION = timedelta(days=30)

endpoints = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.Uuid()),
    sa.column("secret", sa.String()),
    sa.column("previous_secret", sa.String()),
    sa.column("previous_secret_expires_at", sa.DateTime(timezone=True)),
)


def standard_spelling(secret: str) -> str:
    """The same key in standard base64, or a fresh key when the secret spells none."""
    part = secret.removeprefix(PREFIX)
    try:
        key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 24:  # not one the product issued: too short to keep
        key = secrets.token_bytes(32)
    return PREFIX + base64.b64encode(key).decode()


def _unscoped(bind) -> None:
    if bind.dialect.name == "postgresql":
        # Every firm's endpoints, under forced row-level security.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    bind = op.get_bind()
    _unscoped(bind)
    until = datetime.now(UTC) + TRANSITION
    for id_, secret in bind.execute(sa.select(endpoints.c.id, endpoints.c.secret)).all():
        bind.execute(
            endpoints.update()
            .where(endpoints.c.id == id_)
            .values(
                secret=standard_spelling(secret),
                previous_secret=secret,
                previous_secret_expires_at=until,
            )
        )


def downgrade() -> None:
    bind = op.get_bind()
    _unscoped(bind)
    old = sa.and_(
        endpoints.c.previous_secret.is_not(None),
        endpoints.c.previous_secret.not_like("%=%"),  # not standard: padded base64 has `=`
    )
    bind.execute(endpoints.update().where(old).values(secret=endpoints.c.previous_secret))
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret")
