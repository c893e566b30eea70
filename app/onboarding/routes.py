"""HTTP resource of onboarding: POST /v1/tenants."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from app import idempotency
from app.api_base import Blueprint
from app.auth.permissions import TENANT_ADMIN
from app.auth.principal import current_actor, require
from app.onboarding import service as onboarding_service
from app.onboarding.schemas import OnboardingCreateSchema, OnboardingSchema

onboarding_blp = Blueprint(
    "onboarding",
    __name__,
    url_prefix="/v1/tenants",
    description="Onboard a client firm in one call.",
)


@onboarding_blp.route("")
class TenantOnboarding(MethodView):
    @require(TENANT_ADMIN)
    @onboarding_blp.doc(parameters=[idempotency.OPENAPI_PARAMETER])
    @idempotency.idempotent
    @onboarding_blp.arguments(OnboardingCreateSchema)
    @onboarding_blp.response(201, OnboardingSchema)
    @onboarding_blp.alt_response(
        409,
        description="A tenant with this slug, or a user with the first admin's email, exists; "
        "nothing was created.",
    )
    @onboarding_blp.alt_response(
        503,
        description="The first admin's invitation could not be mailed; nothing was created.",
    )
    def post(self, onboarding_in):
        """Onboard a client firm and everything it runs on, in one call

        One request creates the firm's profile, business calendar, queues, departments, SLA
        policy, rate card and first client admin, in one transaction: either all of it exists
        afterwards or none of it does (a 409 or 422 leaves nothing behind). A 422 names every
        invalid field at once, down to the item, e.g. `errors.json.queues[1].channels`.

        Only the profile is required (`slug`, `name`, `time_zone`, `locale`, `currency`).
        Each part left out gets a default, shown in the response and listed in
        `defaults_applied`; every part can be changed on its own afterwards under
        `/v1/tenants/{tenant_id}/` (`calendar`, `queues`, `departments`, `sla-policies`,
        `rate-card`, `users`):

        - `calendar`: Monday to Friday 09:00-18:00 in the firm's time zone, closed at
          weekends, on the public holidays of the locale's country (`es-ES`: Spain) when the
          `holidays` library knows it, no closure dates. A given calendar's `time_zone`
          defaults to the firm's.
        - `queues`: one queue, `General`, taking every channel, category and language, with
          an answer threshold of 20 seconds. When given, at least one, names unique.
        - `departments`: one of each standard kind (Logistics, Finance, Marketing, Technical,
          Legal). Send `[]` for none.
        - `sla_policy`: `Standard`, the firm's default policy: voice and chat answered within
          20 s for 80 % of contacts; first response on async channels within 30 min (urgent),
          1 h (high), 4 h (normal), 8 h (low); resolution within 4 business hours (urgent),
          1, 3 or 5 business days (high, normal, low).
        - `rate_card`: a placeholder that charges nothing (price 0, no tiers, no minimum, no
          SLA credits) in the firm's currency: price it before billing the firm. A given rate
          card's currency defaults to, and must be, the firm's.
        - `first_admin`: none; then nobody at the firm can sign in until a user is invited.
          Its password is optional and never returned; without one the admin is invited (a
          single-use link valid 24 hours, by mail, or once as `first_admin_accept_url` when
          no mail server is configured). With the mail server down the answer is 503 and
          nothing is created.

        Send an `Idempotency-Key` to retry safely: the same key and body return the first
        answer (`Idempotent-Replayed: true`) and create nothing more.
        """
        onboarded = onboarding_service.onboard(onboarding_in=onboarding_in, actor=current_actor())
        location = url_for("tenants.TenantById", tenant_id=onboarded.tenant.id)
        return onboarded, {"Location": location}
